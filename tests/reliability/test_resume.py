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


def test_resume_after_kill_keeps_min_max_summaries_and_runtime(run_python):
    """define_metric(summary="min"), kill -9, resume, log a worse value: the summary keeps the best,
    the mean covers both processes, and _runtime goes on from where the killed process was."""
    run_python(
        """
        import os, signal, time, trackkit
        run = trackkit.init(project="p", id="job")
        run.define_metric("val_loss", summary="min")
        run.define_metric("acc", summary="max,mean")
        for value in (0.5, 0.1, 0.3):
            run.log({"val_loss": value, "acc": 1 - value})
        time.sleep(1.5)
        run.log({"tick": 1})
        run.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        check=False,
    )
    killed = trackkit.Api().run("p/job")
    assert killed.state == "crashed"
    last_runtime = list(killed.scan_history())[-1]["_runtime"]
    assert last_runtime >= 1.5
    run_python(
        """
        import trackkit
        with trackkit.init(project="p", id="job", resume="allow") as run:
            run.log({"val_loss": 0.4, "acc": 0.6})
            assert run.summary["val_loss"] == 0.1, run.summary
        """
    )
    run = trackkit.Api().run("p/job")
    assert run.summary["val_loss"] == 0.1
    assert run.summary["acc"] == {"max": 0.9, "mean": pytest.approx((0.5 + 0.9 + 0.7 + 0.6) / 4)}
    rows = list(run.scan_history())
    assert [row["_step"] for row in rows] == [0, 1, 2, 3, 4]
    assert rows[-1]["_runtime"] >= last_runtime
    assert run.metadata["runtime"] >= last_runtime


def test_resume_of_a_finished_run_keeps_its_min_summary(run_python):
    """The issue's case: log 0.5, 0.1, 0.3 under summary="min", finish; resume and log 0.4: still 0.1."""
    script = """
        import sys, trackkit
        run = trackkit.init(project="p", id="job", resume="allow")
        run.define_metric("val_loss", summary="min")
        for value in map(float, sys.argv[1:]):
            run.log({"val_loss": value})
        run.finish()
        """
    run_python(script, "0.5", "0.1", "0.3")
    run_python(script, "0.4")
    assert trackkit.Api().run("p/job").summary["val_loss"] == 0.1


REWIND = """
import sys, trackkit
first, last = int(sys.argv[1]), int(sys.argv[2])
kwargs = dict(resume_from_step=int(sys.argv[3])) if len(sys.argv) > 3 else {}
run = trackkit.init(project="p", id="job", resume="allow", **kwargs)
run.define_metric("loss", summary="min")
for step in range(first, last):
    run.log({"loss": 1.0 / (step + 1) + (0.5 if len(sys.argv) <= 3 else 0.0), "phase": len(sys.argv)})
print(run.step)
run.finish()
"""


def test_rewind_supersedes_the_rows_after_the_step(run_python):
    """Training resumed from a checkpoint at step 15 after logging up to 19: the rows 16-19 of the first
    attempt are hidden from history and the summary, kept on disk, and shown with include_superseded."""
    run_python(REWIND, "0", "20")
    assert run_python(REWIND, "16", "25", "15").stdout.split() == ["25"]
    run = trackkit.Api().run("p/job")
    rows = list(run.scan_history())
    assert [row["_step"] for row in rows] == list(range(25))
    assert [row["phase"] for row in rows] == [3] * 16 + [4] * 9
    assert run.summary["loss"] == pytest.approx(1 / 25)
    assert run.summary["phase"] == 4
    everything = list(run.scan_history(include_superseded=True))
    assert [(row["_step"], row.get("_superseded", False)) for row in everything] == (
        [(s, False) for s in range(16)] + [(s, True) for s in range(16, 20)] + [(s, False) for s in range(16, 25)]
    )
    assert run.metadata["rewinds"][0]["step"] == 15


def test_rewind_hides_superseded_rows_from_the_min_summary(run_python):
    """A better value logged only in a superseded row does not stay in a min summary."""
    run_python(
        """
        import trackkit
        with trackkit.init(project="p", id="job") as run:
            run.define_metric("loss", summary="min")
            for loss in (0.9, 0.8, 0.1):
                run.log({"loss": loss})
        """
    )
    run_python(
        """
        import trackkit
        with trackkit.init(project="p", id="job", resume_from="job?_step=1") as run:
            assert run.step == 2, run.step
            run.log({"loss": 0.7})
        """
    )
    run = trackkit.Api().run("p/job")
    assert run.summary["loss"] == 0.7
    assert [row["loss"] for row in run.scan_history()] == [0.9, 0.8, 0.7]


def test_api_edits_of_a_killed_run_survive_its_resume(run_python):
    """Tags, config and summary edited while the run lay crashed are kept by the process that resumes it."""
    run_python(
        """
        import os, signal, trackkit
        run = trackkit.init(project="p", id="job", config={"lr": 0.1}, tags=["first"])
        run.log({"loss": 0.9})
        run.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        check=False,
    )
    crashed = trackkit.Api().run("p/job")
    assert crashed.state == "crashed"
    crashed.tags = ["first", "preempted"]
    crashed.config["lr"] = 0.05
    crashed.summary["note"] = "restarted"
    crashed.update()
    assert trackkit.Api().run("p/job").state == "crashed"  # an edit never changes the state
    run_python(
        """
        import trackkit
        with trackkit.init(project="p", id="job", resume="allow") as run:
            assert run.tags == ("first", "preempted") and run.config.lr == 0.05, (run.tags, run.config)
            run.log({"loss": 0.5})
        """
    )
    run = trackkit.Api().run("p/job")
    assert (run.state, run.tags, run.config["lr"]) == ("finished", ["first", "preempted"], 0.05)
    assert run.summary["note"] == "restarted" and run.summary["loss"] == 0.5


def test_configs_files_apply_on_top_of_a_resumed_config(tmp_path, monkeypatch):
    """--configs (here TRACKKIT_CONFIG_PATHS) on resume changes only the keys it holds, recorded as changes."""
    (tmp_path / "work" / "small.yaml").write_text("batch: 16\n")
    with trackkit.init(project="p", id="job", config={"batch": 64, "lr": 0.1}):
        pass
    monkeypatch.setenv("TRACKKIT_CONFIG_PATHS", "small.yaml")
    with trackkit.init(project="p", id="job", resume="allow") as run:
        assert run.config.as_dict() == {"batch": 16, "lr": 0.1}
    changes = trackkit.Api().run("p/job").config_changes
    assert [(c["key"], c["old"], c["new"], c["source"].split(":")[0]) for c in changes] == [("batch", 64, 16, "file")]
