"""Api over the store's query side: runs fetched a page at a time, bucketed history, keys, and the
memory store (no files on this machine)."""

from __future__ import annotations

from typing import Any

import pytest

import trackkit
from trackkit.testing import MemoryStore


class CountingStore(MemoryStore):
    """A memory store that remembers each query_runs call's limit and offset."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[tuple[Any, int]] = []

    def query_runs(self, project: Any, filters: Any = None, order: Any = None, limit: Any = None, offset: int = 0,
                   fields: Any = None) -> Any:
        self.queries.append((limit, offset))
        return super().query_runs(project, filters, order, limit, offset, fields)


@pytest.fixture
def store() -> CountingStore:
    """Seven finished runs with acc = 0.1 ... 0.7 in project "p"."""
    store = CountingStore()
    for i in range(7):
        with trackkit.init(project="p", store=store, name=f"r{i}", config={"i": i}) as run:
            run.log({"acc": (i + 1) / 10})
    store.queries.clear()
    return store


def test_runs_are_fetched_a_page_at_a_time(store: CountingStore) -> None:
    """len() asks for one page; iterating fetches growing pages in turn; the order is the query's."""
    runs = trackkit.Api(store=store).runs("p", order="-summary.acc", per_page=3)
    assert store.queries == []  # lazy
    assert len(runs) == 7
    assert store.queries == [(3, 0)]
    assert [run.name for run in runs] == ["r6", "r5", "r4", "r3", "r2", "r1", "r0"]
    assert store.queries == [(3, 0), (24, 3)]  # pages grow: a long listing takes a few queries


def test_runs_index_and_slice_like_a_list(store: CountingStore) -> None:
    """Indexing (negative too) and slicing cross page borders; past the end is an IndexError."""
    runs = trackkit.Api(store=store).runs("p", filters={"config.i": {"$gte": 1}}, order="config.i", per_page=2)
    assert runs[0].config == {"i": 1} and runs[-1].name == "r6" and runs[3].summary["acc"] == pytest.approx(0.5)
    assert [run.name for run in runs[1:5]] == ["r2", "r3", "r4", "r5"]
    assert [run.name for run in runs[::-3]] == ["r6", "r3"]
    with pytest.raises(IndexError):
        runs[6]
    with pytest.raises(trackkit.UsageError):
        trackkit.Api(store=store).runs("p", per_page=0)


def test_a_run_from_a_query_reads_its_metadata_on_demand(store: CountingStore) -> None:
    """A run from runs() has its provenance and metadata, and update() saves edits."""
    run = trackkit.Api(store=store).runs("p", order="config.i")[0]
    assert run.provenance == {"i": "init"} and run.metadata["state"] == "finished"
    run.tags.append("best")
    run.update()
    assert trackkit.Api(store=store).runs("p", filters={"tags": "best"})[0].name == "r0"


def test_projects_come_with_run_counts(store: CountingStore) -> None:
    """Api().projects() lists each project with its runs, none of them running."""
    [project] = trackkit.Api(store=store).projects()
    assert (project.name, project.run_count, project.running) == ("p", 7, 0)
    assert isinstance(project.last_activity, float)


def test_history_with_samples_gives_one_row_per_bucket_and_keeps_a_spike() -> None:
    """history(samples=N): the x column, each key's last value, and <key>/min, <key>/max per bucket."""
    store = MemoryStore()
    with trackkit.init(project="h", store=store) as run:
        for step in range(100):
            run.log({"loss": 1000.0 if step == 37 else float(step), "lr": 0.1, "phase": "train"})
    api_run = trackkit.Api(store=store).run(f"h/{run.id}")
    rows = api_run.history(samples=10, pandas=False)
    assert len(rows) == 10
    assert all(set(row) == {"_step", "loss", "loss/min", "loss/max", "lr", "lr/min", "lr/max"} for row in rows)
    assert [row["_step"] for row in rows] == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]  # the bucket's first step, an int
    spiked = rows[3]
    assert (spiked["loss/max"], spiked["loss/min"], spiked["loss"]) == (1000.0, 30.0, 39.0)
    assert max(row["loss/max"] for row in rows if row is not spiked) < 1000.0
    only = api_run.history(keys=["loss"], samples=5, pandas=False)
    assert len(only) == 5 and set(only[0]) == {"_step", "loss", "loss/min", "loss/max"}
    assert len(api_run.history(pandas=False)) == 100  # no samples: every row, strings included
    with pytest.raises(trackkit.UsageError):
        api_run.history(samples=0)


def test_history_keys_and_scan_history_step_range() -> None:
    """keys() and history_keys() come from the store; scan_history takes min_step/max_step."""
    store = MemoryStore()
    with trackkit.init(project="h", store=store) as run:
        for step in range(10):
            run.log({"loss": step / 10, **({"text": "hi"} if step == 3 else {})})
    api_run = trackkit.Api(store=store).run(f"h/{run.id}")
    assert api_run.keys() == ["loss", "text"]
    info = api_run.history_keys()["loss"]
    assert (info["count"], info["first_step"], info["last_step"], info["type"]) == (10, 0, 9, "number")
    assert [row["_step"] for row in api_run.scan_history(min_step=3, max_step=5)] == [3, 4, 5]
    assert list(api_run.scan_history(keys=["text"])) == [{"_step": 3, "text": "hi"}]


def test_run_dir_is_none_on_a_store_without_files_here(tmp_path) -> None:
    """run.dir is the run's folder in a local store and None in a memory store."""
    with trackkit.init(project="d", store=MemoryStore()) as run:
        assert run.dir is None
    with trackkit.init(project="d", store=tmp_path / "store") as run:
        assert run.dir is not None and (tmp_path / "store" / "d" / run.id).samefile(run.dir)


def test_doctor_on_a_store_without_checks_says_so(capsys) -> None:
    """`trackkit doctor` on a memory store reports that it has nothing to check."""
    from trackkit._cli import main

    assert main(["--store", "memory://doctor-test", "doctor"]) == 0
    assert "no checks of its own" in capsys.readouterr().out


class NoScanStore(MemoryStore):
    """A memory store that refuses to hand whole histories to its callers (its own key index may read them)."""

    reading_keys = False

    def history_keys(self, project: str, run_id: str) -> Any:
        self.reading_keys = True
        try:
            return super().history_keys(project, run_id)
        finally:
            self.reading_keys = False

    def scan_history(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("scan_history called")

    def iter_history(self, *args: Any, **kwargs: Any) -> Any:
        assert self.reading_keys, "iter_history called"
        return super().iter_history(*args, **kwargs)


def test_cli_show_and_runs_read_no_history(capsys) -> None:
    """`trackkit show` and `trackkit runs` answer from the run's documents and key index, never its rows."""
    import argparse

    from trackkit._cli import _cmd_runs, _cmd_show

    store = NoScanStore()
    with trackkit.init(project="s", store=store, config={"lr": 0.1}) as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1)})
    api = trackkit.Api(store=store)
    _cmd_show(api, argparse.Namespace(run=f"s/{run.id}", json=False))
    out = capsys.readouterr().out
    assert "5 rows; keys: loss" in out
    _cmd_runs(api, argparse.Namespace(project="s", filter="config.lr=0.1", sort="-summary.loss", columns="config.lr,config.nope",
                                      json=False))
    table = capsys.readouterr().out
    assert run.id in table and "0.1" in table and table.splitlines()[-1].rstrip().endswith("-")  # a missing column is "-"
