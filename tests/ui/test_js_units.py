"""The UI's pure JavaScript (smoothing, chart data shaping, table columns, URL state), imported as
the ES modules the UI ships and run in the same headless Chromium."""

from __future__ import annotations

import math
from typing import Any

import pytest
from ui_support import open_view


@pytest.fixture
def js(page: Any) -> Any:
    """Call an exported function of a UI module: js("smooth.js", "ema", [1, 2], 0.5)."""
    open_view(page, "#/")

    def call(module: str, name: str, *args: Any) -> Any:
        return page.evaluate("async ([module, name, args]) => (await import('/ui/js/' + module))[name](...args)",
                             [module, name, list(args)])

    return call


def test_ema_debiases_the_start_and_skips_gaps(js: Any) -> None:
    """A constant stays constant from the first point (bias correction), as in TensorBoard."""
    assert js("smooth.js", "ema", [5, 5, 5, 5], 0.9) == pytest.approx([5, 5, 5, 5])
    assert js("smooth.js", "ema", [0, 10], 0.5) == pytest.approx([0, 20 / 3])
    assert js("smooth.js", "ema", [1, None, 3], 0.0) == [1, None, 3]
    smoothed = js("smooth.js", "ema", [1, None, 3], 0.5)
    assert smoothed[1] is None and smoothed[2] == pytest.approx((0.5 * 0.5 * 1 + 0.5 * 3) / 0.75)


def test_ema_matches_a_python_reference(js: Any) -> None:
    """The smoothing is the exponential moving average with bias correction, point by point."""
    values = [math.sin(i / 3) * 10 + i for i in range(50)]
    weight = 0.8
    expected, last = [], 0.0
    for n, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        expected.append(last / (1 - weight**n))
    assert js("smooth.js", "ema", values, weight) == pytest.approx(expected)


def test_chart_columns_align_runs_on_one_x_and_keep_min_max(js: Any) -> None:
    """Two runs with different x values share one x column; each run's band is its min/max."""
    a = {"x": [0, 10], "last": [1, 2], "min": [0.5, 1.5], "max": [1.5, 9], "total": 20}
    b = {"x": [5], "last": [7], "min": [7], "max": [7], "total": 1}
    out = js("series.js", "chartColumns", [{"id": "a", "series": a}, {"id": "b", "series": b}, {"id": "c"}], {})
    assert out["runs"] == ["a", "b"]
    assert out["data"][0] == [0, 5, 10]
    assert out["data"][1] == [1, None, 2]  # undefined (no point of a at x=5) arrives as None
    assert out["data"][4] == [1.5, None, 9]
    assert out["data"][5] == [None, 7, None]
    assert (out["drawn"], out["total"]) == (3, 21)


def test_log_scale_turns_non_positive_values_into_gaps(js: Any) -> None:
    assert js("series.js", "forLog", [1, 0, -2, None, 0.5]) == [1, None, None, None, 0.5]


def test_metric_search_takes_globs_and_substrings(js: Any) -> None:
    assert js("series.js", "metricMatches", "val/loss", "val/*") is True
    assert js("series.js", "metricMatches", "train/loss", "val/*") is False
    assert js("series.js", "metricMatches", "train/loss", "LOSS") is True
    assert js("series.js", "metricMatches", "a.b", "a?b") is True
    assert js("series.js", "metricMatches", "anything", "") is True


def test_points_label_says_how_many_points_are_drawn(js: Any) -> None:
    assert js("series.js", "pointsLabel", 500, 100000).startswith("500 of 100,000 points")
    assert js("series.js", "pointsLabel", 30, 30) == "all 30 points"


def test_default_columns_are_the_keys_that_differ(js: Any) -> None:
    """Keys equal in every run are left out; a key missing from one run differs."""
    runs = [{"config": {"lr": 0.1, "batch": 32, "optim": {"name": "adam"}}, "summary": {"loss": 1}},
            {"config": {"lr": 0.2, "batch": 32, "optim": {"name": "sgd"}}, "summary": {"loss": 1}},
            {"config": {"lr": 0.3, "batch": 32, "optim": {"name": "sgd"}, "extra": 1}, "summary": {"loss": 1}}]
    assert js("table.js", "defaultColumns", runs) == ["config.extra", "config.lr", "config.optim.name"]


def test_cells_format_values_as_text(js: Any) -> None:
    assert js("table.js", "formatValue", 0.123456789) == "0.123457"
    assert js("table.js", "formatValue", None) == "-"
    assert js("table.js", "formatValue", [1, 2]) == "[1,2]"
    assert js("table.js", "formatDuration", 3725) == "1h 02m"
    assert js("table.js", "clauseFor", "config.name", "a b") == 'config.name="a b"'


def test_url_state_round_trips(js: Any) -> None:
    """Project names with slashes and spaces and filter text survive the hash."""
    hash_ = js("url.js", "formatHash", ["projects", "my proj/x"], {"q": "config.lr>0.01, state=finished", "log": True, "x": ""})
    assert hash_.startswith("#/projects/my%20proj%2Fx?")
    parsed = js("url.js", "parseHash", hash_)
    assert parsed == {"path": ["projects", "my proj/x"], "params": {"log": "1", "q": "config.lr>0.01, state=finished"}}
    assert js("url.js", "toggleOrder", "config.lr", "config.lr") == "-config.lr"
    assert js("url.js", "toggleOrder", "-config.lr", "config.lr") == "config.lr"


def test_api_decodes_non_finite_strings(js: Any) -> None:
    """The server sends NaN and infinities as strings; the client reads them back as numbers."""
    out = js("api.js", "decode", '{"a": "NaN", "b": ["Infinity", "-Infinity", "x"]}')
    assert math.isnan(out["a"])
    assert out["b"] == [math.inf, -math.inf, "x"]
    assert js("table.js", "formatValue", float("inf")) == "Infinity"


def test_compare_rows_keep_only_differing_keys_unless_all(js: Any) -> None:
    records = [{"config": {"values": {"lr": 0.1, "batch": 32}}, "summary": {"values": {"loss": 1, "_runtime": 3}}},
               {"config": {"values": {"lr": 0.2, "batch": 32}}, "summary": {"values": {"loss": 1}}}]
    assert [(r["section"], r["key"]) for r in js("table.js", "compareRows", records)] == [("config", "lr")]
    rows = js("table.js", "compareRows", records, True)
    assert [(r["key"], r["differs"]) for r in rows] == [("batch", False), ("lr", True), ("loss", False)]


def test_group_runs_counts_and_aggregates_finite_values(js: Any) -> None:
    runs = [{"id": "a", "state": "finished", "config": {"opt": "adam"}, "summary": {"loss": 1}},
            {"id": "b", "state": "finished", "config": {"opt": "adam"}, "summary": {"loss": 3}},
            {"id": "c", "state": "failed", "config": {"opt": "sgd"}, "summary": {"loss": float("nan")}},
            {"id": "d", "state": "finished", "config": {}, "summary": {}, "tags": ["x", "a"]}]
    groups = js("group.js", "groupRuns", runs, ["config.opt"], ["summary.loss"])
    assert [(g["label"], g["count"], g["ids"]) for g in groups] == [("-", 1, ["d"]), ("adam", 2, ["a", "b"]), ("sgd", 1, ["c"])]
    assert groups[1]["stats"]["summary.loss"] == {"n": 2, "mean": 2, "min": 1, "max": 3}
    assert groups[2]["stats"]["summary.loss"]["n"] == 0
    assert js("group.js", "groupValue", runs[3], "tags") == "a, x"


def test_group_series_is_the_mean_with_the_members_extremes(js: Any) -> None:
    a = {"x": [0, 10], "last": [1, 3], "min": [0, 3], "max": [1, 30], "total": 5}
    b = {"x": [0, 10], "last": [3, 5], "min": [3, -2], "max": [3, 5], "total": 7}
    out = js("group.js", "groupSeries", [a, b, None], 2)
    assert out["x"] == [0, 5]
    assert out["last"] == [2, 4]
    assert out["min"] == [0, -2] and out["max"] == [3, 30]
    assert out["total"] == 12


def test_csv_quotes_and_defuses_formulas(js: Any) -> None:
    expected = 'a,b\r\n1,"say ""hi"", ok"\r\n\'=cmd(),\r\n'
    assert js("export.js", "toCsv", ["a", "b"], [[1, 'say "hi", ok'], ["=cmd()", None]]) == expected
    assert js("export.js", "fileName", "val/loss <x>", "csv") == "val_loss_x.csv"


def test_svg_export_keeps_names_as_text(js: Any) -> None:
    """A run named like markup stays text in the SVG (escaped by the serialiser), no element from it."""
    chart = {"x": "_step", "runs": ["p/a"], "smoothing": 0, "data": [[0, 1], [1, 2], [1, 2], [0.5, 1.5], [1.5, 2.5]]}
    svg = js("export.js", "chartSvg", chart, {"p/a": "<img src=x onerror=alert(1)>"}, {"p/a": "#123456"}, "loss")
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg
    assert "<img" not in svg
    assert svg.count("<polyline") == 1 and svg.count("<polygon") == 1


def test_chart_columns_keep_runs_without_points_in_a_zoom(js: Any) -> None:
    """In a zoomed range a run may have no points; its columns stay (empty) so the chart keeps its series."""
    a = {"x": [5], "last": [1], "min": [1], "max": [1], "total": 1}
    out = js("series.js", "chartColumns", [{"id": "a", "series": a}, {"id": "b"}], {"keepEmpty": True})
    assert out["runs"] == ["a", "b"]
    assert len(out["data"]) == 1 + 4 * 2
    assert out["data"][5] == [None]


def test_chart_columns_of_runs_sharing_x_match_the_merged_columns(js: Any) -> None:
    """Runs bucketed over one range share their x column; their columns are the same as those of the
    general merge (shown by a third run whose x differs), NaN and ±inf as gaps, smoothing and log alike."""
    a = {"x": [0, 10, 20], "last": [1, float("nan"), 3], "min": [0.5, 2, 3], "max": [1, float("inf"), 4], "total": 30}
    b = {"x": [0, 10, 20], "last": [2, 2, -1], "min": [2, 1, -1], "max": [2, 3, 0], "total": 3}
    c = {"x": [5], "last": [7], "min": [7], "max": [7], "total": 1}
    for options in ({}, {"smoothing": 0.5}, {"log": True}, {"keepEmpty": True}):
        shared = js("series.js", "chartColumns", [{"id": "a", "series": a}, {"id": "b", "series": b}, {"id": "e"}], options)
        merged = js("series.js", "chartColumns", [{"id": "a", "series": a}, {"id": "b", "series": b},
                                                  {"id": "c", "series": c}], options)
        assert shared["data"][0] == [0, 10, 20]
        keep = [i for i, x in enumerate(merged["data"][0]) if x != 5]  # the rows of c's own x
        assert [[col[i] for i in keep] for col in merged["data"][:9]] == shared["data"][:9]
        assert shared["runs"] == (["a", "b", "e"] if options.get("keepEmpty") else ["a", "b"])
        assert (shared["drawn"], shared["total"]) == (6, 33)
