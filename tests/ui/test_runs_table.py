"""The runs table of a project with many config and summary keys: sensible default columns, a picker
for the rest, a name column that stays in view, and one request before the table paints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ui_support import UiServer, open_view

CONFIG_KEYS = 30
SUMMARY_KEYS = 6
RUNS = 12


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """A project whose runs differ in 30 config keys and 6 summary keys and share one (``same``)."""
    import trackkit

    root = tmp_path_factory.mktemp("wide-store")
    for index in range(RUNS):
        config = {f"k{key:02d}": index * (key + 1) for key in range(CONFIG_KEYS)}
        run = trackkit.init(project="wide", dir=root, name=f"a-run-with-a-rather-long-name-{index:02d}",
                            config={**config, "same": 1})
        run.log({f"m{key}": index + key / 10 for key in range(SUMMARY_KEYS)})
        run.finish()
    server = UiServer(root)
    yield server
    server.stop()


@pytest.fixture
def wide_page(page: Any, wide: UiServer) -> Any:
    page.base = wide.url
    return page


def _columns(pg: Any) -> list[str]:
    return pg.eval_on_selector_all("#runs-table tbody tr:first-child td[data-column]", "tds => tds.map(td => td.dataset.column)")


def test_default_columns_are_capped_and_the_rest_are_pickable(wide_page: Any) -> None:
    """Of 36 differing keys the table shows 10 (config first, then four summary keys), never the key
    every run shares; the picker lists every key, and ticking or unticking one changes the columns and
    the URL; "defaults" brings the default columns back."""
    pg = wide_page
    open_view(pg, "#/projects/wide?sel=-")
    columns = _columns(pg)
    assert len(columns) == 10
    assert [c for c in columns if c.startswith("summary.")] == [f"summary.m{key}" for key in range(4)]
    assert "config.same" not in columns
    pg.click("#column-picker summary")
    listed = pg.eval_on_selector_all("#column-picker label[data-column]", "ls => ls.map(l => l.dataset.column)")
    assert len(listed) == CONFIG_KEYS + SUMMARY_KEYS + 1 and "config.same" in listed
    pg.check("#column-picker label[data-column='config.same'] input")
    pg.wait_for_function("() => document.querySelector(\"#runs-table td[data-column='config.same']\")")
    assert "config.same" in _columns(pg) and "cols=" in pg.url
    pg.uncheck(f"#column-picker label[data-column='{columns[0]}'] input")
    pg.wait_for_function(f"() => !document.querySelector(\"#runs-table td[data-column='{columns[0]}']\")")
    assert len(_columns(pg)) == 10
    pg.fill("#column-picker .column-search", "m5")  # finding a key narrows the list
    visible = pg.eval_on_selector_all("#column-picker label[data-column]",
                                      "ls => ls.filter(l => !l.hidden).map(l => l.dataset.column)")
    assert visible == ["summary.m5"]
    pg.click("#column-picker button:has-text('defaults')")
    pg.wait_for_function("() => !location.hash.includes('cols=')")
    pg.wait_for_function(f"() => document.querySelector(\"#runs-table td[data-column='{columns[0]}']\")")
    assert _columns(pg) == columns


def test_sorting_keeps_the_default_columns(wide_page: Any) -> None:
    """Sorting by a column reorders the rows but does not change which columns are shown."""
    pg = wide_page
    open_view(pg, "#/projects/wide?sel=-")
    columns = _columns(pg)
    pg.click("button.sort[data-field='config.k01']")
    pg.click("button.sort[data-field='config.k01']")
    pg.wait_for_function("() => document.querySelector(\"button.sort[data-field='config.k01']\").textContent.includes('▼')")
    assert _columns(pg) == columns
    first = pg.inner_text("#runs-table tbody tr:first-child td.name")
    assert first == f"a-run-with-a-rather-long-name-{RUNS - 1:02d}"


def test_the_name_column_stays_in_view_when_the_table_scrolls_sideways(wide_page: Any) -> None:
    """With more columns than fit, the table scrolls inside its box and the tick, state and name
    columns stay at the left edge; the header row stays on top when the rows scroll."""
    pg = wide_page
    pg.set_viewport_size({"width": 900, "height": 500})
    open_view(pg, "#/projects/wide?sel=-")
    box = pg.locator(".table-box")
    assert box.evaluate("el => el.scrollWidth > el.clientWidth")
    name = pg.locator("#runs-table tbody tr:first-child td.name")
    before = name.bounding_box()
    last_column = pg.locator("#runs-table tbody tr:first-child td[data-column]").last
    box.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    after = name.bounding_box()
    assert after["x"] == pytest.approx(before["x"], abs=1)
    shown = last_column.bounding_box()
    assert shown["x"] + shown["width"] <= box.bounding_box()["x"] + box.bounding_box()["width"] + 1
    header = pg.locator("#runs-table thead th.fixed-name")
    top = header.bounding_box()["y"]
    box.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    assert header.bounding_box()["y"] == pytest.approx(top, abs=1)


def test_the_table_paints_after_one_request_to_the_api(wide_page: Any) -> None:
    """Opening a project's runs asks the API once (the page of runs) before the rows show."""
    pg = wide_page
    asked: list[str] = []
    pg.on("request", lambda request: asked.append(request.url) if "/api/v1/" in request.url else None)
    pg.goto(pg.base + "#/projects/wide?sel=-")
    pg.wait_for_function("() => document.querySelectorAll('#runs-table tbody tr').length === 12")
    assert len(asked) == 1 and "/api/v1/projects/wide/runs?" in asked[0]
    assert pg.errors == []
