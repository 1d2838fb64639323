"""How a script's exit code reaches a run it never finished: each script runs in a fresh interpreter,
logs, then ends outside any ``with trackkit.init()`` block, and the run is read back afterwards.

``sys.exit(n)`` is seen on every Python (it is wrapped while a run is active); a ``SystemExit`` raised
as written, or through an ``exit`` imported before ``init``, only on 3.12+ (``sys.monitoring``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import trackkit

MONITORING = sys.version_info >= (3, 12)  # sees a SystemExit raised as written

LOG_THEN = """
import sys, trackkit
run = trackkit.init(project="p", id="x", config={"lr": 0.1})
for step in range(500):
    run.log({"loss": 1.0 / (step + 1)})
"""


def _run(tmp_path: Path, code: str, *flags: str, name: str = "script") -> subprocess.CompletedProcess[str]:
    """Run ``code`` as a script (or ``-m name`` when flags say so) in the test's store."""
    work = tmp_path / "work"
    (work / f"{name}.py").write_text(textwrap.dedent(code))
    target = ["-m", name] if "-m" in flags else [f"{name}.py"]
    return subprocess.run(
        [sys.executable, *(f for f in flags if f != "-m"), *target], cwd=work, capture_output=True, text=True,
        timeout=120, env={**os.environ, "TRACKKIT_DIR": str(tmp_path / "store"), "TRACKKIT_SILENT": "1"},
    )


def _ending(path: str = "p/x") -> tuple[str, int, str | None]:
    run = trackkit.Api().run(path)
    return run.state, run.metadata["exit_code"], run.metadata.get("exit_reason")


def _losses(path: str = "p/x") -> list[float]:
    return [row["loss"] for row in trackkit.Api().run(path).scan_history()]


@pytest.mark.parametrize("flags", [(), ("-W", "error"), ("-X", "dev")])
def test_sys_exit_3_after_logging_fails_the_run_with_3_and_keeps_every_row(tmp_path: Path, flags: tuple[str, ...]) -> None:
    """sys.exit(3) at the end of a script (also under -W error and -X dev) fails the run with exit code 3,
    and every logged row and the config are saved."""
    result = _run(tmp_path, LOG_THEN + "sys.exit(3)\n", *flags)
    assert result.returncode == 3 and result.stderr == "", result.stderr
    assert _ending() == ("failed", 3, "sys.exit(3)")
    assert _losses() == [1.0 / (step + 1) for step in range(500)]
    assert trackkit.Api().run("p/x").config == {"lr": 0.1}


def test_sys_exit_through_with_and_finally_still_counts(tmp_path: Path) -> None:
    """sys.exit(4) in a function, inside a `with` block and a try/finally (cleanup that does not catch it):
    the run fails with 4."""
    result = _run(tmp_path, LOG_THEN + textwrap.dedent("""
        import contextlib
        def main():
            with contextlib.ExitStack():
                try:
                    sys.exit(4)
                finally:
                    print("cleaned up")
        main()
        """))
    assert (result.returncode, result.stdout) == (4, "cleaned up\n"), result.stderr
    assert _ending() == ("failed", 4, "sys.exit(4)")


@pytest.mark.parametrize("ending", ["sys.exit(0)", "sys.exit(None)", "raise SystemExit(0)", "raise SystemExit"])
def test_a_zero_exit_finishes_the_run(tmp_path: Path, ending: str) -> None:
    """sys.exit(0) / sys.exit(None), written either way, leave the run finished with exit code 0."""
    result = _run(tmp_path, LOG_THEN + ending + "\n")
    assert result.returncode == 0, result.stderr
    assert _ending() == ("finished", 0, None)
    assert len(_losses()) == 500


RAISED = {
    "raise SystemExit(3)": ("raise SystemExit(3)\n", 3, "SystemExit(3)"),
    "raise SystemExit('bad input')": ("raise SystemExit('bad input')\n", 1, "SystemExit('bad input')"),
    "exit imported before init": ("exit(4)\n", 4, "SystemExit(4)"),
    "raise SystemExit(main())": ("def main():\n    return 5\nif __name__ == '__main__':\n    raise SystemExit(main())\n",
                                 5, "SystemExit(5)"),
}


@pytest.mark.parametrize("ending", list(RAISED))
def test_a_system_exit_raised_as_written_is_seen_on_python_3_12_and_later(tmp_path: Path, ending: str) -> None:
    """raise SystemExit(n), or an exit imported with `from sys import exit` before init: on 3.12+ the run
    fails with n (sys.monitoring sees the exception leave the program); before 3.12 nothing can see it,
    and the run is left finished, as the README says."""
    code, returncode, reason = RAISED[ending]
    script = "from sys import exit\n" + LOG_THEN + code
    result = _run(tmp_path, script)
    assert result.returncode == returncode, result.stderr
    assert _ending() == (("failed", returncode, reason) if MONITORING else ("finished", 0, None))
    assert len(_losses()) == 500


def test_raise_system_exit_under_python_dash_m(tmp_path: Path) -> None:
    """`python -m train` whose module raises SystemExit(main()): the same as a script (3.12+), and sys.exit
    through runpy's frames is seen on every Python."""
    _run(tmp_path, LOG_THEN + "raise SystemExit(6)\n", "-m", name="train_raise")
    assert _ending() == (("failed", 6, "SystemExit(6)") if MONITORING else ("finished", 0, None))
    _run(tmp_path, LOG_THEN.replace('id="x"', 'id="y"') + "sys.exit(7)\n", "-m", name="train_call")
    assert _ending("p/y") == ("failed", 7, "sys.exit(7)")


def test_a_caught_sys_exit_is_not_the_programs_exit_code(tmp_path: Path) -> None:
    """A sys.exit(2) caught inside a function (a CLI parser tried on bad input) and a program that then ends
    normally: the run is finished, not failed with 2."""
    result = _run(tmp_path, LOG_THEN + textwrap.dedent("""
        import argparse
        def parse(argv):
            try:
                return argparse.ArgumentParser().parse_args(argv)
            except SystemExit:
                return None
        assert parse(["--nope"]) is None
        run.log({"loss": 0.0})
        """))
    assert result.returncode == 0, result.stderr
    assert _ending() == ("finished", 0, None)
    assert len(_losses()) == 501


def test_every_active_run_gets_the_exit_code_and_finished_ones_are_left_alone(tmp_path: Path) -> None:
    """Several runs in one process: those still active at sys.exit(5) are failed with 5; one finished
    earlier stays finished, and a run started after a finished one starts with a clean record."""
    result = _run(tmp_path, """
        import sys, trackkit
        first = trackkit.init(project="p", id="first")
        try:
            sys.exit(9)  # caught at module level, then the run is finished by hand: nothing of it lingers
        except SystemExit:
            pass
        first.log({"loss": 1.0})
        first.finish()
        second = trackkit.init(project="p", id="second")
        third = trackkit.init(project="p", id="third", reinit="create_new")
        second.log({"loss": 2.0})
        third.log({"loss": 3.0})
        sys.exit(5)
        """)
    assert result.returncode == 5, result.stderr
    assert _ending("p/first") == ("finished", 0, None)
    assert _ending("p/second") == _ending("p/third") == ("failed", 5, "sys.exit(5)")
    assert (_losses("p/first"), _losses("p/second"), _losses("p/third")) == ([1.0], [2.0], [3.0])


def test_a_program_that_replaces_sys_exit_keeps_its_own(tmp_path: Path) -> None:
    """A sys.exit the program set before init is called through and put back at finish; one it sets
    while a run is active (wrapping ours) is left in place at finish, and its exit code still counts."""
    result = _run(tmp_path, """
        import sys, trackkit
        def my_exit(code=None):
            print("my_exit", code)
            raise SystemExit(code)
        sys.exit = my_exit
        run = trackkit.init(project="p", id="before")
        assert sys.exit is not my_exit
        run.finish()
        assert sys.exit is my_exit, sys.exit

        run = trackkit.init(project="p", id="x")
        ours = sys.exit
        def wrapper(code=None):
            print("wrapper", code)
            ours(code)
        sys.exit = wrapper
        run.log({"loss": 1.0})
        sys.exit(8)
        """)
    assert result.returncode == 8, result.stderr
    assert result.stdout == "wrapper 8\nmy_exit 8\n"
    assert _ending("p/before") == ("finished", 0, None)
    assert _ending() == ("failed", 8, "sys.exit(8)")


def test_a_forked_child_that_exits_does_not_end_the_parents_run(tmp_path: Path) -> None:
    """A child forked while a run is active calls sys.exit(9) (and one raises SystemExit(4)): the parent
    sees the children's codes, its run stays its own, and a normal end finishes it with every row."""
    result = _run(tmp_path, LOG_THEN + textwrap.dedent("""
        import os
        def child(how):
            pid = os.fork()
            if pid == 0:
                run.log({"loss": -1.0})  # ignored in a child, with a warning
                if how == "call":
                    sys.exit(9)
                raise SystemExit(4)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        import warnings
        warnings.simplefilter("ignore")
        print(child("call"), child("raise"))
        run.log({"loss": 0.0})
        """))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["9", "4"]
    assert _ending() == ("finished", 0, None)
    assert _losses()[-2:] == [1.0 / 500, 0.0] and len(_losses()) == 501


def test_a_pytest_session_whose_tests_raise_system_exit_ends_by_its_own_exit_code(tmp_path: Path) -> None:
    """Under `python -m pytest`, SystemExit raised and caught inside tests is not the exit code: a run left
    active through a passing session is finished with 0."""
    work = tmp_path / "work"
    (work / "test_cli.py").write_text(textwrap.dedent("""
        import sys, pytest, trackkit
        run = trackkit.init(project="p", id="x")  # active for the whole session, never finished

        def test_exit_code():
            run.log({"loss": 1.0})
            with pytest.raises(SystemExit) as caught:
                sys.exit(3)
            assert caught.value.code == 3

        def test_raised():
            with pytest.raises(SystemExit):
                raise SystemExit(2)
        """))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_cli.py"], cwd=work,
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "TRACKKIT_DIR": str(tmp_path / "store"), "TRACKKIT_SILENT": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _ending() == ("finished", 0, None)
    assert _losses() == [1.0]


@pytest.mark.skipif(not MONITORING, reason="sys.monitoring is new in Python 3.12")
def test_the_unwind_hook_holds_a_monitoring_tool_id_only_while_a_run_is_active() -> None:
    """On 3.12+, a tool id is taken at init and given back when the last run finishes; with every free id
    taken by other tools, a run starts all the same (with the sys.exit wrapper only)."""
    monitoring = sys.monitoring
    free = [tool for tool in (3, 4) if monitoring.get_tool(tool) is None]
    run = trackkit.init(project="p")
    assert [tool for tool in (3, 4) if monitoring.get_tool(tool) == "trackkit"] == free[:1]
    run.finish()
    assert [tool for tool in (3, 4) if monitoring.get_tool(tool) is None] == free
    for tool in free:
        monitoring.use_tool_id(tool, "someone else")
    try:
        with trackkit.init(project="p") as run:
            run.log({"loss": 1.0})
    finally:
        for tool in free:
            monitoring.free_tool_id(tool)
    assert trackkit.Api().run(f"p/{run.id}").state == "finished"
