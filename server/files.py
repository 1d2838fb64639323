"""Where the server keeps the bytes of run files (checkpoints, a git diff, ``output.log`` ...).

The PostgreSQL store keeps the listing (name, size, time) in ``run_files`` and the bytes in a
``FileStore``: today a directory (``--files-dir``), tomorrow an S3-compatible bucket, without the
store changing. The contract is small on purpose:

- ``put`` streams a source in (a path, bytes or a binary file object read in 1 MiB chunks, never
  whole in memory) and replaces the file atomically: readers see the old bytes or the new, never a
  mix; it returns the size written.
- ``open`` returns a binary file object positioned at the start (an S3 implementation returns its
  streaming body).
- ``delete_run`` removes every file of a run.

Keys are ``<project>/<run id>/<name>``; project and run id pass ``check_name`` and the name passes
``check_file_name`` (relative, ``/``-separated, no ``..``), so no key can leave the root.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import IO, Protocol, runtime_checkable

from trackkit import RunNotFoundError, UsageError
from trackkit._local_store import check_name
from trackkit._store import FileSource

__all__ = ["CHUNK", "FileStore", "LocalFileStore", "check_file_name"]

CHUNK = 1 << 20


def check_file_name(name: str) -> str:
    """A run file name: relative, ``/``-separated, no ``..``, no empty parts; returned normalised."""
    try:  # the one rule every store shares, where this trackkit has it
        from trackkit._run_files import check_file_name as shared
    except ImportError:  # pragma: no cover - older core
        shared = None
    if shared is not None:
        return shared(name)
    if not isinstance(name, str) or not name or "\0" in name or "\\" in name or name.startswith("/"):  # pragma: no cover
        raise UsageError(f"file name {name!r} is not valid: use a relative path like 'checkpoints/last.ckpt'.")
    parts = [part for part in name.split("/") if part not in ("", ".")]  # pragma: no cover
    if not parts or ".." in parts:  # pragma: no cover
        raise UsageError(f"file name {name!r} leaves the run's files; use a path without '..'.")
    return "/".join(parts)  # pragma: no cover


@runtime_checkable
class FileStore(Protocol):
    """The bytes of run files, by project, run id and file name."""

    location: str

    def put(self, project: str, run_id: str, name: str, source: FileSource) -> int:
        """Store (or replace, atomically) a file streamed from ``source``; returns its size in bytes."""

    def open(self, project: str, run_id: str, name: str) -> IO[bytes]:
        """The file for reading; ``RunNotFoundError`` when there is none."""

    def delete_run(self, project: str, run_id: str) -> None:
        """Remove every file of the run (nothing to remove is fine)."""


class LocalFileStore:
    """Run files under a directory: ``<root>/<project>/<run id>/<name>``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.location = os.path.abspath(os.fspath(root))

    def __repr__(self) -> str:
        return f"LocalFileStore({self.location!r})"

    def _run_dir(self, project: str, run_id: str) -> str:
        return os.path.join(self.location, check_name("project", project), check_name("run id", run_id))

    def _path(self, project: str, run_id: str, name: str) -> str:
        return os.path.join(self._run_dir(project, run_id), *check_file_name(name).split("/"))

    def put(self, project: str, run_id: str, name: str, source: FileSource) -> int:
        path = self._path(project, run_id, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp-put"  # unique: two requests may put one name at once
        try:
            with open(tmp, "wb") as out:
                _copy(source, out)
            size = os.path.getsize(tmp)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return size

    def open(self, project: str, run_id: str, name: str) -> IO[bytes]:
        name = check_file_name(name)
        try:
            return open(self._path(project, run_id, name), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise RunNotFoundError(f"run {project}/{run_id} has no file {name!r}.") from None

    def delete_run(self, project: str, run_id: str) -> None:
        shutil.rmtree(self._run_dir(project, run_id), ignore_errors=True)


def _copy(source: FileSource, out: IO[bytes]) -> None:
    """Stream ``source`` into ``out`` in ``CHUNK``-sized pieces."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        out.write(source)
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            shutil.copyfileobj(handle, out, CHUNK)
    elif hasattr(source, "read"):
        while chunk := source.read(CHUNK):
            if isinstance(chunk, str):
                raise UsageError("put_file takes a binary file object (open it with 'rb'); got a text one.")
            out.write(chunk)
    else:
        raise UsageError(f"put_file takes a path, bytes or a binary file object; got {type(source).__name__}.")
