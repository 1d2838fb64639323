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


def test_resume_keeps_the_saved_config_over_config_defaults(run_python, work):
    """config-defaults.yaml only fills keys a resumed run lacks; init(config=) on resume is an update,
    and passing the same values again records no change."""
    (work / "config-defaults.yaml").write_text("batch: 32\nlr: 0.1\n")
    run_python(
        """
        import trackkit
        run = trackkit.init(project="p", id="job", config={"batch": 64})
        run.config.lr = 0.05
        run.finish()
        """
    )
    resumed = """
        import json, sys, trackkit
        config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else None
        run = trackkit.init(project="p", id="job", resume="allow", config=config)
        print(json.dumps(run.config.as_dict()))
        run.finish()
        """
    assert run_python(resumed).stdout.strip() == '{"batch": 64, "lr": 0.05}'
    assert run_python(resumed, '{"batch": 64}').stdout.strip() == '{"batch": 64, "lr": 0.05}'
    (work / "config-defaults.yaml").write_text("batch: 32\nlr: 0.1\ndropout: 0.5\n")
    assert run_python(resumed, '{"lr": 0.01}').stdout.strip() == '{"batch": 64, "lr": 0.01, "dropout": 0.5}'
    run = trackkit.Api().run("p/job")
    assert [(c["key"], c["old"], c["new"], c["source"]) for c in run.config_changes] == [
        ("lr", 0.1, 0.05, "set"),
        ("lr", 0.05, 0.01, "init"),
    ]
    assert run.config == {"batch": 64, "lr": 0.01, "dropout": 0.5}
