"""Resuming a run, the path every preempted job takes: kill -9 (or finish), then a fresh process
calls ``init(id=..., resume="allow")``. Rows, config, summary and runtime must all continue."""

from __future__ import annotations

import pytest

import trackkit

# The script of issue 8: a row left waiting at its step is saved early (as a checkpoint), the
# process is killed, and the resumed process saves a waiting row of its own the same way.
KILLED_THEN_RESUMED = """
import os, sys, time, signal, trackkit
if sys.argv[1] == "first":
    run = trackkit.init(project="p", id="job"); run.log({"loss": .9})
    run.log({"val_acc": .70}, step=1); time.sleep(2.5); os.kill(os.getpid(), signal.SIGKILL)
run = trackkit.init(project="p", id="job", resume="allow")
run.log({"val_acc": .75}, step=2); time.sleep(2.5)
if sys.argv[1] == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
run.log({"loss": .5}, step=3); run.finish()
"""


def _steps(path: str, key: str) -> list[tuple[int, object]]:
    return [(row["_step"], row.get(key)) for row in trackkit.Api().run(path).scan_history()]


def test_rows_saved_early_survive_a_kill_and_a_resume(run_python):
    """A row saved while it waited at its step, then kill -9: the resumed run keeps it beside its own."""
    run_python(KILLED_THEN_RESUMED, "first", env={"TRACKKIT_FLUSH_INTERVAL": "1"}, check=False)
    run_python(KILLED_THEN_RESUMED, "second", env={"TRACKKIT_FLUSH_INTERVAL": "1"})
    assert _steps("p/job", "val_acc") == [(0, None), (1, 0.70), (2, 0.75), (3, None)]


def test_a_killed_resumed_process_keeps_its_early_rows(run_python):
    """The other order: a clean first process, a resumed one killed while a row waits; both early rows stay."""
    run_python(
        """
        import time, trackkit
        run = trackkit.init(project="p", id="job"); run.log({"val_acc": .70}, step=1)
        time.sleep(2.5); run.finish()
        """,
        env={"TRACKKIT_FLUSH_INTERVAL": "1"},
    )
    run_python(KILLED_THEN_RESUMED, "killed", env={"TRACKKIT_FLUSH_INTERVAL": "1"}, check=False)
    assert _steps("p/job", "val_acc") == [(1, 0.70), (2, 0.75)]


@pytest.fixture(autouse=True)
def _no_leftover_run():
    yield
    assert trackkit.run is None
