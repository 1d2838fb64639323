"""A chart of a long run on the local store is made of whole blocks of 32 points where buckets are
wide, by one documented rule (``trackkit._block_sampling``, the PostgreSQL store's too): no spike is
hidden, the counts add up, zoomed edges, pauses and dropped checkpoints stay exact, narrow buckets
are exactly the rows' buckets."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from block_rule import sample_by_rule
from protocol_cases import make_run
from test_history_index import _history

import trackkit
from trackkit import _sampling_numpy
from trackkit.testing import MemoryStore

N = 100_000


@pytest.fixture(params=["numpy", "python"])
def both_paths(request: Any) -> Iterator[str]:
    """Each case with numpy's path (the UI server has numpy) and with the pure-Python one."""
    _sampling_numpy.ENABLED = request.param == "numpy"
    yield request.param
    _sampling_numpy.ENABLED = True


def _rows(n: int = N, spike_at: int = 54_321) -> list[dict[str, Any]]:
    return [{"_step": i, "_timestamp": 1e9 + i * 0.5, "_runtime": i * 0.5,
             "loss": 1000.0 if i == spike_at else math.exp(-i / 30_000) + 0.01 * math.sin(i)} for i in range(n)]


def _both(tmp_path: Path, rows: list[dict[str, Any]], close: bool = True) -> tuple[Any, Any]:
    """The run in a local store (its open sink when not ``close``) and in a memory store."""
    local, memory = trackkit.LocalStore(tmp_path / "s"), MemoryStore()
    sink = make_run(local, "p", "r", rows=rows, close=close)
    make_run(memory, "p", "r", rows=rows)
    return (local if close else sink), memory


@pytest.mark.usefixtures("both_paths")
def test_a_long_run_takes_whole_blocks_and_keeps_its_spike(tmp_path: Path) -> None:
    """100,000 steps in 1,000 buckets: each bucket holds whole blocks of 32 points (a block across a
    bucket edge counts left of it), the counts add up to every point, and the spike is a bucket's max."""
    rows = _rows()
    local, memory = _both(tmp_path, rows)
    for x in ("_step", "_timestamp", "_runtime"):
        got = local.sample_history("p", "r", ["loss"], x=x, samples=1000)["loss"]
        exact = memory.sample_history("p", "r", ["loss"], x=x, samples=1000)
        assert got == sample_by_rule(rows, exact, x, 1000)["loss"]
        assert got != exact["loss"]  # the rule, not the exact buckets, at this width
        assert got["total"] == sum(got["count"]) == N
        assert all(count % 32 == 0 for count in got["count"][:-1])  # whole blocks
        assert max(got["max"]) == 1000.0
        hit = got["max"].index(1000.0)  # the spike's bucket: its own, or the one before when its block starts there
        assert got["x"][hit] <= rows[54_321][x] < got["x"][hit + 1]
        assert got["x"][0] == rows[0][x] and got["first"][0] == rows[0]["loss"] and got["last"][-1] == rows[-1]["loss"]


@pytest.mark.usefixtures("both_paths")
def test_a_zoom_is_exact_at_its_edges_and_narrow_buckets_are_exact(tmp_path: Path) -> None:
    """start/stop inside blocks leave out exactly the points outside; a zoom narrow enough to show
    single points gives the rows' buckets exactly."""
    rows = _rows()
    local, memory = _both(tmp_path, rows)
    for samples, start, stop in ((200, 10_003.0, 90_017.0), (600, 20_000.0, 30_000.0), (1000, 54_000.0, 55_000.0)):
        got = local.sample_history("p", "r", ["loss"], samples=samples, start=start, stop=stop)
        exact = memory.sample_history("p", "r", ["loss"], samples=samples, start=start, stop=stop)
        assert got == sample_by_rule(rows, exact, "_step", samples)
        assert got["loss"]["total"] == stop - start + 1 and got["loss"]["x"][0] == start
    assert local.sample_history("p", "r", ["loss"], samples=600, start=20_000, stop=30_000) == \
        memory.sample_history("p", "r", ["loss"], samples=600, start=20_000, stop=30_000)  # 16 points a bucket: exact


@pytest.mark.usefixtures("both_paths")
def test_a_pause_a_dropped_checkpoint_and_nan_are_honoured(tmp_path: Path) -> None:
    """A block spread over many buckets (a pause in wall time) is split point by point; a checkpoint
    row that a later row replaced is left out; NaN is counted, never a min or max."""
    rows = _rows(40_000)
    for i in range(20_000, 40_000):
        rows[i]["_timestamp"] += 5_000.0 if i >= 20_010 else 0.0  # a pause in the middle of a block
    for i in range(30_000, 30_100):
        rows[i]["loss"] = math.nan
    rows[12_345] = {**rows[12_345], "_partial": "w:1", "loss": -1e9}  # dropped: replaced just after
    rows[12_346] = {**rows[12_346], "_replaces": "w:1"}
    local, memory = _both(tmp_path, rows)
    for x in ("_timestamp", "_step"):
        got = local.sample_history("p", "r", ["loss"], x=x, samples=100)
        assert got == sample_by_rule(rows, memory.sample_history("p", "r", ["loss"], x=x, samples=100), x, 100)
        assert min(got["loss"]["min"]) > -1e9 and got["loss"]["total"] == 40_000 - 1
        assert sum(got["loss"]["nan"]) == 100
    narrow = {"samples": 300, "start": 29_000, "stop": 31_000}  # a zoom over the NaN: exact
    assert local.sample_history("p", "r", ["loss"], **narrow) == memory.sample_history("p", "r", ["loss"], **narrow)


@pytest.mark.usefixtures("both_paths")
def test_a_run_being_written_samples_like_a_closed_one(tmp_path: Path) -> None:
    """Rows not yet flushed to the index files (a live run) are bucketed by the same rule."""
    rows = _rows(51_000)
    live, memory = _both(tmp_path, rows[:50_000], close=False)
    live.append_history(rows[50_000:])  # fewer rows than the index writer flushes at: read from the history
    memory_run, _ = memory.open_run("p", "r", resume="allow")
    memory_run.append_history(rows[50_000:])
    got = trackkit.LocalStore(tmp_path / "s").sample_history("p", "r", ["loss"], samples=300)
    assert got == sample_by_rule(rows, memory.sample_history("p", "r", ["loss"], samples=300), "_step", 300)
    assert got["loss"]["total"] == 51_000
    live.close()


@pytest.mark.parametrize("seed", range(4))
def test_numpy_and_python_give_the_same_buckets(tmp_path: Path, seed: int) -> None:
    """Histories with gaps, repeated steps, NaN/inf/text and dropped checkpoints bucket alike with and
    without numpy, wide and narrow, zoomed or not."""
    rows = _history(seed, 40_000)
    store = trackkit.LocalStore(tmp_path / "s")
    make_run(store, "p", "r", rows=rows)
    rng = random.Random(seed)
    for _ in range(6):
        x = rng.choice(["_step", "_timestamp"])
        samples = rng.choice([1, 7, 100, 600, 1000])
        start = rng.choice([None, rng.uniform(0, 20_000) if x == "_step" else 1000 + rng.uniform(0, 5000)])
        stop = None if start is None else start + rng.uniform(0, 20_000)
        answers = []
        for enabled in (True, False):
            _sampling_numpy.ENABLED = enabled
            answers.append(trackkit.LocalStore(tmp_path / "s").sample_history(
                "p", "r", ["loss", "acc"], x=x, samples=samples, start=start, stop=stop))
        _sampling_numpy.ENABLED = True
        assert answers[0] == answers[1], (x, samples, start, stop)
