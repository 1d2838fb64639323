"""How a run ends when its process dies: kill -9, SIGTERM, Ctrl+C, an exception, or an exit
without finish(). Each test trains in a real child process and reads the run back afterwards."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import warnings
from pathlib import Path

import pytest

import trackkit

# Logs as fast as a small training loop would, and records (step, wall time) every 100 steps
# with an unbuffered write, so the test knows what had been logged by any moment.
LOG_FOREVER = """
import os, time, trackkit
run = trackkit.init(project="p", id="victim", config={"lr": 0.01, "model": {"depth": 4}})
progress = os.open("progress.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
i = 0
while True:
    run.log({"i": i, "loss": 1.0 / (i + 1)})
    if i % 100 == 0:
        os.write(progress, f"{i} {time.time()}\\n".encode())
    i += 1
    if i % 20 == 0:
        time.sleep(0.001)
"""


def _progress(work: Path) -> list[tuple[int, float]]:
    """(step, time) pairs the child had logged, complete lines only."""
    text = (work / "progress.txt").read_text() if (work / "progress.txt").exists() else ""
    lines = text.split("\n")[:-1]
    return [(int(step), float(when)) for step, when in (line.split() for line in lines)]


def _read_rows(path: str) -> list[dict]:
    """History rows; a line torn by the kill itself is allowed, any other damage is not."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = list(trackkit.Api().run(path).scan_history())
    for warning in caught:
        assert issubclass(warning.category, trackkit.StorageWarning), warning
        assert "skipped 1 damaged line" in str(warning.message), warning
    return rows


def _digest(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name not in ("heartbeat", ".lock")
    }


def test_kill_9_keeps_every_row_logged_a_second_before(spawn, wait_for, work, isolated_store):
    """After kill -9 mid-logging, every row logged over a second earlier is readable, in order, once;
    the run reads as crashed, and the other runs in the store are untouched."""
    with trackkit.init(project="p", id="finished-before", config={"seed": 1}) as run:
        for step in range(50):
            run.log({"acc": step / 50})
    before = _digest(isolated_store / "p" / "finished-before")
    neighbour = spawn(
        """
        import os, time, trackkit
        with trackkit.init(project="p", id="neighbour") as run:
            for i in range(400):
                run.log({"i": i})
                time.sleep(0.01)
        """,
        name="neighbour",
    )
    victim = spawn(LOG_FOREVER, env={"TRACKKIT_FLUSH_INTERVAL": "0.25"})
    wait_for(lambda: len(_progress(work)) > 1, what="the victim to log")
    first = _progress(work)[0][1]
    wait_for(lambda: _progress(work)[-1][1] - first > 2.5, what="2.5 s of logging")

    killed_at = time.time()
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL

    logged_before = [step for step, when in _progress(work) if when < killed_at - 1.0]
    rows = _read_rows("p/victim")
    assert [row["i"] for row in rows] == list(range(len(rows)))
    assert [row["_step"] for row in rows] == list(range(len(rows)))
    assert len(rows) > max(logged_before)
    victim_run = trackkit.Api().run("p/victim")
    assert victim_run.state == "crashed"
    assert "gone" in victim_run.metadata["exit_reason"]
    assert victim_run.config == {"lr": 0.01, "model": {"depth": 4}}

    assert neighbour.wait(timeout=60) == 0
    neighbour_run = trackkit.Api().run("p/neighbour")
    assert neighbour_run.state == "finished"
    assert [row["i"] for row in neighbour_run.scan_history()] == list(range(400))
    assert _digest(isolated_store / "p" / "finished-before") == before
    assert trackkit.Api().run("p/finished-before").state == "finished"


def test_sigterm_flushes_marks_failed_and_dies_by_sigterm(spawn, wait_for, work):
    """SIGTERM in the middle of logging: every row logged is saved, the run is failed with the reason,
    and the process still dies of SIGTERM."""
    process = spawn(LOG_FOREVER)
    wait_for(lambda: len(_progress(work)) > 20, what="the child to log")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) in (-signal.SIGTERM, 128 + signal.SIGTERM)

    run = trackkit.Api().run("p/victim")
    rows = list(run.scan_history())
    assert [row["i"] for row in rows] == list(range(len(rows)))
    assert len(rows) > _progress(work)[-1][0]  # everything logged before the signal, not just what was flushed
    assert run.state == "failed"
    assert run.metadata["exit_reason"] == "killed by SIGTERM"
    assert run.metadata["exit_code"] == 128 + signal.SIGTERM
    assert run.config["model"] == {"depth": 4}


@pytest.mark.parametrize("style", ["plain", "with"])
def test_ctrl_c_flushes_marks_failed_and_keeps_the_traceback(spawn, wait_for, work, style):
    """Ctrl+C (SIGINT) ends the program with its KeyboardInterrupt traceback; the run is failed and
    keeps every row."""
    body = (
        "run = trackkit.init(project='p', id='ctrl-c')\nloop(run)\n"
        if style == "plain"
        else "with trackkit.init(project='p', id='ctrl-c') as run:\n    loop(run)\n"
    )
    process = spawn(
        "import pathlib, time, trackkit\n"
        "def loop(run):\n"
        "    for i in range(10**9):\n"
        "        run.log({'i': i})\n"
        "        if i == 300:\n"
        "            pathlib.Path('ready').touch()\n"
        "        if i >= 300:\n"
        "            time.sleep(0.001)\n" + body
    )
    wait_for(lambda: (work / "ready").exists(), what="the child to log")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode in (-signal.SIGINT, 1, 130)
    assert "Traceback" in stderr and "KeyboardInterrupt" in stderr

    run = trackkit.Api().run("p/ctrl-c")
    rows = list(run.scan_history())
    assert [row["i"] for row in rows] == list(range(len(rows)))
    assert len(rows) > 300
    assert run.state == "failed"
    assert run.metadata["exit_reason"].startswith("KeyboardInterrupt")


def test_uncaught_exception_marks_failed_and_keeps_history_and_config(run_python):
    """An exception escaping the training script: the run is failed with the error as its reason,
    history and config are intact, and Python prints the traceback as usual."""
    result = run_python(
        """
        import trackkit
        run = trackkit.init(project="p", id="boom", config={"lr": 0.1, "optim": {"name": "adam"}})
        for epoch in range(5):
            run.log({"epoch": epoch, "loss": 1.0 / (epoch + 1)})
        raise ValueError("loss is nan")
        """,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: loss is nan" in result.stderr
    run = trackkit.Api().run("p/boom")
    assert run.state == "failed"
    assert run.metadata["exit_reason"] == "ValueError: loss is nan"
    assert [row["epoch"] for row in run.scan_history()] == [0, 1, 2, 3, 4]
    assert run.config == {"lr": 0.1, "optim": {"name": "adam"}}
    assert run.summary["loss"] == pytest.approx(0.2)


def test_exit_without_finish_finishes_the_run(run_python):
    """A script that never calls finish(): the run is finished at interpreter exit with every row saved."""
    run_python(
        """
        import trackkit
        run = trackkit.init(project="p", id="no-finish", config={"epochs": 3})
        for step in range(5000):
            run.log({"loss": 1.0 / (step + 1)})
        run.summary["best"] = 0.5
        """
    )
    run = trackkit.Api().run("p/no-finish")
    assert run.state == "finished"
    assert len(list(run.scan_history())) == 5000
    assert run.summary["best"] == 0.5
    assert run.metadata["history_rows"] == 5000


def test_exit_with_a_stalled_store_is_bounded(run_python):
    """At interpreter exit with a store that never answers, the process still exits, after
    TRACKKIT_FINISH_TIMEOUT, saying how many rows may be lost."""
    started = time.monotonic()
    result = run_python(
        """
        import threading, trackkit
        from trackkit._local_store import LocalRunSink
        run = trackkit.init(project="p", id="stalled")
        run.log({"x": 0})
        run.flush()
        never = threading.Event()
        LocalRunSink.append_history = lambda self, rows: never.wait()
        for step in range(100):
            run.log({"x": step})
        """,
        env={"TRACKKIT_FINISH_TIMEOUT": "1", "TRACKKIT_FLUSH_INTERVAL": "0.05"},
        timeout=60,
    )
    assert time.monotonic() - started < 45
    assert "finish() gave up after 1s" in result.stderr
    assert "may not be saved" in result.stderr


def test_a_crashed_run_can_be_resumed_and_continues_its_steps(spawn, wait_for, work):
    """After kill -9 the run can be resumed: steps continue after the last saved row, none repeat."""
    victim = spawn(LOG_FOREVER, env={"TRACKKIT_FLUSH_INTERVAL": "0.2"})
    wait_for(lambda: len(_progress(work)) > 10, what="the child to log")
    time.sleep(0.5)
    victim.kill()
    victim.wait(timeout=30)
    saved = len(_read_rows("p/victim"))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", trackkit.StorageWarning)  # a torn last line is trimmed with a warning
        run = trackkit.init(project="p", id="victim", resume="allow")
    assert run.step == saved
    run.log({"i": saved})
    run.finish()
    api_run = trackkit.Api().run("p/victim")
    steps = [row["_step"] for row in api_run.scan_history()]
    assert steps == list(range(saved + 1))
    assert api_run.state == "finished"
    assert api_run.config["lr"] == 0.01
    os.remove(work / "progress.txt")


def test_a_run_from_another_host_is_judged_by_its_heartbeat(isolated_store):
    """A 'running' run written from another machine (where the lock says nothing) reads as running
    while its heartbeat is fresh and as crashed once it is older than the heartbeat timeout."""
    with trackkit.init(project="p", id="remote") as run:
        run.log({"x": 1})
    run_dir = isolated_store / "p" / "remote"
    meta = json.loads((run_dir / "run.json").read_text())
    meta.update(state="running", host="some-other-host", pid=1)
    (run_dir / "run.json").write_text(json.dumps(meta))
    assert trackkit.Api().run("p/remote").state == "running"
    stale = time.time() - trackkit._local_store.HEARTBEAT_TIMEOUT - 5
    os.utime(run_dir / "heartbeat", (stale, stale))
    assert trackkit.Api().run("p/remote").state == "crashed"
