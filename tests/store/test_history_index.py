"""The local store's history index answers exactly what the rows answer, and is never trusted blindly:
a missing, damaged or stale index is rebuilt from ``history.jsonl``, the source of truth."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path
from typing import Any

import pytest
from block_rule import sample_by_rule
from protocol_cases import make_run

import trackkit
from trackkit.testing import MemoryStore


def _history(seed: int, n: int) -> list[dict[str, Any]]:
    """Rows with gaps, repeated steps, NaN/inf/text values, a sparse epoch key and checkpoints."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    step = 0
    for i in range(n):
        row: dict[str, Any] = {"_step": step, "_timestamp": 1000.0 + i / 4, "_runtime": i / 4}
        if rng.random() < 0.9:
            row["loss"] = rng.gauss(0, 1) if rng.random() < 0.9 else rng.choice([math.nan, math.inf, -math.inf, 7, "text"])
        if rng.random() < 0.3:
            row["acc"] = rng.random()
        if rng.random() < 0.05:
            row["epoch"] = i // 50
        if rng.random() < 0.01:
            rows.append({**row, "loss": 1e6, "_partial": f"w:{i}"})
            if rng.random() < 0.7:
                row["_replaces"] = f"w:{i}"
        rows.append(row)
        step += rng.random() < 0.9
    return rows


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _write(store: Any, rows: list[dict[str, Any]], seed: int, close: bool = True) -> Any:
    rng = random.Random(seed)
    sink, _ = store.open_run("p", "r", resume=None)
    sink.write_meta({"id": "r", "state": "finished" if close else "running"})
    index = 0
    while index < len(rows):
        size = rng.randint(1, 700)
        sink.append_history(rows[index: index + size])
        index += size
    if close:
        sink.close()
    return sink


@pytest.mark.parametrize("seed", range(6))
def test_the_index_samples_exactly_as_the_rows_do(tmp_path: Path, seed: int) -> None:
    """Sampled series and history keys from the index equal the ones computed from the rows (by the
    block rule where buckets are wide: the same answer as the rule written out plainly)."""
    rows = _history(seed, random.Random(seed).choice([1, 300, 5000, 20000]))
    local, memory = trackkit.LocalStore(tmp_path / "s"), MemoryStore()
    _write(local, rows, seed)
    _write(memory, rows, seed)
    assert local.history_keys("p", "r") == memory.history_keys("p", "r")
    for x in ("_step", "_timestamp", "epoch"):
        for samples, start, stop in ((1, None, None), (7, None, None), (100, None, None), (1000, None, None), (50, 100, 3000)):
            expected = memory.sample_history("p", "r", ["loss", "acc", "nope"], x=x, samples=samples, start=start, stop=stop)
            if x != "epoch":  # along a row axis, wide buckets take whole blocks (the rule of _block_sampling)
                expected = sample_by_rule(rows, expected, x, samples)
            got = local.sample_history("p", "r", ["loss", "acc", "nope"], x=x, samples=samples, start=start, stop=stop)
            assert _same(got, expected), (x, samples, start, stop)


def _expected(tmp_path: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    memory = MemoryStore()
    _write(memory, rows, 0)
    return memory.sample_history("p", "r", ["loss"], samples=100)


def test_a_missing_or_damaged_index_is_rebuilt(tmp_path: Path) -> None:
    """Deleting the index, cutting a column file short or garbling meta.json changes no answer."""
    rows = _history(1, 10_000)
    expected = _expected(tmp_path, rows)
    store = trackkit.LocalStore(tmp_path / "s")
    _write(store, rows, 1)
    index = tmp_path / "s" / "p" / "r" / "index"
    assert (index / "meta.json").exists()
    for damage in ("truncate", "meta", "delete"):
        if damage == "truncate":
            (index / "k0.v").write_bytes((index / "k0.v").read_bytes()[:100])
        elif damage == "meta":
            (index / "meta.json").write_text("{not json")
        else:
            for name in os.listdir(index):
                os.unlink(index / name)
        fresh = trackkit.LocalStore(tmp_path / "s")
        for _ in range(2):  # a damaged column is found when read: that answer comes from the rows, the next from a rebuilt index
            assert _same(fresh.sample_history("p", "r", ["loss"], samples=100), expected), damage
        assert json.loads((index / "meta.json").read_text())["history_size"] == os.path.getsize(index.parent / "history.jsonl")


def test_an_index_of_a_rewritten_history_is_not_trusted(tmp_path: Path) -> None:
    """A history replaced by other rows of the same length is re-read, not answered from the old index."""
    store = trackkit.LocalStore(tmp_path / "s")
    make_run(store, "p", "r", rows=[{"_step": i, "loss": 1.0} for i in range(1000)])
    history = tmp_path / "s" / "p" / "r" / "history.jsonl"
    history.write_bytes(history.read_bytes().replace(b'"loss":1.0', b'"loss":2.0'))
    assert trackkit.LocalStore(tmp_path / "s").sample_history("p", "r", ["loss"], samples=1)["loss"]["max"] == [2.0]
    meta = json.loads((history.parent / "index" / "meta.json").read_text())
    assert meta["fingerprint"] == history.read_bytes()[-32:].hex()  # rebuilt for the new bytes, not left stale


def test_a_run_being_written_is_sampled_up_to_its_last_row(tmp_path: Path) -> None:
    """Rows appended but not yet flushed to the index are read from the history's tail."""
    store = trackkit.LocalStore(tmp_path / "s")
    rows = _history(2, 3000)
    sink = _write(store, rows, 2, close=False)
    try:
        expected = _expected(tmp_path, rows)
        assert _same(store.sample_history("p", "r", ["loss"], samples=100), expected)
        more = [{"_step": 10_000 + i, "loss": 99.0} for i in range(10)]
        sink.append_history(more)
        assert store.sample_history("p", "r", ["loss"], samples=100)["loss"]["max"][-1] == 99.0
    finally:
        sink.close()


def test_a_resumed_run_keeps_its_index_in_step(tmp_path: Path) -> None:
    """Resuming appends to the same index: the keys count both sessions."""
    store = trackkit.LocalStore(tmp_path / "s")
    with trackkit.init(project="p", id="r", store=store) as run:
        for _ in range(100):
            run.log({"loss": 1.0})
    with trackkit.init(project="p", id="r", resume="must", store=store) as run:
        for _ in range(50):
            run.log({"loss": 2.0})
    assert store.history_keys("p", "r")["loss"] == {"count": 150, "first_step": 0, "last_step": 149, "type": "number"}
    series = store.sample_history("p", "r", ["loss"], samples=2)["loss"]
    assert series["count"] == [75, 75] and series["max"] == [1.0, 2.0]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc")
def test_charting_many_runs_holds_no_file_open(tmp_path: Path) -> None:
    """Sampling keys of many runs reads the index files and closes them: no descriptor per column."""
    store = trackkit.LocalStore(tmp_path / "s")
    for number in range(20):
        make_run(store, "p", f"r{number}", rows=[{"_step": i, "a": float(i), "b": 1.0, "c": 2.0} for i in range(300)])
    before = len(os.listdir("/proc/self/fd"))
    for number in range(20):
        assert store.sample_history("p", f"r{number}", ["a", "b", "c"], samples=10)["a"]["total"] == 300
    assert len(os.listdir("/proc/self/fd")) <= before + 2
