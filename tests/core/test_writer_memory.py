"""The writer keeps pace: a bounded queue with backpressure, and a fast encoder that loses no value.

Timings and peak memory are measured by `tox -e bench`, never asserted here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import trackkit
from trackkit import _run
from trackkit._jsonl import encode_row, encode_rows
from trackkit.testing import MemoryStore


class _SlowSink:
    """A sink whose history appends take a while, like a slow disk."""

    def __init__(self, inner: Any, delay: float, fail: bool = False) -> None:
        self._inner = inner
        self._delay = delay
        self._fail = fail
        self.batches: list[int] = []

    def append_history(self, rows: Sequence[dict[str, Any]]) -> None:
        time.sleep(self._delay)
        if self._fail:
            raise OSError(28, "No space left on device")
        self.batches.append(len(rows))
        self._inner.append_history(rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _SlowStore(MemoryStore):
    def __init__(self, delay: float, fail: bool = False) -> None:
        super().__init__()
        self._delay, self._fail = delay, fail
        self.sinks: list[_SlowSink] = []

    def open_run(self, project: str, run_id: str, *, resume: str | None) -> Any:
        sink, state = super().open_run(project, run_id, resume=resume)
        slow = _SlowSink(sink, self._delay, self._fail)
        self.sinks.append(slow)
        return slow, state


@pytest.fixture
def small_queue(monkeypatch: pytest.MonkeyPatch) -> int:
    """A queue bound of 256 rows (TRACKKIT_MAX_QUEUED_ROWS), the writer woken from 128 rows."""
    monkeypatch.setenv("TRACKKIT_MAX_QUEUED_ROWS", "256")
    monkeypatch.setattr(_run, "WAKE_WRITER_AT", 128)
    return 256


def test_log_waits_for_a_slow_writer_so_memory_stays_bounded(small_queue: int) -> None:
    """Past the bound, log() waits for the writer: the queue never grows beyond it, the waits are
    counted, and every row is written once, in order."""
    store = _SlowStore(delay=0.005)
    run = trackkit.init(project="p", id="slow", store=store)
    longest = 0
    for step in range(3000):
        run.log({"loss": 1.0 / (step + 1), "acc": step / 3000})
        longest = max(longest, len(run._writer.queue))
    waits = run._writer.backpressure_waits
    run.finish()
    assert longest <= small_queue + 128  # log() checks the bound every 128 rows
    assert waits > 0
    rows = list(trackkit.Api(store=store).run("p/slow").scan_history())
    assert [row["_step"] for row in rows] == list(range(3000))
    assert max(store.sinks[0].batches) <= 1000  # written in chunks, not one batch of everything


def test_log_never_waits_for_a_store_that_fails(small_queue: int) -> None:
    """A failing store slows nothing: rows are kept in memory for the retry, and log() goes on."""
    store = _SlowStore(delay=0.001, fail=True)
    run = trackkit.init(project="p", id="broken", store=store)
    with pytest.warns(trackkit.StorageWarning):
        for step in range(2000):
            run.log({"loss": float(step)})
        waits = run._writer.backpressure_waits
        run.finish()
    assert waits <= 1  # at most the one wait that was under way when the first failure came


def test_a_fast_loop_on_the_local_store_keeps_every_row(small_queue: int) -> None:
    """A tight loop with a small queue bound still writes every row exactly once, in order."""
    with trackkit.init(project="p", id="fast") as run:
        for step in range(5000):
            run.log({f"m{j}": step + j * 0.5 for j in range(10)})
    rows = list(trackkit.Api().run("p/fast").scan_history())
    assert [row["_step"] for row in rows] == list(range(5000))
    assert rows[1234]["m3"] == 1235.5


def test_non_finite_and_odd_values_survive_the_fast_encoder(isolated_store: Path) -> None:
    """NaN, ±inf, None, ints beyond 64 bits and the text "null" read back exactly (orjson would write null)."""
    values = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "none": None, "big": 2**70,
              "text": "null and void", "nested": [1.0, math.nan], "neg0": -0.0, "tiny": 5e-324, "uni": "héllo ✓"}
    with trackkit.init(project="p", id="odd") as run:
        run.log({"loss": 0.25})
        run.log(values)
        run.log({"loss": 0.125})
    rows = list(trackkit.Api().run("p/odd").scan_history())
    odd = rows[1]
    assert math.isnan(odd["nan"]) and odd["inf"] == math.inf and odd["ninf"] == -math.inf
    assert odd["none"] is None and odd["big"] == 2**70 and odd["text"] == "null and void"
    assert odd["nested"][0] == 1.0 and math.isnan(odd["nested"][1])
    assert math.copysign(1.0, odd["neg0"]) == -1.0 and odd["tiny"] == 5e-324 and odd["uni"] == "héllo ✓"
    assert [rows[0]["loss"], rows[2]["loss"]] == [0.25, 0.125]


def test_encoded_rows_read_back_equal_with_the_standard_library() -> None:
    """Every line the writer produces is JSON that json.loads turns back into the same row."""
    rows = [{"a": i * 0.1, "b": i, "s": f"r{i}", "f": i % 2 == 0} for i in range(100)]
    rows[7]["a"] = math.inf
    payload = encode_rows(rows)
    assert payload.endswith(b"\n") and payload.count(b"\n") == 100
    back = [json.loads(line) for line in payload.splitlines()]
    assert back[:7] == rows[:7] and back[8:] == rows[8:] and back[7]["a"] == math.inf
    assert json.loads(encode_row({"x": math.nan}))["x"] != json.loads(encode_row({"x": math.nan}))["x"]  # NaN, not null
