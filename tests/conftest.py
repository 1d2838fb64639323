"""Shared fixtures: every test gets its own store directory and working directory, and no
test leaks an active run, a thread or an environment change into the next."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh store under ``tmp_path`` through ``TRACKKIT_DIR``, read at call time."""
    store = tmp_path / "store"
    monkeypatch.setenv("TRACKKIT_DIR", str(store))
    monkeypatch.setenv("TRACKKIT_SILENT", "1")
    for name in ("TRACKKIT_PROJECT", "TRACKKIT_MODE", "TRACKKIT_RUN_ID", "TRACKKIT_RESUME", "TRACKKIT_CONFIG_PATHS"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield store
    import trackkit

    while trackkit.run is not None:
        trackkit.run.finish()


@pytest.fixture
def run_python(tmp_path: Path, isolated_store: Path):
    """Run a Python script in a fresh interpreter, in the test's working directory and store."""

    def run(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
            check: bool = True, script_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
        directory = script_dir or (tmp_path / "work")
        directory.mkdir(parents=True, exist_ok=True)
        script = directory / "script.py"
        script.write_text(textwrap.dedent(code))
        full_env = {**os.environ, "TRACKKIT_DIR": str(isolated_store), "TRACKKIT_SILENT": "1", **(env or {})}
        result = subprocess.run(
            [sys.executable, str(script), *args], cwd=tmp_path / "work", env=full_env,
            capture_output=True, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"script failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    return run
