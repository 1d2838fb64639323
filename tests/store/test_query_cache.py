"""The local store answers ``query_runs`` from cached documents and a memo of sorted, filtered runs;
these tests hold it to the answers of a plain sort and to every edit a user or a writer makes."""

from __future__ import annotations

import math
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

import trackkit
from trackkit._local_store import LocalStore
from trackkit._query import QueryMemo, query_documents

ORDERS: list[Any] = [None, "config.x", "-config.x", "summary.loss", "-summary.loss", "name", "-created_at",
                     ["config.kind", "-summary.loss"], "config.missing"]
FILTERS: list[Any] = [None, {"config.x": {"$gt": 2}}, {"state": "finished"}, {"tags": "a"},
                      {"$or": [{"config.kind": "b"}, {"summary.loss": {"$lt": 0.5}}]}, {"config.x": {"$exists": False}}]


def _documents(count: int, seed: int) -> list[dict[str, Any]]:
    """Run documents with numbers, strings, booleans, NaN, infinities, None and missing keys."""
    rng = random.Random(seed)
    values = [1, 2.5, -3, 3, math.nan, math.inf, -math.inf, "a", "b", True, False, None, [1], 0]
    out = []
    for index in range(count):
        config: dict[str, Any] = {"kind": rng.choice(["a", "b", "c"])}
        if rng.random() < 0.8:
            config["x"] = rng.choice(values)
        summary: dict[str, Any] = {"loss": rng.choice([rng.random(), math.nan, None, 0.25])} if rng.random() < 0.9 else {}
        out.append({"id": f"r{index:03d}", "name": rng.choice(["alpha", "beta", f"n{index}"]), "project": "p",
                    "state": rng.choice(["finished", "running", "crashed"]), "tags": rng.sample(["a", "b", "c"], rng.randint(0, 2)),
                    "created_at": rng.choice([float(index), 5.0, None]), "config": config, "summary": summary})
    return out


def _ids(page: dict[str, Any]) -> list[str]:
    return [r["id"] for r in page["runs"]]


def test_the_memo_answers_like_a_plain_query_while_documents_come_and_go() -> None:
    """For every order and filter, a memo's page equals ``query_documents`` over the same documents,
    on a first query, a repeated one, and after a settled document is replaced, added or removed."""
    documents = _documents(120, seed=7)
    settled, live = documents[:110], documents[110:]
    memo, small = QueryMemo(size=100), QueryMemo(size=4)  # the small one evicts as it goes

    def check() -> None:
        for filters in FILTERS:
            for order in ORDERS:
                for limit, offset in ((None, 0), (10, 5)):
                    expected = query_documents(settled + live, filters, order, limit, offset)
                    for each in (memo, small):
                        got = each.query(settled, live, filters, order, limit, offset)
                        assert got["total"] == expected["total"], (filters, order)
                        assert _ids(got) == _ids(expected), (filters, order, limit, offset)

    check()
    check()  # served from the memo
    changed = dict(settled[3], config={"kind": "b", "x": 100}, summary={"loss": -1.0}, tags=["a"])
    settled = [*settled[:3], changed, *settled[4:]]  # an edited run: a new document object
    check()
    settled = settled[:50] + settled[51:] + [_documents(1, seed=99)[0] | {"id": "new"}]  # one removed, one added
    check()
    live = live + [dict(settled[0], id="z-live")]
    check()


def test_missing_and_nan_stay_last_in_both_directions() -> None:
    """The ordering rule holds through the memo: numbers by value, then strings, then booleans; NaN and
    missing values last whether ascending or descending, live runs included."""
    settled = [{"id": f"s{i}", "created_at": float(i), "config": {"x": x}} for i, x in enumerate([3, math.nan, "b", True, 1])]
    settled.append({"id": "s9", "created_at": 9.0, "config": {}})
    live = [{"id": "l1", "created_at": 10.0, "config": {"x": 2}}, {"id": "l2", "created_at": 11.0, "config": {"x": math.nan}}]
    memo = QueryMemo()
    up = [r["config"].get("x") for r in memo.query(settled, live, order="config.x")["runs"]]
    down = [r["config"].get("x") for r in memo.query(settled, live, order="-config.x")["runs"]]
    assert up[:5] == [1, 2, 3, "b", True] and len(up) == 8
    assert down[:5] == [3, 2, 1, "b", True]
    for values in (up, down):
        assert all(v is None or (isinstance(v, float) and math.isnan(v)) for v in values[5:])


def _age(root: Path, project: str, seconds: float = 3600) -> None:
    """Date every run directory back, as if the runs finished an hour ago: the store may now cache
    their documents (a directory changed in the last two seconds is always read again)."""
    past = time.time() - seconds
    for entry in os.scandir(root / project):
        if entry.is_dir():
            os.utime(entry.path, (past, past))


@pytest.fixture
def sweep(isolated_store: Path) -> list[str]:
    ids = []
    for index in range(12):
        run = trackkit.init(project="sweep", config={"lr": 0.1 / (index + 1), "seed": index}, tags=["base"])
        run.log({"loss": 1.0 / (index + 1)})
        run.finish()
        ids.append(run.id)
    _age(isolated_store, "sweep")
    return ids


def test_edits_of_finished_runs_show_on_the_next_query(isolated_store: Path, sweep: list[str]) -> None:
    """Tags, notes, config and summary edited through the Api are seen by the very next query, sorted
    and filtered, even though the same queries were just answered from the cache."""
    api = trackkit.Api()
    for _ in range(2):  # warm: the documents and the sorted, filtered lists are cached
        assert [r.id for r in api.runs("sweep", order="summary.loss")][0] == sweep[-1]
        assert len(api.runs("sweep", filters={"tags": "best"})) == 0
    edited = api.run(f"sweep/{sweep[0]}")
    edited.tags = ["base", "best"]
    edited.notes = "the one"
    edited.summary["loss"] = -1.0
    edited.config["lr"] = 9.0
    edited.update()
    _age(isolated_store, "sweep", 1800)  # settled at once: the edited run is cached again, as a new document
    assert [r.id for r in api.runs("sweep", filters={"tags": "best"})] == [sweep[0]]
    first = api.runs("sweep", order="summary.loss")[0]
    assert (first.id, first.notes, first.summary["loss"]) == (sweep[0], "the one", -1.0)
    assert [r.id for r in api.runs("sweep", order="-config.lr")][0] == sweep[0]
    edited.tags = ["base"]
    edited.update()  # and back, within the two seconds in which a changed directory is always read
    assert len(api.runs("sweep", filters={"tags": "best"})) == 0


def test_a_live_writer_and_new_or_deleted_runs_show_on_the_next_query(isolated_store: Path, sweep: list[str]) -> None:
    """A running run's tags and summary, set by its own process, show on the next query; so does a run
    the Api edits while it trains, a new run, and a deleted one disappears."""
    store = LocalStore(isolated_store)
    assert store.query_runs("sweep", order=["summary.loss"], limit=1)["runs"][0]["id"] == sweep[-1]
    run = trackkit.init(project="sweep", config={"lr": 0.5, "seed": 99}, tags=["live"])
    run.log({"loss": -5.0})
    run.flush()
    page = store.query_runs("sweep", order=["summary.loss"], limit=1)
    assert page["total"] == 13 and page["runs"][0]["id"] == run.id
    assert page["runs"][0]["state"] == "running"
    run.tags = ("live", "tuned")
    run.log({"loss": 10.0})
    run.flush()
    assert store.query_runs("sweep", filters={"tags": "tuned"})["total"] == 1
    assert store.query_runs("sweep", order=["-summary.loss"], limit=1)["runs"][0]["id"] == run.id
    edited = trackkit.Api().run(f"sweep/{run.id}")
    edited.notes = "edited while training"
    edited.update()
    assert store.query_runs("sweep", filters={"notes": "edited while training"})["total"] == 1
    run.finish()
    assert store.query_runs("sweep", filters={"state": "running"})["total"] == 0
    store.delete_run("sweep", sweep[-1])
    page = store.query_runs("sweep", order=["summary.loss"])
    assert sweep[-1] not in [r["id"] for r in page["runs"]] and page["total"] == 12


def test_a_page_a_caller_changes_does_not_change_the_next_answer(isolated_store: Path, sweep: list[str]) -> None:
    """Runs handed out by ``query_runs`` are copies: changing one leaves the cached answer alone."""
    store = LocalStore(isolated_store)
    page = store.query_runs("sweep", order=["config.seed"], limit=3)
    page["runs"][0]["config"]["seed"] = 1000
    page["runs"][0]["tags"].append("mutated")
    again = store.query_runs("sweep", order=["config.seed"], limit=3)
    assert again["runs"][0]["config"]["seed"] == 0 and again["runs"][0]["tags"] == ["base"]
