"""Every logged row is read back exactly once: the history index failing after the rows are on disk
(a module that cannot be imported mid-run, e.g. a package upgraded under a running job) must not make
the writer retry, and so write, the batch again; readers that scan while the writer appends and the
index flushes see each row once, in order."""

from __future__ import annotations

import sys
import threading
import warnings

import pytest

import trackkit
from trackkit import _index_files


@pytest.fixture(autouse=True)
def fast_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKKIT_FLUSH_INTERVAL", "0.05")


def _steps(run_id: str) -> list[int]:
    return [row["_step"] for row in trackkit.Api().run(f"p/{run_id}").scan_history() if "loss" in row]


def test_an_index_that_fails_to_import_once_costs_no_duplicate_row(monkeypatch) -> None:
    """The index module unimportable for one write cycle, then back: rows 2, 4, 6 are written once
    (they were written twice, read back as 2, 4, 6, 2, 4, 6, 8, 10), and no warning is shown."""
    run = trackkit.init(project="p", id="import-once")
    with warnings.catch_warnings():
        warnings.simplefilter("error", trackkit.StorageWarning)  # the rows were saved: nothing to warn about
        monkeypatch.setitem(sys.modules, "trackkit._index_files", None)  # `from ._index_files import` raises
        for step in (2, 4, 6):
            run.log({"loss": 1.0 / step}, step=step)
        assert run.flush()
        monkeypatch.setitem(sys.modules, "trackkit._index_files", _index_files)
        for step in (8, 10):
            run.log({"loss": 1.0 / step}, step=step)
        run.finish()
    assert _steps("import-once") == [2, 4, 6, 8, 10]
    api_run = trackkit.Api().run("p/import-once")
    assert api_run.history_keys()["loss"]["count"] == 5  # the index caught up with the rows it missed
    assert api_run.summary["loss"] == pytest.approx(0.1)


def test_an_index_that_always_fails_costs_no_row_and_no_duplicate(monkeypatch) -> None:
    """The index writer failing on every append and at close: each row once, the run finished and
    its lock released (it can be resumed), and readers still answer keys and samples."""

    class Broken:
        def __init__(self, run_dir: str) -> None:
            self.run_dir = run_dir

        def appended(self, rows: object, start: int, end: int) -> None:
            raise RuntimeError("index writer broken")

        def flush(self) -> None:
            raise RuntimeError("index writer broken")

    real_writer = _index_files.IndexWriter
    monkeypatch.setattr(_index_files, "IndexWriter", Broken)
    with trackkit.init(project="p", id="always") as run:
        for step in range(1, 301):
            run.log({"loss": 1.0 / step}, step=step)
    assert _steps("always") == list(range(1, 301))
    monkeypatch.setattr(_index_files, "IndexWriter", real_writer)  # readers and the resumed run index again
    api_run = trackkit.Api().run("p/always")
    assert api_run.state == "finished"
    assert api_run.history_keys()["loss"]["count"] == 300
    assert len(api_run.history(keys=["loss"], samples=10, pandas=False)) == 10
    with trackkit.init(project="p", id="always", resume="must") as again:
        again.log({"loss": 0.0}, step=301)
    assert _steps("always") == list(range(1, 302))


def test_readers_scanning_while_the_index_flushes_see_each_row_once(monkeypatch) -> None:
    """A reader scanning, listing keys and sampling while rows are appended and the index is flushed
    every few rows: every scan is an increasing run of steps 0..n-1, never a row twice or a gap."""
    monkeypatch.setattr(_index_files.IndexWriter, "FLUSH_ROWS", 7)
    run = trackkit.init(project="p", id="live")
    stop = threading.Event()
    problems: list[str] = []
    scans = 0

    def read() -> None:
        nonlocal scans
        while not stop.is_set():
            try:
                api_run = trackkit.Api().run("p/live")
                steps = [row["_step"] for row in api_run.scan_history() if "loss" in row]
                if steps != list(range(len(steps))):
                    problems.append(f"scan: {steps[:20]}... ({len(steps)} rows)")
                api_run.history_keys()
                api_run.history(keys=["loss"], samples=20, pandas=False)
                scans += 1
            except Exception as error:  # noqa: BLE001 - any reader error is a failure
                problems.append(repr(error))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for step in range(2_000):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
            if step % 100 == 0:
                run.flush()
    finally:
        run.finish()
        stop.set()
        reader.join(60)
    assert not problems, problems[:5]
    assert scans > 0
    assert _steps("live") == list(range(2_000))
    assert trackkit.Api().run("p/live").history_keys()["loss"]["count"] == 2_000
