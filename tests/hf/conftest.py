"""Fixtures for the Hugging Face tests: the tiny trainer helpers importable in subprocesses too."""

from __future__ import annotations

from pathlib import Path

import pytest
from hf_tiny import StoreCase

HERE = Path(__file__).parent


@pytest.fixture
def hf_python(run_python):
    """``run_python`` with ``hf_tiny`` importable and the Trainer quiet."""

    def run(code: str, *args: str, env: dict[str, str] | None = None, **kwargs):
        return run_python(code, *args, env={"PYTHONPATH": str(HERE), **(env or {})}, **kwargs)

    return run


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest) -> StoreCase:
    """The local store and ``trackkit.testing.MemoryStore`` in turn (single-process tests only)."""
    return StoreCase(request.param)
