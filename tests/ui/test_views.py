"""The UI's views in headless Chromium over a real ``trackkit ui`` process: what a user sees and clicks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ui_support import LRS, SPIKE, STEPS, XSS_NAME, open_view, screenshot, wait_charts


def table_rows(pg: Any) -> list[dict[str, str]]:
    """The runs table as a list of {column header: cell text}."""
    return pg.evaluate("""() => {
        const table = document.querySelector('#runs-table');
        const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent.replace(/[▲▼]/g, '').trim());
        return [...table.querySelectorAll('tbody tr')].map((tr) =>
            Object.fromEntries([...tr.children].map((td, i) => [heads[i], td.textContent])));
    }""")


def test_projects_list_shows_the_project_with_its_run_count(page: Any) -> None:
    """The start page lists each project with how many runs it holds, linking to its runs."""
    open_view(page, "#/")
    row = page.locator("#projects-table tbody tr").first
    assert row.locator("td").nth(0).inner_text() == "demo"
    assert row.locator("td").nth(1).inner_text() == str(len(LRS) + 2)
    row.locator("a").click()
    page.wait_for_selector("#runs-table")
    assert page.url.endswith("#/projects/demo")


def test_runs_table_shows_each_run_with_its_values_and_the_differing_keys(page: Any, store: Any) -> None:
    """One row per run with state and config values; the default columns are the keys that differ
    (config.lr), not the ones every run shares (config.batch); a NaN summary shows as NaN."""
    open_view(page, "#/projects/demo")
    rows = table_rows(page)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {f"lr-{lr}" for lr in LRS} | {XSS_NAME, "diverged"}
    for lr in LRS:
        assert by_name[f"lr-{lr}"]["config.lr"] == str(lr)
        assert by_name[f"lr-{lr}"]["state"] == "finished"
        assert by_name[f"lr-{lr}"]["tags"] == "sweep"
    assert "config.batch" not in rows[0]
    assert by_name["diverged"]["summary.loss"] == "NaN"
    screenshot(page, "runs-table")


def test_sorting_by_a_column_reorders_the_rows_and_lands_in_the_url(page: Any) -> None:
    """Clicking a column header sorts by it ascending, clicking again descending; the URL keeps it."""
    open_view(page, "#/projects/demo")
    page.click("button.sort[data-field='config.lr']")
    page.wait_for_function("() => document.querySelector('#runs-table tbody tr td:nth-child(3)').textContent === 'lr-0.003'")
    assert [r["config.lr"] for r in table_rows(page)] == ["0.003", "0.01", "0.03", "0.1", "0.5", "3"]
    assert "order=config.lr" in page.url
    page.click("button.sort[data-field='config.lr']")
    page.wait_for_function("() => document.querySelector('#runs-table tbody tr td:nth-child(3)').textContent === 'diverged'")
    assert [r["config.lr"] for r in table_rows(page)] == ["3", "0.5", "0.1", "0.03", "0.01", "0.003"]
    assert "order=-config.lr" in page.url
    page.reload()  # the URL alone brings the same view back
    page.wait_for_selector("body[data-ready='1']")
    assert [r["config.lr"] for r in table_rows(page)][0] == "3"


def test_a_filter_in_the_cli_language_narrows_the_rows(page: Any) -> None:
    """The filter box takes `trackkit runs --filter` syntax; a bad filter says why."""
    open_view(page, "#/projects/demo")
    page.fill("#filter", "config.lr<0.05, tags=sweep")
    page.press("#filter", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#runs-table tbody tr').length === 3")
    assert sorted(r["name"] for r in table_rows(page)) == ["lr-0.003", "lr-0.01", "lr-0.03"]
    assert "q=config.lr" in page.url
    page.fill("#filter", '{"config.lr": {"$bogus": 1}}')
    page.press("#filter", "Enter")
    page.wait_for_selector(".messages .notice.error")
    assert "bogus" in page.inner_text(".messages")


def test_paging_walks_through_the_runs(page: Any) -> None:
    """With limit=2 the table shows two runs at a time and `next` shows the following ones."""
    open_view(page, "#/projects/demo?limit=2&order=config.lr")
    assert [r["name"] for r in table_rows(page)] == ["lr-0.003", "lr-0.01"]
    assert "1–2 of 6 runs" in page.inner_text(".pager")
    page.click(".pager button:has-text('next')")
    page.wait_for_function("() => document.querySelector('.pager .count').textContent.startsWith('3–4')")
    assert [r["name"] for r in table_rows(page)] == ["lr-0.03", "lr-0.1"]


def test_a_chart_draws_the_selected_runs(page: Any, store: Any) -> None:
    """Ticking runs charts exactly those runs, one chart per metric, with every step counted."""
    _, runs = store
    open_view(page, "#/projects/demo?order=config.lr&sel=-")
    page.check(f"tr[data-run='{runs['lr-0.1']['id']}'] input[type=checkbox]")
    page.wait_for_function("() => window.__trackkit.charts.loss && window.__trackkit.charts.loss.runs.length === 1")
    page.check(f"tr[data-run='{runs['lr-0.01']['id']}'] input[type=checkbox]")
    page.wait_for_function("() => window.__trackkit.charts.loss && window.__trackkit.charts.loss.runs.length === 2")
    chart = wait_charts(page, "loss")
    assert sorted(chart["runs"]) == sorted(f"demo/{runs[n]['id']}" for n in ("lr-0.1", "lr-0.01"))
    assert chart["total"] == 2 * STEPS
    assert 0 < chart["drawn"] < chart["total"]  # bucketed, and the label says so
    assert len(chart["data"]) == 1 + 4 * 2  # x, then raw / smoothed / min / max per run
    assert set(page.evaluate("Object.keys(window.__trackkit.charts)")) >= {"loss", "score", "epoch"}
    label = page.locator(".chart-card[data-metric='loss'] .points").inner_text()
    assert f"of {2 * STEPS:,} points" in label
    assert page.locator(".chart-card[data-metric='loss'] canvas").count() == 1
    # hover shows each run's value at that x
    box = page.locator(".chart-card[data-metric='loss'] .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => document.querySelectorAll(\".chart-card[data-metric='loss'] .hover-run\").length === 2")
    assert "lr-0.1: " in page.locator(".chart-card[data-metric='loss'] .chart-hover").inner_text()
    screenshot(page, "charts")


def test_smoothing_and_log_scale_change_the_drawn_data(page: Any, store: Any) -> None:
    """Smoothing draws an EMA beside the raw curve; log scale drops values <= 0; the URL keeps both."""
    _, runs = store
    open_view(page, f"#/projects/demo?sel={runs['lr-0.01']['id']}")
    before = wait_charts(page, "score")
    raw, smoothed = before["data"][1], before["data"][2]
    assert raw == smoothed  # no smoothing yet
    page.fill("input[aria-label=smoothing]", "0.9")
    page.wait_for_function("() => window.__trackkit.charts.score.smoothing === 0.9")
    after = wait_charts(page, "score")
    assert after["data"][1] == raw  # the raw curve stays (drawn faint)
    assert after["data"][2] != raw
    assert "smooth=0.9" in page.url
    assert any(v is not None and v < 0 for v in after["data"][1])
    page.check("text=log scale")
    page.wait_for_function("() => window.__trackkit.charts.score.log === true")
    logged = wait_charts(page, "score")
    assert all(v is None or v > 0 for column in logged["data"][1:] for v in column)
    assert sum(v is None for v in logged["data"][1]) > sum(v is None for v in raw)
    assert "log=1" in page.url
    screenshot(page, "charts-smoothed-log")


def test_a_spike_shows_in_the_min_max_band(page: Any, store: Any) -> None:
    """A one-step spike survives bucketing: the band's max holds it even where the line does not."""
    _, runs = store
    open_view(page, f"#/projects/demo?sel={runs['lr-0.1']['id']}")
    chart = wait_charts(page, "loss")
    assert chart["drawn"] < chart["total"]
    maxima = [v for v in chart["data"][4] if v is not None]
    assert max(maxima) >= SPIKE
    screenshot(page, "spike-band")


def test_html_in_run_strings_renders_as_text_and_runs_no_script(page: Any, store: Any) -> None:
    """A run named `<img src=x onerror=alert(1)>` (tag `<b>bold</b>`, notes with a script) shows
    those characters and creates no element from them, in the table and on the run page."""
    _, runs = store
    open_view(page, "#/projects/demo")
    cell = page.locator(f"tr[data-run='{runs[XSS_NAME]['id']}'] td.name")
    assert cell.inner_text() == XSS_NAME
    assert page.locator("#runs-table img, #runs-table b, #main script").count() == 0
    open_view(page, f"#/projects/demo/runs/{runs[XSS_NAME]['id']}")
    assert XSS_NAME in page.inner_text("#run-name")
    assert page.input_value("#tags") == "<b>bold</b>"
    assert page.input_value("#notes") == "<script>alert(2)</script>"
    assert page.locator("#main img, #main b, #main script").count() == 0
    page.wait_for_timeout(300)
    assert page.dialogs == []
    assert page.errors == []


def test_run_page_shows_config_with_provenance_summary_and_saves_tags(page: Any, store: Any, server: Any) -> None:
    """The run page shows the config tree with where each value came from and the summary; editing
    tags and notes saves them to the store."""
    _, runs = store
    run_id = runs["lr-0.03"]["id"]
    open_view(page, f"#/projects/demo/runs/{run_id}")
    lr = page.locator("ul.tree li[data-key='lr']")
    assert lr.locator(".value").inner_text() == "0.03"
    assert lr.locator(".provenance").inner_text() != ""
    assert page.locator("ul.tree li[data-key='optim.name'] .value").inner_text() == "adam"
    assert "loss" in page.inner_text("#summary")
    wait_charts(page, "loss")
    page.fill("#tags", "sweep, best")
    page.fill("#notes", "looks good")
    page.click("form.edit button[type=submit]")
    page.wait_for_function("() => document.querySelector('.edit-status').textContent === 'saved'")
    status, _, record = server.request("GET", f"/api/v1/projects/demo/runs/{run_id}")
    assert status == 200
    assert record["meta"]["tags"] == ["sweep", "best"]
    assert record["meta"]["notes"] == "looks good"
    screenshot(page, "run-page")
    server.request("PATCH", f"/api/v1/projects/demo/runs/{run_id}", {"tags": ["sweep"], "notes": None})


def test_theme_switch_changes_the_page_colours(page: Any) -> None:
    """The theme button flips between light and dark and the choice survives a reload."""
    open_view(page, "#/")
    first = page.evaluate("document.documentElement.dataset.theme")
    page.click("#theme")
    second = page.evaluate("document.documentElement.dataset.theme")
    assert {first, second} == {"light", "dark"}
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("document.documentElement.dataset.theme") == second
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background
    if second == "dark":
        screenshot(page, "projects-dark")


def test_the_ui_stays_within_its_size_budget(server: Any) -> None:
    """All of the UI's JavaScript and CSS together stay under 300 KB uncompressed."""
    from pathlib import Path

    import trackkit.server

    ui = Path(trackkit.server.__file__).parent / "ui"
    size = sum(p.stat().st_size for p in ui.rglob("*") if p.suffix in (".js", ".css"))
    assert size <= 300 * 1024, json.dumps({"bytes": size})


def test_compare_lists_exactly_the_differing_keys(page: Any, store: Any) -> None:
    """Two runs of the sweep differ in config.lr and their final loss only; "show all" adds the rest."""
    _, runs = store
    a, b = runs["lr-0.1"]["id"], runs["lr-0.01"]["id"]
    open_view(page, f"#/projects/demo?sel={a},{b}")
    page.click("#compare")
    page.wait_for_selector("#compare-table")
    keys = page.eval_on_selector_all("#compare-table tbody tr", "rows => rows.map(r => r.dataset.key)")
    assert keys == ["config.lr", "summary.loss"]
    assert page.locator("#compare-table tr[data-key='config.lr'] td").all_inner_texts() == ["0.1", "0.01"]
    wait_charts(page, "loss")
    assert len(page.evaluate("window.__trackkit.charts.loss.runs")) == 2
    page.check("#show-all")
    page.wait_for_function("() => document.querySelectorAll('#compare-table tbody tr').length > 2")
    keys = page.eval_on_selector_all("#compare-table tbody tr", "rows => rows.map(r => r.dataset.key)")
    assert {"config.batch", "config.optim.name", "summary.score"} <= set(keys)
    assert "all=1" in page.url
    screenshot(page, "compare")


def test_the_x_axis_can_be_another_metric(page: Any, store: Any) -> None:
    """Choosing `epoch` as x draws loss against epoch (x values 0..2), and the URL keeps the choice."""
    _, runs = store
    open_view(page, f"#/projects/demo?sel={runs['lr-0.01']['id']}")
    wait_charts(page, "loss")
    page.select_option("select[aria-label='x axis']", "epoch")
    page.wait_for_function("() => window.__trackkit.charts.loss && window.__trackkit.charts.loss.x === 'epoch'")
    chart = wait_charts(page, "loss")
    assert set(chart["data"][0]) <= {0, 1, 2}
    assert "epoch" not in page.evaluate("Object.keys(window.__trackkit.charts)")
    assert "x=epoch" in page.url


def test_a_running_run_gains_points_without_a_reload(page: Any, store: Any) -> None:
    """While a run is logging, its chart and row update in place; the page is never reloaded."""
    import os
    import subprocess
    import sys
    import textwrap

    import trackkit

    root, _ = store
    done = trackkit.init(project="live", dir=root, name="done-run")
    trackkit.log({"loss": 5.0})
    trackkit.log({"loss": 4.0})
    done.finish()
    script = textwrap.dedent("""
        import sys, time, trackkit
        run = trackkit.init(project="live", dir=sys.argv[1], name="live-run", config={"lr": 1.0})
        print(run.id, flush=True)
        for step in range(600):
            trackkit.log({"loss": 1.0 / (step + 1)})
            time.sleep(0.05)
        run.finish()
    """)
    env = {**os.environ, "TRACKKIT_SILENT": "1", "TRACKKIT_FLUSH_INTERVAL": "0.2"}
    process = subprocess.Popen([sys.executable, "-c", script, str(root)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        run_id = process.stdout.readline().strip()
        page.wait_for_timeout(1500)
        open_view(page, f"#/projects/live?sel={run_id},{done.id}")
        assert page.locator(f"tr[data-run='{run_id}'] .state").inner_text() == "running"
        first = wait_charts(page, "loss")["total"]
        assert len(page.evaluate("window.__trackkit.charts.loss.runs")) == 2
        page.evaluate("window.__notReloaded = true")
        page.wait_for_function(f"() => window.__trackkit.charts.loss && window.__trackkit.charts.loss.total > {first} + 20",
                               timeout=20_000)
        assert page.evaluate("window.__notReloaded") is True
        assert page.evaluate("window.__trackkit.lastSampled") == [f"live/{run_id}"]  # the finished run is not fetched again
        assert page.locator(".chart-card[data-metric='loss'] canvas").count() == 1
    finally:
        process.terminate()
        process.wait(20)


def test_zooming_fetches_finer_buckets_for_the_range(page: Any, store: Any) -> None:
    """Dragging across a chart zooms in and fetches buckets of that range only, so steps that were
    merged into one bucket come apart; the spike is still there."""
    _, runs = store
    open_view(page, f"#/projects/demo?sel={runs['lr-0.1']['id']}")
    full = wait_charts(page, "loss")
    box = page.locator(".chart-card[data-metric='loss'] .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)  # steps ~900 to ~1500, around the spike at 1234
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.up()
    page.wait_for_function("() => window.__trackkit.charts.loss.zoom && window.__trackkit.charts.loss.zoom.data")
    zoom = page.evaluate("window.__trackkit.charts.loss.zoom")
    xs = zoom["data"][0]
    assert zoom["start"] <= xs[0] and xs[-1] <= zoom["stop"] + 1
    full_spacing = (full["data"][0][-1] - full["data"][0][0]) / len(full["data"][0])
    assert (xs[-1] - xs[0]) / len(xs) < full_spacing / 2
    assert zoom["total"] < full["total"]
    assert zoom["start"] <= 1234 <= zoom["stop"]
    assert max(v for v in zoom["data"][4] if v is not None) >= SPIKE
    screenshot(page, "zoom")


def test_group_by_shows_counts_and_means_and_charts_the_groups(page: Any, server: Any) -> None:
    """Grouping by a config key gives one row per value with its run count and the mean / min / max of
    each summary column (over every matching run), one curve per group, and a click shows its runs."""
    _, _, everything = server.request("GET", "/api/v1/projects/demo/runs?limit=100")
    adam = [r["summary"]["loss"] for r in everything["runs"] if r["config"].get("optim", {}).get("name") == "adam"]
    open_view(page, "#/projects/demo?group=config.optim.name")
    page.wait_for_selector("#groups-table")
    counts = {row.get_attribute("data-group"): row.locator("td[data-stat='count']").inner_text()
              for row in page.locator("#groups-table tbody tr").all()}
    assert counts == {"-": "2", "adam": str(len(adam))}
    mean = page.locator("#groups-table tr[data-group='adam'] td[data-column='summary.loss'][data-stat='mean']").inner_text()
    assert float(mean) == pytest.approx(sum(adam) / len(adam), rel=1e-5)
    low = page.locator("#groups-table tr[data-group='adam'] td[data-column='summary.loss'][data-stat='min']").inner_text()
    assert float(low) == pytest.approx(min(adam), rel=1e-5)
    page.wait_for_function("() => window.__trackkit.charts.loss && window.__trackkit.charts.loss.runs.length === 2")
    chart = wait_charts(page, "loss")
    assert sorted(chart["runs"]) == ["group/-", "group/adam"]
    screenshot(page, "groups")
    box = page.locator(".chart-card[data-metric='loss'] .u-over").bounding_box()  # a group chart zooms too
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 50)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 50, steps=5)
    page.mouse.up()
    page.wait_for_function("() => window.__trackkit.charts.loss.zoom && window.__trackkit.charts.loss.zoom.data")
    zoom = page.evaluate("window.__trackkit.charts.loss.zoom")
    assert zoom["start"] <= 1234 <= zoom["stop"]
    assert max(v for v in zoom["data"][4 + 4] if v is not None) >= SPIKE  # the adam group's band keeps lr-0.1's spike
    page.click("#groups-table tr[data-group='adam'] button")
    page.wait_for_selector("#runs-table")
    assert len(table_rows(page)) == len(adam)
    assert "config.optim.name%3Dadam" in page.url or "config.optim.name=adam" in page.url


def test_export_the_table_as_csv_and_a_chart_as_csv_json_png(page: Any, store: Any) -> None:
    """The table exports every matching run with the shown columns; a chart exports its drawn data
    and its picture. A name that looks like a spreadsheet formula is defused."""
    import csv
    import io

    _, runs = store
    open_view(page, f"#/projects/demo?order=config.lr&sel={runs['lr-0.1']['id']}")
    with page.expect_download() as table_download:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(table_download.value.path()).read_text())))
    assert [r["config.lr"] for r in rows] == ["0.003", "0.01", "0.03", "0.1", "0.5", "3"]
    assert {r["name"] for r in rows} >= {"lr-0.1", XSS_NAME}
    wait_charts(page, "loss")
    with page.expect_download() as chart_csv:
        page.click(".chart-card[data-metric='loss'] button[data-export='csv']")
    lines = Path(chart_csv.value.path()).read_text().splitlines()
    assert lines[0] == "_step,lr-0.1,lr-0.1 min,lr-0.1 max"
    assert len(lines) - 1 == page.evaluate("window.__trackkit.charts.loss.drawn")
    with page.expect_download() as chart_json:
        page.click(".chart-card[data-metric='loss'] button[data-export='json']")
    data = json.loads(Path(chart_json.value.path()).read_text())
    assert data["metric"] == "loss" and data["runs"][0]["name"] == "lr-0.1"
    assert max(v for v in data["runs"][0]["max"] if v is not None) >= SPIKE
    with page.expect_download() as chart_png:
        page.click(".chart-card[data-metric='loss'] button[data-export='png']")
    assert Path(chart_png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as chart_svg:
        page.click(".chart-card[data-metric='loss'] button[data-export='svg']")
    svg = Path(chart_svg.value.path()).read_text()
    assert svg.startswith("<svg") and "<polyline" in svg and ">lr-0.1</text>" in svg
