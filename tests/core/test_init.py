"""trackkit.init(): identity, settings from arguments and environment, modes, lifecycle, resume."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

import trackkit


def test_init_returns_a_running_run_with_identity(isolated_store: Path) -> None:
    """A run has an id, a generated name, a project, the OS user as entity and a directory in the store."""
    run = trackkit.init(project="proj")
    assert run.state == "running"
    assert len(run.id) == 8 and run.id.isalnum()
    assert run.name.count("-") == 2 and run.name.endswith("-1")
    assert run.project == "proj"
    assert run.entity == getpass.getuser()
    assert Path(run.dir).is_dir() and Path(run.dir).is_relative_to(isolated_store)
    assert trackkit.run is run
    run.finish()
    assert run.state == "finished"
    assert trackkit.run is None


def test_explicit_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """TRACKKIT_PROJECT/DIR/RUN_ID apply when no argument is given, and lose to explicit arguments."""
    monkeypatch.setenv("TRACKKIT_PROJECT", "from-env")
    monkeypatch.setenv("TRACKKIT_RUN_ID", "envid123")
    with trackkit.init() as run:
        assert (run.project, run.id) == ("from-env", "envid123")
    with trackkit.init(project="explicit", id="argid", dir=tmp_path / "elsewhere") as run:
        assert (run.project, run.id) == ("explicit", "argid")
        assert Path(run.dir).is_relative_to(tmp_path / "elsewhere")


def test_default_store_is_trackkit_runs_in_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without store=, dir=, TRACKKIT_STORE or TRACKKIT_DIR, runs go to ./trackkit-runs (a name no import can pick up)."""
    monkeypatch.delenv("TRACKKIT_DIR")
    with trackkit.init(project="p") as run:
        pass
    assert Path(run.dir).is_relative_to(Path.cwd() / "trackkit-runs")
    assert [r.id for r in trackkit.Api().runs("p")] == [run.id]


def test_tags_notes_group_job_type_are_stored() -> None:
    """Descriptive fields given to init are readable through the API."""
    with trackkit.init(project="p", tags=["a", "b"], notes="first try", group="g1", job_type="train") as run:
        pass
    stored = trackkit.Api().run(f"p/{run.id}")
    assert (stored.tags, stored.notes, stored.group, stored.job_type) == (["a", "b"], "first try", "g1", "train")


def test_module_level_calls_before_init_say_to_call_init() -> None:
    """trackkit.log/config/summary/define_metric before init raise an error naming trackkit.init()."""
    assert trackkit.run is None
    with pytest.raises(trackkit.NoActiveRunError, match=r"trackkit.init\(\)"):
        trackkit.log({"a": 1})
    with pytest.raises(trackkit.NoActiveRunError, match=r"trackkit.init\(\)"):
        trackkit.config["lr"] = 0.1
    with pytest.raises(trackkit.NoActiveRunError, match=r"trackkit.init\(\)"):
        trackkit.summary["acc"]
    with pytest.raises(trackkit.NoActiveRunError):
        trackkit.define_metric("loss", summary="min")
    trackkit.finish()  # finishing nothing is harmless


def test_module_level_calls_act_on_the_current_run() -> None:
    """trackkit.log, trackkit.config, trackkit.summary and trackkit.finish follow the current run."""
    run = trackkit.init(project="p", config={"lr": 0.1})
    trackkit.config.update({"epochs": 3})
    trackkit.log({"loss": 0.5})
    trackkit.summary["best"] = 1
    assert trackkit.config.lr == 0.1 and run.config.epochs == 3
    trackkit.finish()
    stored = trackkit.Api().run(f"p/{run.id}")
    assert stored.summary["loss"] == 0.5 and stored.summary["best"] == 1


def test_context_manager_marks_failed_when_an_exception_escapes() -> None:
    """`with trackkit.init()` finishes the run, as failed if an exception escaped, keeping what was logged."""
    with pytest.raises(RuntimeError), trackkit.init(project="p") as run:
        run.log({"loss": 1.0})
        raise RuntimeError("boom")
    stored = trackkit.Api().run(f"p/{run.id}")
    assert stored.state == "failed"
    assert "RuntimeError: boom" in stored.metadata["exit_reason"]
    assert [row["loss"] for row in stored.scan_history()] == [1.0]


def test_finish_with_nonzero_exit_code_is_failed_and_finish_is_idempotent() -> None:
    """finish(exit_code=1) marks the run failed; a second finish changes nothing."""
    run = trackkit.init(project="p")
    run.finish(exit_code=1)
    run.finish()
    assert trackkit.Api().run(f"p/{run.id}").state == "failed"


def test_disabled_mode_accepts_every_call_and_writes_nothing(isolated_store: Path) -> None:
    """mode='disabled' (or TRACKKIT_MODE=disabled) gives a working run that writes nothing."""
    with trackkit.init(project="p", mode="disabled", config={"a": 1}) as run:
        run.config["a"] = 2
        run.log({"loss": 0.1})
        run.define_metric("loss", summary="min")
        assert run.summary["loss"] == 0.1
        assert run.config.a == 2
    assert not isolated_store.exists()


def test_disabled_mode_from_environment(monkeypatch: pytest.MonkeyPatch, isolated_store: Path) -> None:
    """TRACKKIT_MODE=disabled switches tracking off without code changes."""
    monkeypatch.setenv("TRACKKIT_MODE", "disabled")
    with trackkit.init(project="p") as run:
        run.log({"x": 1})
    assert run.mode == "disabled"
    assert not isolated_store.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "online-please"}, "mode="),
        ({"resume": "sometimes"}, "resume="),
        ({"project": "a/b"}, "project"),
        ({"id": "x/y"}, "run id"),
        ({"tags": "single-string"}, "tags"),
        ({"reinit": "maybe"}, "reinit"),
    ],
)
def test_bad_init_arguments_are_clear_errors(kwargs: dict, message: str) -> None:
    """Invalid init arguments raise a UsageError naming the argument."""
    with pytest.raises(trackkit.UsageError, match=message):
        trackkit.init(**kwargs)


def test_bad_config_object_is_a_type_error_listing_what_is_accepted() -> None:
    """A list is not a config: TypeError saying what is accepted, and no run is left behind."""
    with pytest.raises(TypeError, match="config must be a dict"):
        trackkit.init(project="p", config=[1, 2, 3])
    assert trackkit.run is None


def test_init_while_a_run_is_active_finishes_the_previous_one() -> None:
    """The default reinit finishes the active run; return_previous hands it back."""
    first = trackkit.init(project="p")
    assert trackkit.init(project="p", reinit="return_previous") is first
    second = trackkit.init(project="p")
    assert first.state == "finished" and second is not first and trackkit.run is second
    second.finish()


def test_resume_allow_continues_history_and_step() -> None:
    """resume='allow' with an existing id appends history, continues the step and keeps config."""
    with trackkit.init(project="p", id="resumable", config={"lr": 0.1}) as run:
        for i in range(3):
            run.log({"loss": float(i)})
    with trackkit.init(project="p", id="resumable", resume="allow") as run:
        assert run.resumed and run.step == 3
        assert run.config.lr == 0.1
        run.log({"loss": 9.0})
    stored = trackkit.Api().run("p/resumable")
    assert [(r["_step"], r["loss"]) for r in stored.scan_history()] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 9.0)]
    assert stored.state == "finished"
    assert stored.metadata["resume_count"] == 1


def test_resume_allow_creates_a_missing_run_and_must_refuses() -> None:
    """resume='allow' starts a new run when the id is new; resume='must' requires an existing run."""
    with trackkit.init(project="p", id="fresh", resume="allow") as run:
        assert not run.resumed
    with pytest.raises(trackkit.RunNotFoundError, match="resume='must'"):
        trackkit.init(project="p", id="nothere", resume="must")


def test_reusing_an_id_without_resume_or_with_never_is_an_error() -> None:
    """An existing id without resume (or with resume='never') is refused, so no run is overwritten."""
    with trackkit.init(project="p", id="taken"):
        pass
    with pytest.raises(trackkit.UsageError, match="already exists"):
        trackkit.init(project="p", id="taken")
    with pytest.raises(trackkit.UsageError, match="already exists"):
        trackkit.init(project="p", id="taken", resume="never")


def test_resume_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACKKIT_RUN_ID + TRACKKIT_RESUME continue a run without code changes (a restarted job)."""
    monkeypatch.setenv("TRACKKIT_RUN_ID", "job42")
    monkeypatch.setenv("TRACKKIT_RESUME", "allow")
    for _ in range(2):
        with trackkit.init(project="p") as run:
            run.log({"x": 1})
    assert len(list(trackkit.Api().run("p/job42").scan_history())) == 2


def test_silent_environment_hides_the_init_line(run_python) -> None:
    """Without TRACKKIT_SILENT init prints one line naming the run; with it, nothing."""
    code = "import trackkit\nwith trackkit.init(project='p', name='loud'): pass\n"
    loud = run_python(code, env={"TRACKKIT_SILENT": "0"})
    assert "loud" in loud.stderr
    quiet = run_python(code)
    assert quiet.stderr == "" and quiet.stdout == ""


def test_exit_without_finish_finishes_the_run(run_python) -> None:
    """A script that never calls finish() still ends with a finished run holding all its rows."""
    run_python("import trackkit\nrun = trackkit.init(project='p', id='nofinish')\nfor i in range(100): run.log({'i': i})\n")
    stored = trackkit.Api().run("p/nofinish")
    assert stored.state == "finished"
    assert [r["i"] for r in stored.scan_history()] == list(range(100))


def test_uncaught_exception_marks_the_run_failed_and_python_prints_the_traceback(run_python) -> None:
    """An exception escaping the script marks the run failed; the traceback is printed as usual."""
    result = run_python(
        "import trackkit\nrun = trackkit.init(project='p', id='crashy', config={'lr': 1})\n"
        "run.log({'loss': 1})\nraise ValueError('diverged')\n",
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ValueError: diverged" in result.stderr
    stored = trackkit.Api().run("p/crashy")
    assert stored.state == "failed" and stored.config == {"lr": 1}
    assert [r["loss"] for r in stored.scan_history()] == [1]


@pytest.mark.parametrize(("code", "state"), [(0, "finished"), (None, "finished"), (3, "failed"), ("bad", "failed")])
def test_sys_exit_inside_the_with_block_sets_the_state_by_exit_code(code: object, state: str) -> None:
    """sys.exit(0) inside `with trackkit.init()` is a success; a non-zero exit marks the run failed."""
    with pytest.raises(SystemExit), trackkit.init(project="p") as run:
        raise SystemExit(code)
    assert trackkit.Api().run(f"p/{run.id}").state == state
