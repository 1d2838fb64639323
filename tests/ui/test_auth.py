"""The app with auth on (tokens through the ``auth`` hook): the UI asks for a token, keeps it out of
URLs, and a read-only token can look but not edit tags."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import UiServer, open_view

SERVE = """
import sys, uvicorn, trackkit
from trackkit.server.app import create_app
app = create_app(trackkit.LocalStore(sys.argv[1]), tokens={"read-secret": True, "write-secret": False})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


@pytest.fixture(scope="module")
def secured(store: Any) -> Iterator[UiServer]:
    server = UiServer(Path(store[0]), script=SERVE)
    yield server
    server.stop()


def test_the_api_needs_a_token_and_a_read_token_cannot_write(secured: UiServer, store: Any) -> None:
    """No token: 401. Read token: reads, and 403 on an edit. Write token: edits."""
    run_id = store[1]["lr-0.003"]["id"]
    path = f"/api/v1/projects/demo/runs/{run_id}"
    assert secured.request("GET", "/api/v1/projects")[0] == 401
    assert secured.request("GET", "/api/v1/projects", token="wrong")[0] == 401
    assert secured.request("GET", "/api/v1/projects", token="read-secret")[0] == 200
    status, _, answer = secured.request("PATCH", path, {"tags": ["x"]}, token="read-secret")
    assert (status, answer["error"]["code"]) == (403, "forbidden")
    assert secured.request("GET", path, token="read-secret")[2]["meta"]["tags"] == ["sweep"]
    assert secured.request("PATCH", path, {"tags": ["sweep", "ok"]}, token="write-secret")[0] == 200
    assert secured.request("PATCH", path, {"tags": ["sweep"]}, token="write-secret")[0] == 200
    assert secured.request("GET", "/healthz")[0] == 200  # probes stay open


def test_the_ui_asks_for_a_token_and_a_read_only_one_cannot_edit_tags(browser: Any, secured: UiServer, store: Any) -> None:
    """The page asks for a token, keeps it out of the URL, shows the runs, and an edit with a
    read-only token is refused with the server's message and changes nothing."""
    run_id = store[1]["lr-0.003"]["id"]
    context = browser.new_context()
    page = context.new_page()
    page.base = secured.url
    try:
        open_view(page, "#/projects/demo")
        page.wait_for_selector("#token-form")
        page.fill("#token", "read-secret")
        page.press("#token", "Enter")
        page.wait_for_selector("#runs-table")
        assert "secret" not in page.url
        open_view(page, f"#/projects/demo/runs/{run_id}")
        page.fill("#tags", "sweep, hacked")
        page.click("form.edit button[type=submit]")
        page.wait_for_selector(".edit-status.error")
        assert "read-only" in page.inner_text(".edit-status")
        assert secured.request("GET", f"/api/v1/projects/demo/runs/{run_id}", token="read-secret")[2]["meta"]["tags"] == ["sweep"]
        assert all("secret" not in request for request in page.evaluate("performance.getEntries().map(e => e.name)"))
    finally:
        context.close()
