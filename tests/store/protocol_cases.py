"""The protocol suite: what every store (local, memory, PostgreSQL, HTTP) must answer alike.

The cases are plain pytest test functions that take one fixture, ``store``: a fresh, empty store
implementing ``trackkit.Store`` and ``trackkit.QueryStore`` (write side and query side). This module
is not collected by itself (its name does not start with ``test_``); a store's test module imports
the cases and provides the fixture, and pytest runs every case once per fixture parameter::

    # tests/server/test_protocol_postgres.py
    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "store"))
    import pytest
    from protocol_cases import *  # noqa: F403  (the cases, collected here)

    @pytest.fixture
    def store(pg_database):
        return PostgresStore(pg_database)  # empty; dropped by the fixture afterwards

Cases write through ``store.open_run`` and the sink it returns (so that documents can be shaped
exactly, including ``created_at`` and ``state``) or through ``trackkit.init(store=store)`` as a user
would. A store whose writes become visible asynchronously must make them visible before ``close()``
/ ``finish()`` returns.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

import trackkit

NAN = float("nan")
RUN_FIELDS = {"id", "name", "project", "entity", "state", "tags", "notes", "group", "job_type", "created_at",
              "updated_at", "runtime", "exit_code", "exit_reason", "config", "summary"}


def make_run(
    store: Any,
    project: str,
    run_id: str,
    *,
    config: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
    rows: Iterable[dict[str, Any]] = (),
    created_at: float = 1_700_000_000.0,
    state: str = "finished",
    tags: list[str] | None = None,
    close: bool = True,
) -> Any:
    """Write a run straight through the sink, as a writer would; returns the sink if left open."""
    sink, _ = store.open_run(project, run_id, resume=None)
    sink.write_meta({"id": run_id, "name": f"run-{run_id[1:]}", "project": project, "entity": "local", "state": state,
                     "tags": tags or [], "notes": None, "group": None, "job_type": None, "created_at": created_at,
                     "runtime": 1.0, "exit_code": 0 if state == "finished" else 1})
    sink.write_config({"values": config or {}, "provenance": {}, "changes": []})
    sink.write_summary({"values": summary or {}, "explicit": [], "last_step": None})
    batch = list(rows)
    for start in range(0, len(batch), 10_000):
        sink.append_history(batch[start: start + 10_000])
    if close:
        sink.close()
        return None
    return sink


def ids(page: Any) -> list[str]:
    return [run["id"] for run in page["runs"]]


@pytest.fixture
def six_runs(store: Any) -> Any:
    """Six runs whose config and summary cover every filter and ordering case."""
    runs: list[tuple[str, dict[str, Any], dict[str, Any], list[str], str]] = [
        ("r1", {"lr": 0.1, "opt": "adam", "model": {"depth": 3}}, {"acc": 0.9, "loss": 0.3}, ["a", "b"], "finished"),
        ("r2", {"lr": 0.01, "opt": "sgd"}, {"acc": 0.8}, ["b"], "failed"),
        ("r3", {"lr": 0.001, "opt": "adamw"}, {"acc": NAN}, [], "finished"),
        ("r4", {"opt": "lion"}, {"acc": 0.95}, ["c"], "finished"),
        ("r5", {"lr": "auto"}, {"acc": "n/a"}, [], "finished"),
        ("r6", {}, {}, [], "finished"),
    ]
    for number, (run_id, config, summary, tags, state) in enumerate(runs, start=1):
        make_run(store, "q", run_id, config=config, summary=summary, tags=tags, state=state,
                 created_at=1_700_000_000.0 + number)
    return store


# -- write, read back, resume ----------------------------------------------------------------------
def test_a_run_written_with_init_reads_back_as_a_document(store: Any) -> None:
    """Config, summary, state and rows written by a user's script come back through the query side."""
    with trackkit.init(project="p", id="w1", config={"lr": 0.1, "model": {"depth": 2}}, tags=["x"], store=store) as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1), "phase": "train"})
    page = store.query_runs("p")
    assert page["total"] == 1
    document = page["runs"][0]
    assert set(document) >= RUN_FIELDS
    assert document["id"] == "w1" and document["project"] == "p" and document["state"] == "finished"
    assert document["tags"] == ["x"] and document["config"] == {"lr": 0.1, "model": {"depth": 2}}
    assert document["summary"]["loss"] == 0.2 and isinstance(document["created_at"], float)
    assert [row["loss"] for row in store.scan_history("p", "w1")] == [1.0, 0.5, 1 / 3, 0.25, 0.2]


def test_a_run_being_written_is_running_until_it_finishes(store: Any) -> None:
    """A live run shows as running in the run list and the project list, then as finished."""
    run = trackkit.init(project="p", id="live", store=store, reinit="create_new")
    run.log({"loss": 1.0})
    assert store.query_runs("p")["runs"][0]["state"] == "running"
    assert [(i["name"], i["run_count"], i["running"]) for i in store.project_infos()] == [("p", 1, 1)]
    run.finish()
    assert store.query_runs("p")["runs"][0]["state"] == "finished"
    assert store.project_infos()[0]["running"] == 0


def test_a_resumed_run_continues_its_steps_and_keys(store: Any) -> None:
    """Resuming appends to the same history; history_keys counts both sessions."""
    with trackkit.init(project="p", id="res", store=store) as run:
        for _ in range(3):
            run.log({"loss": 1.0})
    with trackkit.init(project="p", id="res", resume="must", store=store) as run:
        run.log({"loss": 0.5, "lr": 0.1})
    assert [row["_step"] for row in store.scan_history("p", "res")] == [0, 1, 2, 3]
    keys = store.history_keys("p", "res")
    assert keys["loss"] == {"count": 4, "first_step": 0, "last_step": 3, "type": "number"}
    assert keys["lr"] == {"count": 1, "first_step": 3, "last_step": 3, "type": "number"}
    assert store.query_runs("p")["total"] == 1


def test_projects_list_run_counts_and_activity(store: Any) -> None:
    """project_infos names every project with its run count; query_runs(None) spans them all."""
    make_run(store, "alpha", "r1")
    make_run(store, "alpha", "r2")
    make_run(store, "beta", "r3")
    infos = store.project_infos()
    assert [(i["name"], i["run_count"], i["running"]) for i in infos] == [("alpha", 2, 0), ("beta", 1, 0)]
    assert all(isinstance(i["last_activity"], float) for i in infos)
    assert sorted(ids(store.query_runs(None))) == ["r1", "r2", "r3"]
    assert store.query_runs("nowhere") == {"runs": [], "total": 0}


# -- filters, order, paging, projection --------------------------------------------------------------
FILTER_CASES = [
    ({"config.lr": 0.1}, ["r1"]),
    ({"config.lr": {"$eq": 0.01}}, ["r2"]),
    ({"config.lr": {"$ne": 0.1}}, ["r2", "r3", "r4", "r5", "r6"]),
    ({"config.lr": {"$gt": 0.005}}, ["r1", "r2"]),
    ({"config.lr": {"$gte": 0.01}}, ["r1", "r2"]),
    ({"config.lr": {"$lt": 0.01}}, ["r3"]),
    ({"config.lr": {"$lte": 0.01}}, ["r2", "r3"]),
    ({"config.lr": {"$in": [0.1, 0.001]}}, ["r1", "r3"]),
    ({"config.lr": {"$nin": [0.1, "auto"]}}, ["r2", "r3", "r4", "r6"]),
    ({"config.opt": {"$regex": "^adam"}}, ["r1", "r3"]),
    ({"config.lr": {"$exists": True}}, ["r1", "r2", "r3", "r5"]),
    ({"config.lr": {"$exists": False}}, ["r4", "r6"]),
    ({"$and": [{"config.lr": {"$lt": 0.05}}, {"config.opt": "sgd"}]}, ["r2"]),
    ({"$or": [{"config.opt": "lion"}, {"summary.acc": {"$gte": 0.9}}]}, ["r1", "r4"]),
    ({"$nor": [{"config.opt": {"$exists": True}}, {"config.lr": {"$exists": True}}]}, ["r6"]),
    ({"config.lr": {"$not": {"$gt": 0.005}}}, ["r3", "r4", "r5", "r6"]),
    ({"summary.acc": {"$gt": 0.85}}, ["r1", "r4"]),
    ({"tags": "b"}, ["r1", "r2"]),
    ({"tags": {"$in": ["a", "c"]}}, ["r1", "r4"]),
    ({"state": "failed"}, ["r2"]),
    ({"config.model.depth": 3}, ["r1"]),
    ({"name": {"$regex": "run-[12]$"}}, ["r1", "r2"]),
]


@pytest.mark.parametrize(("filters", "expected"), FILTER_CASES, ids=[repr(f) for f, _ in FILTER_CASES])
def test_query_filters_with_each_operator(six_runs: Any, filters: dict[str, Any], expected: list[str]) -> None:
    """Each Mongo-style operator selects the same runs on every store."""
    page = six_runs.query_runs("q", filters=filters, order="id")
    assert ids(page) == expected
    assert page["total"] == len(expected)


ORDER_CASES = [
    ("summary.acc", ["r2", "r1", "r4", "r5", "r3", "r6"]),
    ("-summary.acc", ["r4", "r1", "r2", "r5", "r3", "r6"]),
    ("config.lr", ["r3", "r2", "r1", "r5", "r4", "r6"]),
    ("-config.lr", ["r1", "r2", "r3", "r5", "r4", "r6"]),
    (["state", "-summary.acc"], ["r2", "r4", "r1", "r5", "r3", "r6"]),
    ("-created_at", ["r6", "r5", "r4", "r3", "r2", "r1"]),
    (None, ["r1", "r2", "r3", "r4", "r5", "r6"]),
]


@pytest.mark.parametrize(("order", "expected"), ORDER_CASES, ids=[repr(o) for o, _ in ORDER_CASES])
def test_query_order_puts_missing_and_nan_last_both_ways(six_runs: Any, order: Any, expected: list[str]) -> None:
    """Numbers by value, then strings, then missing and NaN, ascending and descending; ties by creation."""
    assert ids(six_runs.query_runs("q", order=order)) == expected


def test_query_pages_with_limit_and_offset(six_runs: Any) -> None:
    """A page holds at most ``limit`` runs from ``offset``; ``total`` counts every match."""
    assert six_runs.query_runs("q", order="created_at", limit=2, offset=2) == {
        "runs": six_runs.query_runs("q", order="created_at")["runs"][2:4], "total": 6}
    assert ids(six_runs.query_runs("q", order="created_at", limit=2, offset=2)) == ["r3", "r4"]
    assert six_runs.query_runs("q", order="created_at", offset=10) == {"runs": [], "total": 6}
    page = six_runs.query_runs("q", filters={"config.lr": {"$exists": True}}, order="-created_at", limit=1)
    assert ids(page) == ["r5"] and page["total"] == 4


def test_query_projects_config_and_summary_to_the_fields_asked(six_runs: Any) -> None:
    """``fields`` keeps only the config and summary keys asked for; run fields always come."""
    run = six_runs.query_runs("q", filters={"id": "r1"}, fields=["config.lr", "summary.acc", "config.model.depth"])["runs"][0]
    assert run["config"] == {"lr": 0.1, "model": {"depth": 3}} and run["summary"] == {"acc": 0.9}
    assert run["name"] == "run-1" and run["state"] == "finished" and run["tags"] == ["a", "b"]
    bare = six_runs.query_runs("q", filters={"id": "r1"}, fields=[])["runs"][0]
    assert bare["config"] == {} and bare["summary"] == {}
    whole = six_runs.query_runs("q", filters={"id": "r1"}, fields=["config"])["runs"][0]
    assert whole["config"] == {"lr": 0.1, "opt": "adam", "model": {"depth": 3}} and whole["summary"] == {}


def test_query_reads_nan_back_as_nan(six_runs: Any) -> None:
    """NaN in a summary is a value: it comes back as a float NaN."""
    acc = six_runs.query_runs("q", filters={"id": "r3"})["runs"][0]["summary"]["acc"]
    assert isinstance(acc, float) and math.isnan(acc)


def test_query_documents_are_copies(six_runs: Any) -> None:
    """Changing a returned document does not change what the store answers next."""
    run = six_runs.query_runs("q", filters={"id": "r1"})["runs"][0]
    run["config"]["lr"] = 99
    run["tags"].append("z")
    again = six_runs.query_runs("q", filters={"id": "r1"})["runs"][0]
    assert again["config"]["lr"] == 0.1 and again["tags"] == ["a", "b"]


def test_an_edit_shows_in_the_next_query(six_runs: Any) -> None:
    """update_run is visible to query_runs at once (no stale cached document)."""
    record = six_runs.read_run("q", "r2")
    six_runs.update_run("q", "r2", summary={**record["summary"], "values": {"acc": 0.99}})
    assert ids(six_runs.query_runs("q", order="-summary.acc", limit=1)) == ["r2"]


def test_a_bad_query_is_a_usage_error(six_runs: Any) -> None:
    """Unknown operators, a filter that is not a dict and a bad limit say what was wrong."""
    with pytest.raises(trackkit.UsageError):
        six_runs.query_runs("q", filters={"config.lr": {"$between": [1, 2]}})
    with pytest.raises(trackkit.UsageError):
        six_runs.query_runs("q", filters="lr > 1")
    with pytest.raises(trackkit.UsageError):
        six_runs.query_runs("q", limit=-1)


# -- history: keys, scan, sampling -----------------------------------------------------------------
def _rows(values: Iterable[Any], key: str = "loss", start_step: int = 0) -> list[dict[str, Any]]:
    return [{"_step": start_step + i, "_timestamp": 1000.0 + i, "_runtime": float(i), key: v} for i, v in enumerate(values)]


def test_history_keys_give_count_steps_and_type(store: Any) -> None:
    """Every logged key with its count, first/last step and type; the row axes are left out."""
    rows = [
        {"_step": 0, "loss": 1.0, "name": "a", "flag": True},
        {"_step": 1, "loss": 0.5},
        {"_step": 2, "mixed": "x"},
        {"_step": 3, "mixed": 2, "loss": NAN},
    ]
    make_run(store, "p", "k", rows=rows)
    keys = store.history_keys("p", "k")
    assert keys == {
        "loss": {"count": 3, "first_step": 0, "last_step": 3, "type": "number"},
        "name": {"count": 1, "first_step": 0, "last_step": 0, "type": "string"},
        "flag": {"count": 1, "first_step": 0, "last_step": 0, "type": "other"},
        "mixed": {"count": 2, "first_step": 2, "last_step": 3, "type": "number"},
    }


def test_scan_history_selects_keys_and_steps(store: Any) -> None:
    """scan_history with keys keeps rows holding any of them, cut to them and the row axes."""
    rows = [{"_step": 0, "a": 1, "b": 2}, {"_step": 1, "b": 3}, {"_step": 2, "c": 4}, {"_step": 3, "a": NAN}]
    make_run(store, "p", "s", rows=rows)
    nan_a = {"_step": 3, "a": pytest.approx(NAN, nan_ok=True)}
    assert list(store.scan_history("p", "s", keys=["a"])) == [{"_step": 0, "a": 1}, nan_a]
    assert [r["_step"] for r in store.scan_history("p", "s", min_step=1, max_step=2)] == [1, 2]
    assert list(store.scan_history("p", "s", keys=["b"], min_step=1)) == [{"_step": 1, "b": 3}]
    assert len(list(store.scan_history("p", "s"))) == 4


def test_sampling_keeps_a_spike_and_counts_every_point(store: Any) -> None:
    """100,000 steps of noise with one outlier: at 100 buckets the outlier is the max of its bucket,
    and the bucket counts add up to the total."""
    generator = random.Random(7)
    values = [generator.random() for _ in range(100_000)]
    values[54_321] = 50.0
    make_run(store, "p", "spike", rows=_rows(values))
    series = store.sample_history("p", "spike", ["loss"], samples=100)["loss"]
    assert series["total"] == 100_000 and sum(series["count"]) == 100_000
    assert len(series["x"]) == 100 and series["x"][0] == 0 and (series["start"], series["stop"]) == (0, 99_999)
    bucket = 54_321 * 100 // 99_999
    assert series["max"][bucket] == 50.0 and series["x"][bucket] <= 54_321 < series["x"][bucket + 1]
    assert [i for i, high in enumerate(series["max"]) if high > 1.0] == [bucket]
    assert series["first"][0] == values[0] and series["last"][-1] == values[-1]
    assert min(series["min"]) == min(values)


def test_a_bucket_with_one_point_is_exact(store: Any) -> None:
    """Sparse points each get a bucket of their own: x, first, last, min and max are the point."""
    make_run(store, "p", "sparse", rows=[{"_step": 0, "v": 1.5}, {"_step": 5, "v": -2}, {"_step": 10, "v": 3.25}])
    series = store.sample_history("p", "sparse", ["v"], samples=1000)["v"]
    assert series["x"] == [0, 5, 10] and series["count"] == [1, 1, 1] and series["nan"] == [0, 0, 0]
    for column in ("first", "last", "min", "max"):
        assert series[column] == [1.5, -2, 3.25]


def test_sampling_counts_nan_apart_and_skips_text(store: Any) -> None:
    """NaN is left out of min/max/first/last and counted; strings are skipped; inf is a value."""
    rows = [{"_step": 0, "v": NAN}, {"_step": 1, "v": 2.0}, {"_step": 2, "v": "oops"}, {"_step": 3, "v": NAN},
            {"_step": 4, "v": float("inf")}, {"_step": 5, "v": NAN}]
    make_run(store, "p", "nan", rows=rows)
    series = store.sample_history("p", "nan", ["v"], samples=2, start=0, stop=5)["v"]
    assert series["total"] == 5 and series["count"] == [2, 3] and series["nan"] == [1, 2]
    assert series["first"] == [2.0, float("inf")] and series["max"] == [2.0, float("inf")] and series["min"] == [2.0, float("inf")]
    only_nan = store.sample_history("p", "nan", ["v"], samples=6, start=0, stop=5)["v"]
    assert only_nan["min"][0] is None and only_nan["nan"][0] == 1


def test_sampling_zooms_and_aligns_on_a_given_range(store: Any) -> None:
    """start/stop cut the range, and two runs sampled with one range get the same bucket edges."""
    make_run(store, "p", "long", rows=_rows(range(1000)))
    make_run(store, "p", "short", rows=_rows(range(300), start_step=100))
    zoom = store.sample_history("p", "long", ["loss"], samples=10, start=100, stop=199)["loss"]
    assert zoom["total"] == 100 and zoom["count"] == [10] * 10 and zoom["x"][0] == 100 and zoom["max"][-1] == 199
    a = store.sample_history("p", "long", ["loss"], samples=10, start=0, stop=1000)["loss"]
    b = store.sample_history("p", "short", ["loss"], samples=10, start=0, stop=1000)["loss"]
    assert a["x"][1:4] == b["x"][:3] == [100, 200, 300] and (b["start"], b["stop"]) == (0, 1000)


def test_sampling_along_another_axis_or_a_metric(store: Any) -> None:
    """x may be _timestamp, _runtime or a metric (rows without it take its last value; rows before
    its first value are skipped); keys never logged are left out."""
    rows = [{"_step": 0, "loss": 9.0}, {"_step": 1, "epoch": 0, "loss": 1.0}, {"_step": 2, "loss": 2.0},
            {"_step": 3, "epoch": 1, "loss": 3.0}]
    make_run(store, "p", "ax", rows=rows)
    by_epoch = store.sample_history("p", "ax", ["loss", "never"], x="epoch", samples=2)
    assert list(by_epoch) == ["loss"]
    assert by_epoch["loss"]["x"] == [0, 1] and by_epoch["loss"]["count"] == [2, 1] and by_epoch["loss"]["max"] == [2.0, 3.0]
    make_run(store, "p", "time", rows=_rows([5.0, 6.0, 7.0]))
    by_time = store.sample_history("p", "time", ["loss"], x="_timestamp", samples=3)["loss"]
    assert by_time["x"] == [1000.0, 1001.0, 1002.0] and by_time["x_key"] == "_timestamp"
    assert store.sample_history("p", "time", ["loss"], x="_runtime", samples=1)["loss"]["max"] == [7.0]


def test_checkpoint_rows_count_once_in_keys_and_samples(store: Any) -> None:
    """A row saved early as a checkpoint (``_partial``) and later replaced (``_replaces``) counts
    once: only the final row is read, sampled and counted."""
    rows = [
        {"_step": 0, "loss": 1.0},
        {"_step": 1, "loss": 50.0, "_partial": "w:1"},
        {"_step": 1, "loss": 60.0, "_partial": "w:1"},
        {"_step": 1, "loss": 2.0, "acc": 0.5, "_replaces": "w:1"},
        {"_step": 2, "loss": 3.0, "_partial": "w:2"},  # never replaced: the last checkpoint counts
    ]
    make_run(store, "p", "cp", rows=rows)
    assert [(r["_step"], r["loss"]) for r in store.scan_history("p", "cp")] == [(0, 1.0), (1, 2.0), (2, 3.0)]
    assert store.history_keys("p", "cp")["loss"] == {"count": 3, "first_step": 0, "last_step": 2, "type": "number"}
    series = store.sample_history("p", "cp", ["loss"], samples=1)["loss"]
    assert series["total"] == 3 and series["max"] == [3.0] and series["first"] == [1.0] and series["last"] == [3.0]


def test_rows_a_rewind_superseded_are_hidden_unless_asked_for(store: Any) -> None:
    """After ``resume_from_step=2`` the old steps 3-4 are left out of scans and samples by default."""
    old = _rows([0.0, 1.0, 2.0, 30.0, 40.0])
    new = [{"_step": 3, "_timestamp": 2000.0, "_runtime": 9.0, "loss": 3.0},
           {"_step": 4, "_timestamp": 2001.0, "_runtime": 10.0, "loss": 4.0}]
    make_run(store, "p", "rw", rows=[*old, {"_rewind": 2, "_writer": "w2", "_timestamp": 1999.0}, *new])
    assert [r["loss"] for r in store.scan_history("p", "rw")] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert len(list(store.scan_history("p", "rw", include_superseded=True))) == 7
    series = store.sample_history("p", "rw", ["loss"], samples=5)["loss"]
    assert series["total"] == 5 and max(series["max"]) == 4.0
    assert store.sample_history("p", "rw", ["loss"], samples=5, include_superseded=True)["loss"]["total"] == 7
    assert store.history_keys("p", "rw")["loss"]["count"] == 5


def test_history_of_a_missing_run_is_run_not_found(store: Any) -> None:
    """Asking for a run that does not exist names it."""
    for call in (lambda: store.history_keys("p", "nope"), lambda: list(store.scan_history("p", "nope")),
                 lambda: store.sample_history("p", "nope", ["x"]), lambda: store.list_files("p", "nope")):
        with pytest.raises(trackkit.RunNotFoundError):
            call()


# -- files and the system stream ---------------------------------------------------------------------
def test_files_are_put_replaced_listed_and_read(store: Any, tmp_path: Path) -> None:
    """A run's files: put from a path, bytes or a file object, replaced by name, listed and read back."""
    sink = make_run(store, "p", "f", close=False)
    source = tmp_path / "diff.patch"
    source.write_bytes(b"--- a\n+++ b\n")
    info = sink.put_file("diff.patch", str(source))
    assert info["name"] == "diff.patch" and info["size"] == 12
    sink.put_file("checkpoints/epoch=1.ckpt", io.BytesIO(b"\x00" * 1000))
    sink.put_file("output.log", b"line 1\n")
    sink.put_file("output.log", b"line 1\nline 2\n")
    sink.close()
    store.put_file("p", "f", "notes/readme.txt", b"hello")
    listed = store.list_files("p", "f")
    assert [(f["name"], f["size"]) for f in listed] == [
        ("checkpoints/epoch=1.ckpt", 1000), ("diff.patch", 12), ("notes/readme.txt", 5), ("output.log", 14)]
    assert all(isinstance(f["updated_at"], float) for f in listed)
    with store.open_file("p", "f", "output.log") as handle:
        assert handle.read() == b"line 1\nline 2\n"
    with store.open_file("p", "f", "checkpoints/epoch=1.ckpt") as handle:
        assert handle.read() == b"\x00" * 1000
    with pytest.raises(trackkit.RunNotFoundError):
        store.open_file("p", "f", "missing.txt")


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/../../b", "", "..", "a\\b"])
def test_a_file_name_that_leaves_the_run_is_refused(store: Any, name: str) -> None:
    """Absolute names and names with '..' are a UsageError, never a write outside the run."""
    make_run(store, "p", "f")
    with pytest.raises(trackkit.UsageError):
        store.put_file("p", "f", name, b"x")
    assert store.list_files("p", "f") == []


def test_system_metrics_are_a_stream_apart_from_history(store: Any) -> None:
    """System rows are read and sampled by wall time and never show in the history or its keys."""
    sink = make_run(store, "p", "sys", rows=_rows([1.0, 2.0]), close=False)
    sink.append_system([{"_timestamp": 1000.0 + i, "cpu": 10.0 * i, "gpu.0.util": 50.0} for i in range(10)])
    sink.append_system([{"_timestamp": 1010.0, "cpu": 100.0}])
    sink.close()
    rows = list(store.scan_system("p", "sys"))
    assert len(rows) == 11 and rows[-1] == {"_timestamp": 1010.0, "cpu": 100.0}
    sampled = store.sample_system("p", "sys", samples=5)
    assert sorted(sampled) == ["cpu", "gpu.0.util"]
    assert sampled["cpu"]["total"] == 11 and sampled["cpu"]["max"][-1] == 100.0 and sampled["cpu"]["x_key"] == "_timestamp"
    assert store.sample_system("p", "sys", keys=["cpu"], samples=1)["cpu"]["min"] == [0.0]
    assert "cpu" not in store.history_keys("p", "sys")
    assert all("cpu" not in row for row in store.scan_history("p", "sys"))
