"""``trackkit ui --store http://...`` over a real ``trackkit server`` with auth on: the UI process reads
and edits through the server with the token in ``TRACKKIT_API_KEY``; a read-only token lists runs and
cannot edit tags (the server's 403 reaches the page); a missing token is said plainly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from ui_support import UiServer, _free_port, open_view


def _make_token(store: Path, name: str, *read_only: str) -> str:
    out = subprocess.run([sys.executable, "-m", "trackkit", "server", "token", "create", name, "--store", str(store), *read_only],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return out.split("Copy it now, it is not shown again:\n", 1)[1].splitlines()[0].strip()


class _TrackingServer:
    """``trackkit server --store <dir>`` on a free port (auth on: the store has tokens)."""

    def __init__(self, store: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(store.parent / f"server-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "TRACKKIT_SILENT": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "trackkit", "server", "--store", str(store), "--port",
                                         str(self.port), "--files-dir", str(store.parent / "files")],
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=store.parent)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"trackkit server did not start: {(store.parent / f'server-{self.port}.log').read_text()}")
            time.sleep(0.2)

    def get(self, path: str, token: str) -> Any:
        answer = requests.get(self.url + "/api/v1" + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server over a store with two runs logged through it, a write and a read-only token."""
    import trackkit

    root = tmp_path_factory.mktemp("ui-remote")
    store = root / "server-store"
    store.mkdir()
    writer = _make_token(store, "ci-writer")
    reader = _make_token(store, "dashboard", "--read-only")
    server = _TrackingServer(store)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("TRACKKIT_API_KEY", writer)
            env.setenv("TRACKKIT_SILENT", "1")
            ids = {}
            for lr in (0.1, 0.01):
                run = trackkit.init(project="remote", store=server.url, dir=str(root / "spool"), name=f"lr-{lr}",
                                    config={"lr": lr}, tags=["sweep"])
                for step in range(20):
                    run.log({"loss": 1.0 / (1 + step * lr)})
                run.finish()
                ids[run.name] = run.id
        yield {"server": server, "writer": writer, "reader": reader, "ids": ids}
    finally:
        server.stop()


def _ui(url: str, token: str | None) -> UiServer:
    with pytest.MonkeyPatch.context() as env:
        if token is None:
            env.delenv("TRACKKIT_API_KEY", raising=False)
        else:
            env.setenv("TRACKKIT_API_KEY", token)
        return UiServer(url)  # type: ignore[arg-type] # --store takes a URL as well as a folder


@pytest.fixture(scope="module")
def read_ui(remote: dict[str, Any]) -> Iterator[UiServer]:
    ui = _ui(remote["server"].url, remote["reader"])
    yield ui
    ui.stop()


@pytest.fixture(scope="module")
def write_ui(remote: dict[str, Any]) -> Iterator[UiServer]:
    ui = _ui(remote["server"].url, remote["writer"])
    yield ui
    ui.stop()


def test_a_read_only_token_lists_the_servers_runs_and_cannot_edit_tags(read_ui: UiServer, remote: dict[str, Any]) -> None:
    """Through ``trackkit ui --store http://...`` with a read-only token: the runs are listed, and an
    edit of tags is refused with the server's 403 and its message; the run's tags stay as they were."""
    status, _, page = read_ui.request("GET", "/api/v1/projects/remote/runs")
    assert status == 200
    assert sorted(run["name"] for run in page["runs"]) == ["lr-0.01", "lr-0.1"]
    run_id = remote["ids"]["lr-0.1"]
    status, _, answer = read_ui.request("PATCH", f"/api/v1/projects/remote/runs/{run_id}", {"tags": ["hacked"]})
    assert status == 403
    assert "read-only" in answer["error"]["message"]
    assert remote["server"].get(f"/projects/remote/runs/{run_id}", remote["reader"])["meta"]["tags"] == ["sweep"]


def test_a_write_token_edits_tags_on_the_server(write_ui: UiServer, remote: dict[str, Any]) -> None:
    """With a write token, an edit made in the UI process lands on the server."""
    run_id = remote["ids"]["lr-0.01"]
    status, _, _ = write_ui.request("PATCH", f"/api/v1/projects/remote/runs/{run_id}", {"tags": ["sweep", "best"]})
    assert status == 200
    assert remote["server"].get(f"/projects/remote/runs/{run_id}", remote["reader"])["meta"]["tags"] == ["sweep", "best"]


def test_without_a_token_the_ui_says_to_set_one(remote: dict[str, Any]) -> None:
    """No ``TRACKKIT_API_KEY``: the API of the UI process says which variable to set, instead of a 500."""
    ui = _ui(remote["server"].url, None)
    try:
        status, _, answer = ui.request("GET", "/api/v1/projects/remote/runs")
    finally:
        ui.stop()
    assert status == 502
    assert "TRACKKIT_API_KEY" in answer["error"]["message"]


def test_the_page_lists_the_runs_and_says_a_read_only_token_cannot_edit(browser: Any, read_ui: UiServer,
                                                                         remote: dict[str, Any]) -> None:
    """In the browser, over the read-only UI process: the runs table shows the server's runs; editing
    tags shows the server's refusal and changes nothing."""
    run_id = remote["ids"]["lr-0.1"]
    context = browser.new_context()
    page = context.new_page()
    page.base = read_ui.url
    try:
        open_view(page, "#/projects/remote")
        page.wait_for_selector("#runs-table")
        table = page.inner_text("#runs-table")
        assert "lr-0.1" in table and "lr-0.01" in table
        open_view(page, f"#/projects/remote/runs/{run_id}")
        page.fill("#tags", "sweep, hacked")
        page.click("form.edit button[type=submit]")
        page.wait_for_selector(".edit-status.error")
        assert "read-only" in page.inner_text(".edit-status")
        assert remote["server"].get(f"/projects/remote/runs/{run_id}", remote["reader"])["meta"]["tags"] == ["sweep"]
    finally:
        context.close()


def test_the_servers_own_ui_asks_for_the_token_and_keeps_it_out_of_urls(browser: Any, remote: dict[str, Any]) -> None:
    """``trackkit server`` serves the UI at ``/``: with auth on it asks for a token, then lists the runs;
    the token is never in the page's URL nor in any URL the page requested."""
    context = browser.new_context()
    page = context.new_page()
    page.base = remote["server"].url + "/"
    try:
        open_view(page, "#/projects/remote")
        page.wait_for_selector("#token-form")
        page.fill("#token", remote["reader"])
        page.press("#token", "Enter")
        page.wait_for_selector("#runs-table")
        assert "lr-0.1" in page.inner_text("#runs-table")
        secret = remote["reader"]
        assert secret not in page.url
        assert all(secret not in name for name in page.evaluate("performance.getEntries().map(e => e.name)"))
    finally:
        context.close()
