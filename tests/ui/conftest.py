"""Browser tests of the web UI: a real ``trackkit ui`` process over a store filled by real runs,
driven in Debian's headless Chromium through Playwright for Python.

Without /usr/bin/chromium (or Playwright) the tests skip with the reason, except under ``CI=true``,
where they fail. A failing test leaves a screenshot in ``$UI_ARTIFACTS`` (default ``build/ui-artifacts``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, UiServer, fill_store


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run; install Debian's chromium package)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("ui-store")
    return root, fill_store(root)


@pytest.fixture(scope="session")
def server(store: tuple[Path, dict[str, Any]]) -> Iterator[UiServer]:
    ui = UiServer(store[0])
    yield ui
    ui.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        _unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed: pip install playwright")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Any, server: UiServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page (its own context: no shared storage). Dialogs (an injected alert) are recorded
    in ``page.dialogs``, page errors in ``page.errors``; a failing test leaves a screenshot."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.dialogs, pg.errors = [], []
    pg.on("dialog", lambda dialog: (pg.dialogs.append(dialog.message), dialog.dismiss()))
    pg.on("pageerror", lambda error: pg.errors.append(str(error)))
    pg.base = server.url
    yield pg
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


