"""The store protocol suite (``tests/store/protocol_cases.py``) against the PostgreSQL store: the same
cases the local and memory stores pass, on a freshly emptied database for each case."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
pytest.register_assert_rewrite("protocol_cases")

from protocol_cases import *  # noqa: E402, F403 - the shared cases, collected here


@pytest.fixture
def store(pg_store: Any) -> Any:
    """The session's PostgresStore, emptied: every case starts with no runs and no files."""
    with pg_store.pool.connection() as conn:
        conn.execute("TRUNCATE runs CASCADE")
    return pg_store
