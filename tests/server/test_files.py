"""Run files on the server: bytes streamed into a FileStore (a directory today), the listing in
PostgreSQL, names that cannot leave the run refused."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from trackkit import RunNotFoundError, UsageError
from trackkit.server.files import CHUNK, FileStore, LocalFileStore
from trackkit.server.postgres_store import PostgresStore


class _Stream(io.RawIOBase):
    """A binary source of ``size`` bytes that remembers the sizes it was asked to read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.asked: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        n = self.left if size < 0 else min(size, self.left)
        self.left -= n
        return bytes(n % 251 for n in range(n))


def test_a_local_file_store_streams_and_replaces(tmp_path: Path) -> None:
    """put reads the source in bounded chunks (never whole), replaces a file atomically, open reads it back."""
    files = LocalFileStore(tmp_path / "files")
    assert isinstance(files, FileStore)
    source = _Stream(5 * CHUNK + 7)
    assert files.put("p", "r", "checkpoints/last.ckpt", source) == 5 * CHUNK + 7
    assert source.asked and all(0 < size <= CHUNK for size in source.asked)
    with files.open("p", "r", "checkpoints/last.ckpt") as handle:
        assert len(handle.read()) == 5 * CHUNK + 7
    assert files.put("p", "r", "checkpoints/last.ckpt", b"v2") == 2
    assert files.open("p", "r", "checkpoints/last.ckpt").read() == b"v2"
    assert not [name for name in os.listdir(tmp_path / "files" / "p" / "r" / "checkpoints") if "tmp" in name]
    with pytest.raises(RunNotFoundError):
        files.open("p", "r", "nothing.bin")
    files.delete_run("p", "r")
    assert not (tmp_path / "files" / "p" / "r").exists()


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/etc/passwd", "a\\b", "", "a\0b", "C:/x"])
def test_names_that_leave_the_run_are_refused(tmp_path: Path, name: str) -> None:
    """No file name reaches outside <root>/<project>/<run>/: each is a UsageError, nothing is written."""
    files = LocalFileStore(tmp_path / "files")
    with pytest.raises(UsageError):
        files.put("p", "r", name, b"x")
    with pytest.raises(UsageError):
        files.put("..", "r", "ok.txt", b"x")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "files").exists()


def test_postgres_store_files_from_sink_and_store(pg_store: Any, project: str, tmp_path: Path) -> None:
    """Files put through the sink or the store are listed by name with size and time, and read back."""
    sink, _ = pg_store.open_run(project, "r", resume=None)
    sink.write_meta({"id": "r"})
    source = tmp_path / "diff.patch"
    source.write_bytes(b"--- a\n+++ b\n")
    sink.put_file("diff.patch", str(source))
    sink.put_file("checkpoints/epoch=1.ckpt", io.BytesIO(b"\0" * 3000))
    sink.close()
    info = pg_store.put_file(project, "r", "output.log", b"line\n")
    assert info["name"] == "output.log" and info["size"] == 5
    listed = pg_store.list_files(project, "r")
    assert [(f["name"], f["size"]) for f in listed] == [("checkpoints/epoch=1.ckpt", 3000), ("diff.patch", 12), ("output.log", 5)]
    assert all(isinstance(f["updated_at"], float) for f in listed)
    with pg_store.open_file(project, "r", "diff.patch") as handle:
        assert handle.read() == b"--- a\n+++ b\n"
    with pytest.raises(RunNotFoundError):
        pg_store.open_file(project, "r", "missing.txt")
    with pytest.raises(RunNotFoundError):
        pg_store.put_file(project, "no-such-run", "x.txt", b"x")


def test_a_store_without_a_files_dir_says_so(pg_database: str, pg_store: Any, project: str) -> None:
    """File operations on a store given no place for files raise a UsageError naming files_dir."""
    sink, _ = pg_store.open_run(project, "r", resume=None)
    sink.write_meta({"id": "r"})
    sink.close()
    store = PostgresStore(pg_database, min_size=1, max_size=1)
    try:
        with pytest.raises(UsageError, match="files_dir"):
            store.put_file(project, "r", "a.txt", b"x")
        assert store.list_files(project, "r") == []
    finally:
        store.close()
