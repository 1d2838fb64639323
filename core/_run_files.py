"""The files a run owns besides its rows (checkpoints, a git diff, ``output.log`` ...), kept in a
directory: names are checked once here, writes replace a file atomically, reads stream.
"""

from __future__ import annotations

import os
from typing import IO

from ._errors import RunNotFoundError, UsageError
from ._store import FileInfo, FileSource

__all__ = ["check_file_name", "list_dir_files", "open_dir_file", "put_dir_file", "read_source"]


def check_file_name(name: str) -> str:
    """A run file name: relative, ``/``-separated, no ``..``, no empty parts; returned normalised."""
    if not isinstance(name, str) or not name or "\0" in name or "\\" in name:
        raise UsageError(f"file name {name!r} is not valid: use a relative path like 'checkpoints/last.ckpt'.")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UsageError(f"file name {name!r} is absolute; use a path relative to the run, like 'diff.patch'.")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise UsageError(f"file name {name!r} leaves the run's files; use a path without '..'.")
    return "/".join(parts)


def read_source(source: FileSource) -> bytes:
    """The bytes of a ``put_file`` source (a path, bytes, or a binary file object)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            return handle.read()
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            raise UsageError("put_file takes a binary file object (open it with 'rb'); got a text one.")
        return bytes(data)
    raise UsageError(f"put_file takes a path, bytes or a binary file object; got {type(source).__name__}.")


def _inside(root: str, name: str) -> str:
    """The path of ``name`` under ``root``, refusing one that a symbolic link leads outside."""
    path = os.path.join(root, *name.split("/"))
    real_root = os.path.realpath(root)
    if not os.path.realpath(path).startswith(real_root + os.sep):
        raise UsageError(f"file name {name!r} leads outside the run's files (through a symbolic link).")
    return path


def _info(root: str, name: str) -> FileInfo:
    status = os.stat(os.path.join(root, *name.split("/")))
    return {"name": name, "size": status.st_size, "updated_at": status.st_mtime}


def put_dir_file(root: str, name: str, source: FileSource) -> FileInfo:
    """Store ``source`` as ``root/name``, replacing it atomically (readers see the old or the new)."""
    name = check_file_name(name)
    os.makedirs(root, exist_ok=True)
    path = _inside(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp-put"
    try:
        with open(tmp, "wb") as out:
            if isinstance(source, (str, os.PathLike)):
                import shutil

                with open(source, "rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
            elif hasattr(source, "read") and not isinstance(source, (bytes, bytearray, memoryview)):
                while chunk := source.read(1 << 20):
                    if isinstance(chunk, str):
                        raise UsageError("put_file takes a binary file object (open it with 'rb'); got a text one.")
                    out.write(chunk)
            else:
                out.write(read_source(source))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return _info(root, name)


def list_dir_files(root: str) -> list[FileInfo]:
    """Every file under ``root``, by name (temporary files of a put in progress left out)."""
    infos: list[FileInfo] = []
    for directory, _, names in os.walk(root):
        for filename in names:
            if filename.endswith(".tmp-put"):
                continue
            relative = os.path.relpath(os.path.join(directory, filename), root).replace(os.sep, "/")
            try:
                infos.append(_info(root, relative))
            except FileNotFoundError:  # replaced or removed while we listed
                continue
    return sorted(infos, key=lambda info: info["name"])


def open_dir_file(root: str, name: str, run: str) -> IO[bytes]:
    """``root/name`` for reading; ``RunNotFoundError`` when the run has no such file."""
    name = check_file_name(name)
    try:
        return open(_inside(root, name), "rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise RunNotFoundError(f"run {run} has no file {name!r}.") from None
