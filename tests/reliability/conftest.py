"""Fixtures for fault injection: training scripts started as real processes, and a way to wait for them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def spawn(tmp_path: Path, isolated_store: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a Python script as a background process in the test's store; killed at teardown."""
    processes: list[subprocess.Popen[str]] = []

    def start(code: str, *, name: str = "train", env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        work = tmp_path / "work"
        script = work / f"{name}.py"
        script.write_text(textwrap.dedent(code))
        full_env = {**os.environ, "TRACKKIT_DIR": str(isolated_store), "TRACKKIT_SILENT": "1", **(env or {})}
        process = subprocess.Popen(
            [sys.executable, str(script)], cwd=work, env=full_env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


@pytest.fixture
def wait_for() -> Callable[..., None]:
    """Poll ``condition`` until it holds; fail after a generous ``timeout``."""

    def wait(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
            time.sleep(0.02)

    return wait


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The working directory of the test and of the processes it starts."""
    return tmp_path / "work"
