"""The chart's sample request, against a real ``trackkit ui`` process: every selected run in one POST,
and only the bucket columns a chart draws when it asks for them."""

from __future__ import annotations

from typing import Any


def test_a_chart_asks_for_the_columns_it_draws(server: Any, store: Any) -> None:
    """`fields` keeps x, last, min and max (the same values as a full answer) and leaves the rest out;
    an unknown column is a 400."""
    _, runs = store
    ask = {"runs": [["demo", runs["lr-0.1"]["id"]], ["demo", runs["lr-0.03"]["id"]]], "keys": ["loss"], "samples": 50}
    _, _, full = server.request("POST", "/api/v1/sample", ask)
    status, _, narrow = server.request("POST", "/api/v1/sample", {**ask, "fields": ["x", "last", "min", "max"]})
    assert status == 200
    for whole, part in zip(full["runs"], narrow["runs"]):
        series = part["series"]["loss"]
        assert not {"first", "count", "nan"} & series.keys()
        assert {name: series[name] for name in ("x", "last", "min", "max", "total")} == \
            {name: whole["series"]["loss"][name] for name in ("x", "last", "min", "max", "total")}
    status, _, error = server.request("POST", "/api/v1/sample", {**ask, "fields": ["x", "bogus"]})
    assert status == 400 and error["error"]["code"] == "bad_request"
