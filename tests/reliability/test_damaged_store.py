"""Damaged store files: the reader keeps everything around the damage and says what it skipped;
``trackkit doctor`` finds the damage and ``--repair`` fixes what can be fixed without losing rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import trackkit
from trackkit._cli import main


def _make_run(run_id: str = "damaged") -> Path:
    with trackkit.init(project="p", id=run_id, config={"lr": 0.1, "model": {"depth": 3}}) as run:
        for step in range(10):
            run.log({"loss": 10 - step})
    return Path(run.dir)


def _tear_last_row(run_dir: Path) -> None:
    with open(run_dir / "history.jsonl", "ab") as handle:
        handle.write(b'{"loss":0,"_st')


def _truncate_history(run_dir: Path) -> None:
    path = run_dir / "history.jsonl"
    data = path.read_bytes()
    lines = data.split(b"\n")
    cut = len(b"\n".join(lines[:6])) + 1 + len(lines[6]) // 2  # in the middle of the 7th row
    path.write_bytes(data[:cut])


def _garbage_in_the_middle(run_dir: Path) -> None:
    path = run_dir / "history.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines.insert(4, b"\x00\x00\x00garbage\xff{")
    path.write_bytes(b"\n".join(lines))


DAMAGE: dict[str, tuple[Callable[[Path], None], list[int], str]] = {
    # name: (damage, losses the reader keeps, what the warning names)
    "torn last row": (_tear_last_row, list(range(10, 0, -1)), "line 11"),
    "truncated file": (_truncate_history, [10, 9, 8, 7, 6, 5], "line 7"),
    "garbage line in the middle": (_garbage_in_the_middle, list(range(10, 0, -1)), "line 5"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_reader_keeps_rows_around_damaged_history_and_says_what_it_skipped(damage):
    """A torn, truncated or garbled history is read up to and around the damage, with a
    StorageWarning naming the skipped line."""
    run_dir = _make_run()
    spoil, kept, where = DAMAGE[damage]
    spoil(run_dir)
    with pytest.warns(trackkit.StorageWarning, match=f"skipped 1 damaged line.*{where}"):
        rows = list(trackkit.Api().run("p/damaged").scan_history())
    assert [row["loss"] for row in rows] == kept
    run = trackkit.Api().run("p/damaged")
    assert run.state == "finished"
    assert run.config == {"lr": 0.1, "model": {"depth": 3}}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_doctor_reports_and_repairs_damaged_history(damage, capsys):
    """`trackkit doctor` names the damaged run; `--repair` keeps every good row, moves the damaged
    line aside and leaves a history that reads without warnings."""
    run_dir = _make_run()
    intact_dir = _make_run("intact")
    intact = (intact_dir / "history.jsonl").read_bytes()
    spoil, kept, _ = DAMAGE[damage]
    spoil(run_dir)

    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["runs_checked"] == 2
    assert [problem["run"] for problem in report["problems"]] == ["p/damaged"]
    assert report["repaired"] == []

    assert main(["doctor", "--repair"]) == 0
    assert "p/damaged: kept" in capsys.readouterr().out
    assert [row["loss"] for row in trackkit.Api().run("p/damaged").scan_history()] == kept  # no warning now
    assert (run_dir / "history.jsonl.damaged").exists()
    assert (intact_dir / "history.jsonl").read_bytes() == intact
    assert main(["doctor"]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_corrupt_run_json_keeps_config_summary_and_history_and_is_rebuilt():
    """A truncated run.json: the run is still listed with its config, summary and history (with a
    warning), reads as crashed, and `doctor --repair` rebuilds it, keeping the original aside."""
    run_dir = _make_run()
    original = (run_dir / "run.json").read_bytes()
    (run_dir / "run.json").write_bytes(original[: len(original) // 2])

    with pytest.warns(trackkit.StorageWarning, match="run.json"):
        runs = list(trackkit.Api().runs("p"))
    assert [run.id for run in runs] == ["damaged"]
    assert runs[0].state == "crashed"
    assert runs[0].config == {"lr": 0.1, "model": {"depth": 3}}
    assert runs[0].summary["loss"] == 1
    assert len(list(runs[0].scan_history())) == 10

    assert main(["doctor", "--repair"]) == 0
    run = trackkit.Api().run("p/damaged")  # no warning any more
    assert run.state == "crashed"
    assert "rebuilt by trackkit doctor" in run.metadata["exit_reason"]
    assert run.config == {"lr": 0.1, "model": {"depth": 3}}
    assert (run_dir / "run.json.damaged").read_bytes() == original[: len(original) // 2]


def test_corrupt_summary_is_rebuilt_from_history(capsys):
    """A garbled summary.json is reported, and repaired from the last logged values."""
    run_dir = _make_run()
    (run_dir / "summary.json").write_bytes(b"\x00\x00\x00")
    with pytest.warns(trackkit.StorageWarning, match="summary.json"):
        assert trackkit.Api().run("p/damaged").summary == {}
    assert main(["doctor", "--repair"]) == 0
    assert "rebuilt summary.json" in capsys.readouterr().out
    assert trackkit.Api().run("p/damaged").summary == {"loss": 1}


def test_doctor_marks_runs_of_dead_processes_crashed(run_python, capsys):
    """A run left 'running' by a process that died without a word is reported and marked crashed."""
    run_python(
        """
        import os, trackkit
        run = trackkit.init(project="p", id="dead")
        run.log({"x": 1})
        run.flush()
        os._exit(0)  # no atexit, no finish
        """
    )
    assert json.loads((Path(trackkit.Api().store.location) / "p" / "dead" / "run.json").read_text())["state"] == "running"
    assert main(["doctor", "--repair"]) == 0
    assert "p/dead: marked crashed" in capsys.readouterr().out
    stored = json.loads((Path(trackkit.Api().store.location) / "p" / "dead" / "run.json").read_text())
    assert stored["state"] == "crashed"


def test_doctor_never_rewrites_a_live_run(isolated_store, capsys):
    """`doctor --repair` while a run is being written reports nothing to fix and leaves its history alone."""
    run = trackkit.init(project="p", id="live")
    run.log({"x": 1})
    run.flush()
    history = isolated_store / "p" / "live" / "history.jsonl"
    with open(history, "ab") as handle:
        handle.write(b'{"x":2,"_st')  # a row being written
    assert main(["doctor", "--repair"]) == 0
    assert "no problems found" in capsys.readouterr().out
    assert history.read_bytes().endswith(b'{"x":2,"_st')
    with open(history, "rb+") as handle:
        handle.truncate(len(handle.read()) - len(b'{"x":2,"_st'))
    run.log({"x": 2})
    run.finish()
    assert [row["x"] for row in trackkit.Api().run("p/live").scan_history()] == [1, 2]


def test_resume_trims_a_torn_tail_and_continues(capsys):
    """Resuming a run whose last row was torn drops that row with a warning and continues after the
    last whole row."""
    run_dir = _make_run()
    _tear_last_row(run_dir)
    with pytest.warns(trackkit.StorageWarning, match="torn last line"):
        run = trackkit.init(project="p", id="damaged", resume="allow")
    run.log({"loss": 0})
    run.finish()
    rows = list(trackkit.Api().run("p/damaged").scan_history())
    assert [row["_step"] for row in rows] == list(range(11))
    assert [row["loss"] for row in rows] == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
