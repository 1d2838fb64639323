"""Console capture and exit codes, each in a fresh interpreter: what the user sees is unchanged,
output.log holds it, and the way the program ends decides the run's state and exit code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import trackkit

CONSOLE_SCRIPT = """
import logging, sys, trackkit
from rich.console import Console
from rich.progress import track
from tqdm import tqdm

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")  # its handler holds sys.stderr already
log = logging.getLogger("train")
streams = lambda: [(id(s), s.isatty(), s.fileno(), s.encoding, type(s)) for s in (sys.stdout, sys.stderr)]
rich = Console()
before = streams(), (rich.is_terminal, rich.width, rich.encoding)
run = trackkit.init(project="p")
assert (streams(), (rich.is_terminal, rich.width, rich.encoding)) == before, "the streams must answer as before"
print("epoch 1: loss=0.5")
log.info("from logging")
for _ in tqdm(range(3), file=sys.stderr, ascii=True, mininterval=0, desc="train"):
    pass
rich.print("[bold]rich line[/bold]")
for _ in track(range(3), description="rich bar", console=rich):
    pass
sys.stdout.write("ünïcode and a line without its newline")
run.finish()
assert "write" not in vars(sys.stdout) and "write" not in vars(sys.stderr)
print("after finish")
"""


def _run_bytes(tmp_path: Path, code: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run a script and keep its output as bytes (text mode would turn tqdm's \r into \n)."""
    script = tmp_path / "console_script.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env={**os.environ, **env},
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return result


def test_console_output_is_unchanged_and_copied_to_output_log(tmp_path: Path) -> None:
    """The terminal gets the same bytes with capture on and off; output.log holds prints, logging, the
    last state of a tqdm bar and rich's output, and nothing printed after finish."""
    captured = _run_bytes(tmp_path, CONSOLE_SCRIPT, TRACKKIT_RUN_ID="on")
    plain = _run_bytes(tmp_path, CONSOLE_SCRIPT, TRACKKIT_RUN_ID="off", TRACKKIT_CONSOLE="off")
    assert captured.stdout == plain.stdout
    assert _without_timings(captured.stderr) == _without_timings(plain.stderr)
    assert b"\r" in captured.stderr  # tqdm redrew its bar on the real stream as usual

    log = trackkit.Api().run("p/on").file("output.log").read_text().splitlines()
    assert log[0] == "epoch 1: loss=0.5" and log[1] == "INFO from logging"
    assert log[2].startswith("train: 100%|") and "3/3" in log[2]
    assert log[3] == "rich line" and log[4].startswith("rich bar ━") and "100%" in log[4]
    assert log[5:] == ["ünïcode and a line without its newline"]
    assert "output.log" not in [f.name for f in trackkit.Api().run("p/off").files()]


def _without_timings(text: bytes) -> bytes:
    """tqdm's rates and elapsed times differ from run to run."""
    return re.sub(rb"\[[^\]]*\] *", b"[]", text)


def test_console_log_is_put_while_the_run_is_live(run_python: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long run re-puts output.log periodically, so a reader sees it before finish."""
    run_python(
        """
        import time, trackkit, trackkit._context as context
        context.CONSOLE_PUT_INTERVAL = 0.1
        run = trackkit.init(project="p", id="live")
        print("early line", flush=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            names = [f["name"] for f in run.store.list_files("p", "live")]
            if "output.log" in names:
                break
            time.sleep(0.05)
        print("seen live:", "output.log" in names)
        """
    )
    log = trackkit.Api().run("p/live").file("output.log").read_text()
    assert log == "early line\nseen live: True\n"


ENDINGS = {
    "normal end": ("", 0, "finished", 0, None),
    "sys.exit(0)": ("sys.exit(0)", 0, "finished", 0, None),
    "sys.exit()": ("sys.exit()", 0, "finished", 0, None),
    "sys.exit(1)": ("sys.exit(1)", 1, "failed", 1, "sys.exit(1)"),
    "sys.exit('msg')": ("sys.exit('bad input file')", 1, "failed", 1, "sys.exit('bad input file')"),
    "argparse error": ("import argparse; argparse.ArgumentParser().parse_args(['--nope'])", 2, "failed", 2, "sys.exit(2)"),
    "uncaught exception": ("raise ValueError('diverged')", 1, "failed", 1, "ValueError: diverged"),
    "sys.exit in a thread": ("import threading; t = threading.Thread(target=sys.exit, args=(5,)); t.start(); t.join()",
                             0, "finished", 0, None),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_the_way_a_script_ends_sets_state_and_exit_code(run_python: Any, ending: str) -> None:
    """Outside a `with` block, sys.exit(n), an argparse error or an uncaught exception mark the run failed
    with the process's exit code, as W&B does; sys.exit(0) and a normal end finish it."""
    code, returncode, state, exit_code, reason = ENDINGS[ending]
    result = run_python(
        f"import sys, trackkit\nrun = trackkit.init(project='p', id='x')\nrun.log({{'loss': 1}})\n{code}\n", check=False
    )
    assert result.returncode == returncode, result.stderr
    stored = trackkit.Api().run("p/x")
    assert (stored.state, stored.metadata["exit_code"], stored.metadata.get("exit_reason")) == (state, exit_code, reason)
    assert [row["loss"] for row in stored.scan_history()] == [1]
    if "msg" in ending:
        assert "bad input file" in result.stderr  # Python still prints the message
        assert "bad input file" in stored.file("output.log").read_text()  # ...and the console log has it
    if "exception" in ending:
        assert "Traceback" in result.stderr and "ValueError: diverged" in stored.file("output.log").read_text()


def test_a_resumed_run_keeps_the_earlier_console_output(run_python: Any) -> None:
    """output.log of a resumed run holds every session's output, in order."""
    script = "import sys, trackkit\nrun = trackkit.init(project='p', id='again', resume='allow')\nprint(sys.argv[1])\n"
    run_python(script, "first session")
    run_python(script, "second session")
    assert trackkit.Api().run("p/again").file("output.log").read_text() == "first session\nsecond session\n"
