"""The run context under fork: children forked right after init (while the helper threads import,
run git and start NVML) neither crash nor hang, and their prints stay out of the parent's output.log."""

from __future__ import annotations

import trackkit


def test_children_forked_right_after_init_start_cleanly_and_print_to_their_own_console(run_python) -> None:
    """Forks at once and repeatedly after init: every child imports and prints; only the parent's lines
    are in output.log, and the run finishes."""
    result = run_python(
        """
        import os, sys, trackkit
        run = trackkit.init(project="p", id="forky", settings={"system_interval": 0.01})
        print("parent before", flush=True)
        codes = []
        for i in range(8):
            pid = os.fork()
            if pid == 0:
                import json, uuid, platform, email.parser  # imports the helper threads also make
                print(f"child {i}", flush=True)
                os._exit(0)
            codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        print("parent after", codes, flush=True)
        run.finish()
        """,
        timeout=120,
    )
    assert "parent after [0, 0, 0, 0, 0, 0, 0, 0]" in result.stdout
    assert all(f"child {i}" in result.stdout for i in range(8))
    stored = trackkit.Api().run("p/forky")
    assert stored.state == "finished"
    assert stored.file("output.log").read_text() == "parent before\nparent after [0, 0, 0, 0, 0, 0, 0, 0]\n"
    assert "os" in stored.metadata and len(stored.system_metrics(pandas=False)) >= 1


def test_a_fork_pool_works_while_the_context_runs(run_python) -> None:
    """multiprocessing with the fork start method maps and closes while a run samples and tees."""
    result = run_python(
        """
        import multiprocessing as mp, trackkit
        run = trackkit.init(project="p", id="pool", settings={"system_interval": 0.01})
        with mp.get_context("fork").Pool(2) as pool:
            print(sum(pool.map(abs, range(-50, 50))))
        run.finish()
        """,
        timeout=120,
    )
    assert result.stdout.strip() == "2500"
    assert trackkit.Api().run("p/pool").file("output.log").read_text() == "2500\n"
