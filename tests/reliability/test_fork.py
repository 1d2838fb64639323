"""Processes forked from a training process (os.fork, multiprocessing and DataLoader-style workers)
never write the parent's run twice, never deadlock, and never keep a dead parent's run alive."""

from __future__ import annotations

import os
import signal

import pytest

import trackkit

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_os_fork_child_writes_are_ignored_with_one_warning(run_python):
    """A forked child that logs, changes the config and exits normally writes nothing; the parent's run
    has each row once and finishes normally."""
    result = run_python(
        """
        import os, sys, warnings, trackkit
        run = trackkit.init(project="p", id="forked", config={"lr": 0.1})
        for step in range(10):
            run.log({"loss": step})
        pid = os.fork()
        if pid == 0:  # the child: everything here is ignored, with one warning
            for step in range(100):
                run.log({"loss": -1})
                trackkit.log({"loss": -2})
            run.config.update({"child": True})
            print("child done", flush=True)
            sys.exit(0)  # runs the child's atexit hooks
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        for step in range(10, 20):
            run.log({"loss": step})
        run.finish()
        """,
        timeout=60,
    )
    assert "child done" in result.stdout
    assert result.stderr.count("called in a forked child process") == 1
    run = trackkit.Api().run("p/forked")
    assert run.state == "finished"
    assert [row["loss"] for row in run.scan_history()] == list(range(20))
    assert [row["_step"] for row in run.scan_history()] == list(range(20))
    assert run.config == {"lr": 0.1}


def test_multiprocessing_fork_workers_do_not_double_write_or_deadlock(run_python):
    """A fork-context multiprocessing pool (as DataLoader workers are) that logs from its workers while
    the parent logs: no worker row lands in the run, no hang, every parent row once."""
    run_python(
        """
        import multiprocessing, warnings, trackkit

        def work(item):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trackkit.log({"worker_item": item})
            return item * item

        if __name__ == "__main__":
            run = trackkit.init(project="p", id="pool")
            context = multiprocessing.get_context("fork")
            total = 0
            for epoch in range(8):  # each pool's terminate() SIGTERMs workers that may still be starting
                with context.Pool(2) as pool:
                    total += sum(pool.map(work, range(50)))
                for batch in range(100):
                    run.log({"epoch": epoch, "batch": batch})
            run.log({"total": total})
            run.finish()
        """,
        timeout=120,
    )
    run = trackkit.Api().run("p/pool")
    rows = list(run.scan_history())
    assert run.state == "finished"
    assert len(rows) == 801
    assert not any("worker_item" in row for row in rows)
    assert [row["_step"] for row in rows] == list(range(801))
    assert run.summary["total"] == 8 * sum(i * i for i in range(50))


def test_a_surviving_child_does_not_keep_a_killed_parent_run_alive(spawn, wait_for, work):
    """kill -9 of a parent whose forked worker lives on: the run still reads as crashed at once."""
    parent = spawn(
        """
        import os, pathlib, time, trackkit
        run = trackkit.init(project="p", id="orphaned")
        run.log({"x": 1})
        run.flush()
        pid = os.fork()
        if pid == 0:
            pathlib.Path("child.pid").write_text(str(os.getpid()))
            time.sleep(120)
            os._exit(0)
        while True:
            run.log({"x": 2})
            time.sleep(0.01)
        """
    )
    wait_for(lambda: (work / "child.pid").exists() and (work / "child.pid").read_text(), what="the fork")
    child = int((work / "child.pid").read_text())
    try:
        parent.kill()
        parent.wait(timeout=30)
        os.kill(child, 0)  # the worker is still alive
        run = trackkit.Api().run("p/orphaned")
        assert run.state == "crashed"
        assert list(run.scan_history())[0]["x"] == 1
    finally:
        os.kill(child, signal.SIGKILL)


def test_forked_children_get_the_default_sigterm_and_their_own_runs_get_it_back(run_python):
    """A forked child starts with the default SIGTERM, unblocked (so Pool.terminate() always kills it);
    the parent keeps its handler; a child that starts its own run finishes it on SIGTERM."""
    run_python(
        """
        import os, signal, time, trackkit
        run = trackkit.init(project="p", id="parent")
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        pid = os.fork()
        if pid == 0:
            blocked = signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, [])
            os._exit(10 if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL and not blocked else 11)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 10
        assert signal.getsignal(signal.SIGTERM) is handler
        assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        pid = os.fork()
        if pid == 0:
            child = trackkit.init(project="p", id="child")
            child.log({"x": 1})
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
            os._exit(3)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == -signal.SIGTERM
        run.finish()
        """,
        timeout=60,
    )
    child = trackkit.Api().run("p/child")
    assert child.state == "failed"
    assert child.metadata["exit_reason"] == "killed by SIGTERM"
    assert [row["x"] for row in child.scan_history()] == [1]
    assert trackkit.Api().run("p/parent").state == "finished"
