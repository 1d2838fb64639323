"""Understanding a sweep: parameter importance for a metric and parallel coordinates whose brushing
narrows the runs table."""

from __future__ import annotations

from typing import Any

from ui_support import SWEEP_RUNS, open_view, screenshot


def test_importance_ranks_the_key_that_drives_the_metric_first(server: Any) -> None:
    """In a sweep where the loss follows the learning rate, lr has |Spearman| ~ 1 and the top importance;
    the answer says how many runs it rests on."""
    status, _, answer = server.request("GET", "/api/v1/projects/sweep/importance?metric=summary.loss")
    assert status == 200
    assert answer["runs"] == SWEEP_RUNS
    first = answer["params"][0]
    assert first["key"] == "config.lr"
    assert first["spearman"] < -0.95
    assert first["importance"] > max(p["importance"] for p in answer["params"][1:])
    assert "random forest" in answer["model"]


def test_importance_refuses_below_the_minimum_number_of_runs(server: Any) -> None:
    _, _, answer = server.request("GET", "/api/v1/projects/demo/importance?metric=summary.loss")
    assert answer["params"] == [] and answer["runs"] < answer["minimum"]
    assert "at least 10" in answer["message"]


def test_understand_view_shows_importance_and_brushing_narrows_the_runs(page: Any) -> None:
    """The view lists lr first; dragging along the lr axis brushes a range, the count follows, and the
    brushed runs open in the runs table through a filter."""
    open_view(page, "#/projects/sweep/understand?metric=summary.loss")
    page.wait_for_selector("#importance-table")
    assert page.locator("#importance-table tbody tr").first.get_attribute("data-key") == "config.lr"
    assert f"based on {SWEEP_RUNS} runs" in page.inner_text("#importance-basis")
    state = page.evaluate("window.__trackkit.parcoords")
    assert state["axes"][0] == "config.lr" and state["axes"][-1] == "summary.loss"
    assert len(state["selected"]) == SWEEP_RUNS
    box = page.locator("#parcoords-canvas").bounding_box()
    x = box["x"] + 40  # the first axis (config.lr) sits at the left padding
    page.mouse.move(x, box["y"] + 40)  # the top of the axis: the largest learning rates
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    state = page.evaluate("window.__trackkit.parcoords")
    brushed = len(state["selected"])
    assert 0 < brushed < SWEEP_RUNS
    assert f"{brushed} of {SWEEP_RUNS} runs" in page.inner_text("#brush-info")
    assert "brush=config.lr" in page.url
    screenshot(page, "understand")
    page.click("#brushed-runs")
    page.wait_for_selector("#runs-table")
    page.wait_for_function(f"() => document.querySelectorAll('#runs-table tbody tr').length === {brushed}")
    assert "config.lr%3E%3D" in page.url or "config.lr>=" in page.url
