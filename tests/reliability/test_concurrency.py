"""Several processes on one store: writers of different runs and readers (Api, CLI, doctor) at the
same time lose nothing and see no lock errors; one run cannot be written by two processes."""

from __future__ import annotations

import json
import threading

import pytest

import trackkit
from trackkit import LocalStore

WRITER = """
import os, sys, time, trackkit
name = sys.argv[0].rsplit("/", 1)[-1][:-3]
with trackkit.init(project="shared", id=name, config={"writer": name}) as run:
    for i in range(3000):
        run.log({"i": i, "loss": 1.0 / (i + 1)})
        if i % 10 == 0:
            time.sleep(0.01)
"""

READER = """
import io, json, os, pathlib, sys, time, traceback, warnings, contextlib
import trackkit
from trackkit._cli import main
warnings.simplefilter("error")  # any StorageWarning seen by a reader is a failure
errors, reads, longest, states = [], 0, {}, set()
while not os.path.exists("stop"):
    try:
        api = trackkit.Api()
        for run in api.runs("shared"):
            rows = list(run.scan_history())
            assert [row["i"] for row in rows] == list(range(len(rows))), run.id
            assert len(rows) >= longest.get(run.id, 0), "a reader saw rows disappear"
            longest[run.id] = len(rows)
            assert run.state in ("running", "finished"), run.state
            states.add(run.state)
            run.summary, run.config
        listing, doctor = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(listing):
            assert main(["runs", "shared", "--json"]) == 0
        with contextlib.redirect_stdout(doctor):
            assert main(["doctor", "--json"]) == 0
        for line in json.loads(listing.getvalue() or "[]"):
            assert line["state"] in ("running", "finished"), line
        assert json.loads(doctor.getvalue())["problems"] == [], doctor.getvalue()
        reads += 1
    except Exception:
        errors.append(traceback.format_exc())
report = {"errors": errors[:5], "reads": reads, "longest": longest, "states": sorted(states)}
pathlib.Path("reader.json").write_text(json.dumps(report))
"""


def test_writers_and_readers_share_a_store_without_loss_or_lock_errors(spawn, wait_for, work):
    """Three processes write three runs while a fourth reads them through the Api, the CLI and the
    doctor: every reader sees growing, ordered histories, no errors, and every row is saved."""
    writers = [spawn(WRITER, name=f"writer{k}", env={"TRACKKIT_FLUSH_INTERVAL": "0.05"}) for k in range(3)]
    reader = spawn(READER, name="reader")
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.communicate()[1]
    (work / "stop").touch()
    assert reader.wait(timeout=60) == 0, reader.communicate()[1]
    report = json.loads((work / "reader.json").read_text())
    assert report["errors"] == []
    assert report["reads"] >= 3
    assert sorted(report["longest"]) == ["writer0", "writer1", "writer2"]
    assert "running" in report["states"]  # it read while they wrote

    runs = trackkit.Api().runs("shared")
    assert sorted(run.id for run in runs) == ["writer0", "writer1", "writer2"]
    for run in runs:
        assert run.state == "finished"
        assert run.config == {"writer": run.id}
        assert [row["i"] for row in run.scan_history()] == list(range(3000))


def test_two_processes_cannot_write_one_run(spawn, wait_for, work):
    """A second process resuming a run that another process is writing gets RunInUseError; the
    first process's run is not touched."""
    holder = spawn(
        """
        import os, pathlib, time, trackkit
        run = trackkit.init(project="p", id="contested", config={"owner": "first"})
        for i in range(100):
            run.log({"i": i})
        pathlib.Path("holding").touch()
        while not os.path.exists("release"):
            time.sleep(0.01)
        for i in range(100, 200):
            run.log({"i": i})
        run.finish()
        """,
        name="holder",
    )
    wait_for(lambda: (work / "holding").exists(), what="the first writer")
    intruder = spawn(
        """
        import trackkit
        run = trackkit.init(project="p", id="contested", resume="allow", config={"owner": "second"})
        run.log({"i": -1})
        run.finish()
        """,
        name="intruder",
    )
    _, stderr = intruder.communicate(timeout=60)
    assert intruder.returncode == 1
    assert "trackkit._errors.RunInUseError: run p/contested is open in another live process" in stderr
    (work / "release").touch()
    assert holder.wait(timeout=60) == 0

    run = trackkit.Api().run("p/contested")
    assert run.state == "finished"
    assert run.config == {"owner": "first"}
    assert [row["i"] for row in run.scan_history()] == list(range(200))
    with trackkit.init(project="p", id="contested", resume="allow") as resumed:  # free again once finished
        resumed.log({"i": 200})
    assert [row["_step"] for row in trackkit.Api().run("p/contested").scan_history()] == list(range(201))


def test_a_run_id_created_while_waiting_for_its_lock_is_not_taken_over(isolated_store):
    """Two writers creating the same new run id: the one that gets the lock second is refused
    instead of writing over the first one's run."""
    first_store, second_store = LocalStore(isolated_store), LocalStore(isolated_store)
    first, _ = first_store.open_run("p", "same", resume=None)
    outcome: list[BaseException | object] = []
    waiting = threading.Event()

    def acquire(*args: object) -> object:
        waiting.set()  # past its "does the run exist?" check, about to wait for the lock
        return LocalStore._acquire(second_store, *args)

    second_store._acquire = acquire  # type: ignore[method-assign]

    def second() -> None:
        try:
            outcome.append(second_store.open_run("p", "same", resume=None)[0])
        except BaseException as error:  # noqa: BLE001 - reported to the test thread
            outcome.append(error)

    thread = threading.Thread(target=second)
    thread.start()
    assert waiting.wait(10)
    first.write_meta({"id": "same", "project": "p", "state": "finished"})
    first.append_history([{"_step": 0, "x": 1}])
    first.close()
    thread.join(timeout=10)
    assert len(outcome) == 1
    assert isinstance(outcome[0], trackkit.UsageError), outcome
    assert "just created by another process" in str(outcome[0])
    assert [row["x"] for row in trackkit.Api().run("p/same").scan_history()] == [1]


@pytest.mark.parametrize("reader", ["api", "cli"])
def test_readers_never_see_a_row_in_flight_as_damage(isolated_store, reader, capsys):
    """A reader that catches a live run's last line half-written sees the complete rows and no warning."""
    run = trackkit.init(project="p", id="live")
    run.log({"x": 1})
    run.flush()
    history = isolated_store / "p" / "live" / "history.jsonl"
    with open(history, "ab") as handle:  # what a reader can see between two write() calls
        handle.write(b'{"x":2,"_st')
    if reader == "api":
        assert [row["x"] for row in trackkit.Api().run("p/live").scan_history()] == [1]
    else:
        from trackkit._cli import main

        assert main(["show", "p/live", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["history"]["rows"] == 1
    with open(history, "rb+") as handle:
        handle.truncate(len(handle.read()) - len(b'{"x":2,"_st'))
    run.finish()
