"""finish() is bounded: fast after a long run, and never hangs on a stalled store."""

from __future__ import annotations

import threading
import time

import pytest

import trackkit
from trackkit._local_store import LocalRunSink


def test_finish_after_200k_steps_completes_in_seconds():
    """After 200,000 logged steps, finish() writes them all within seconds and every row reads back."""
    run = trackkit.init(project="p", id="long", config={"steps": 200_000})
    for step in range(200_000):
        run.log({"loss": 1.0 / (step + 1), "lr": 0.001})
    started = time.monotonic()
    run.finish()
    assert time.monotonic() - started < 30  # generous: it takes well under a second here
    api_run = trackkit.Api().run("p/long")
    steps = [row["_step"] for row in api_run.scan_history()]
    assert steps == list(range(200_000))
    assert api_run.state == "finished"
    assert api_run.summary["loss"] == pytest.approx(1 / 200_000)


def test_finish_gives_up_on_a_stalled_store_with_a_warning(monkeypatch):
    """With a store that stops answering, finish() returns after TRACKKIT_FINISH_TIMEOUT with a warning
    saying how many rows may be lost, instead of hanging the process."""
    monkeypatch.setenv("TRACKKIT_FINISH_TIMEOUT", "1")
    release = threading.Event()
    original = LocalRunSink.append_history

    def stalled(sink, rows):
        release.wait()
        original(sink, rows)

    monkeypatch.setattr(LocalRunSink, "append_history", stalled)
    run = trackkit.init(project="p", id="stalled")
    try:
        for step in range(1000):
            run.log({"x": step})
        started = time.monotonic()
        with pytest.warns(trackkit.StorageWarning, match=r"finish\(\) gave up after 1s.*may not be saved"):
            run.finish()
        assert time.monotonic() - started < 20  # generous: the bound is 1 s
        assert run.state == "finished"
    finally:
        release.set()
        run._writer._thread.join(10)


def test_flush_with_a_stalled_store_returns_false_after_its_timeout(monkeypatch):
    """run.flush(timeout) on a stalled store returns False after the timeout rather than blocking."""
    release = threading.Event()
    monkeypatch.setattr(LocalRunSink, "append_history", lambda sink, rows: release.wait())
    run = trackkit.init(project="p", id="stalled-flush")
    try:
        run.log({"x": 1})
        assert run.flush(timeout=0.5) is False
    finally:
        release.set()
        run.finish()
