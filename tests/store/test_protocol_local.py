"""The protocol suite (``protocol_cases``) over the local store and the memory store, plus what
only the local store promises: a cached run list that still sees every change on disk."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from protocol_cases import *  # noqa: F403 - the shared cases, collected here
from protocol_cases import make_run

import trackkit
from trackkit.testing import MemoryStore


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A fresh, empty store of each kind."""
    return trackkit.LocalStore(tmp_path / "s") if request.param == "local" else MemoryStore()


def _age(run_dir: Path, seconds: float = 60.0) -> None:
    past = time.time() - seconds
    for path in (run_dir / "run.json", run_dir / "config.json", run_dir / "summary.json", run_dir):
        os.utime(path, (past, past))


def test_the_local_run_list_sees_files_changed_behind_its_back(tmp_path: Path) -> None:
    """A document cached from old files is rebuilt when another process replaces one of them."""
    store = trackkit.LocalStore(tmp_path / "s")
    make_run(store, "p", "r1", summary={"acc": 0.5})
    _age(tmp_path / "s" / "p" / "r1")
    assert store.query_runs("p")["runs"][0]["summary"] == {"acc": 0.5}
    other = trackkit.LocalStore(tmp_path / "s")  # another process, as far as the cache knows
    record = other.read_run("p", "r1")
    other.update_run("p", "r1", summary={**record["summary"], "values": {"acc": 0.75}})
    assert store.query_runs("p")["runs"][0]["summary"] == {"acc": 0.75}
    other.delete_run("p", "r1")
    assert store.query_runs("p") == {"runs": [], "total": 0}


def test_a_local_run_whose_writer_died_is_listed_as_crashed(tmp_path: Path) -> None:
    """A run left 'running' by a process that is gone shows as crashed in query_runs."""
    store = trackkit.LocalStore(tmp_path / "s")
    make_run(store, "p", "r1", state="running")  # the sink is closed: no lock, no live pid
    run_dir = tmp_path / "s" / "p" / "r1"
    os.utime(run_dir / "heartbeat", (time.time() - 3600, time.time() - 3600))
    document = store.query_runs("p")["runs"][0]
    assert document["state"] == "crashed" and document["exit_reason"]
    assert store.project_infos()[0]["running"] == 0


def test_a_symbolic_link_cannot_lead_a_file_outside_the_run(tmp_path: Path) -> None:
    """A link planted in a run's files/ folder is not followed out of it, for writing or reading."""
    store = trackkit.LocalStore(tmp_path / "s")
    make_run(store, "p", "r1")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    files = tmp_path / "s" / "p" / "r1" / "files"
    files.mkdir(exist_ok=True)
    os.symlink(outside, files / "link")
    with pytest.raises(trackkit.UsageError):
        store.put_file("p", "r1", "link/new.txt", b"x")
    with pytest.raises(trackkit.UsageError):
        store.open_file("p", "r1", "link/secret.txt")
    assert not (outside / "new.txt").exists()


def test_a_saved_run_list_is_only_a_hint(tmp_path: Path) -> None:
    """The run documents a query saves for the next process are checked against each run: an edit
    made since, a deleted run or a garbled file never shows in an answer."""
    store = trackkit.LocalStore(tmp_path / "s")
    for number in range(60):
        make_run(store, "p", f"r{number:02d}", summary={"acc": number / 100})
        _age(tmp_path / "s" / "p" / f"r{number:02d}")
    assert store.query_runs("p")["total"] == 60
    saved = tmp_path / "s" / "p" / ".documents.json"
    assert saved.exists()
    editor = trackkit.LocalStore(tmp_path / "s")
    record = editor.read_run("p", "r05")
    editor.update_run("p", "r05", summary={**record["summary"], "values": {"acc": 0.99}})
    editor.delete_run("p", "r07")
    fresh = trackkit.LocalStore(tmp_path / "s")
    page = fresh.query_runs("p", order="-summary.acc", limit=1)
    assert [run["id"] for run in page["runs"]] == ["r05"] and page["total"] == 59
    saved.write_text("{garbled")
    assert trackkit.LocalStore(tmp_path / "s").query_runs("p", filters={"id": "r05"})["runs"][0]["summary"] == {"acc": 0.99}
