"""Choosing a store: the one place that turns ``store=``, ``dir=``, ``TRACKKIT_STORE`` and
``TRACKKIT_DIR`` into a ``Store``, used by ``init``, ``Api``, the CLI and the plugins.

Precedence (first given wins): ``store=`` > ``dir=`` > ``TRACKKIT_STORE`` > ``TRACKKIT_DIR`` >
the default folder. A store is named by

- a path, or ``file:///abs/path``: the local store (``LocalStore``);
- ``memory://name``: a ``MemoryStore`` shared by everything in this process that names it (tests);
- ``http(s)://host:port``: the tracking server (the ``server`` extra), with ``dir`` /
  ``TRACKKIT_DIR`` as the local spool; ``postgresql://...``: server side only.

The default folder is ``./trackkit-runs``: a name with a hyphen can never be imported, so a store
in the working directory cannot shadow the ``trackkit`` package (``./trackkit/``, the old default,
did, for editable installs). An existing ``./trackkit/`` store is still read and written, and a
note says once how to rename it.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from ._errors import UsageError
from ._local_store import LocalStore
from ._memory_store import MemoryStore
from ._store import Store

__all__ = [
    "DEFAULT_DIR_NAME",
    "LEGACY_DIR_NAME",
    "default_store_dir",
    "local_store",
    "open_store",
    "register_scheme",
    "resolve_store",
    "run_number",
]

#: The default store folder, in the working directory. Not an importable name (see the module docstring).
DEFAULT_DIR_NAME = "trackkit-runs"
#: The default folder before round 2; still used when it holds a store and the new one does not exist.
LEGACY_DIR_NAME = "trackkit"

#: ``opener(url, spool_dir)`` for each URL scheme beyond ``file`` and ``memory``; see ``register_scheme``.
Opener = Callable[[str, "str | None"], Store]
_OPENERS: dict[str, Opener] = {}
#: The module whose import registers a scheme's opener (imported on first use).
_PROVIDERS = {
    "http": "trackkit._http_store",
    "https": "trackkit._http_store",
    "postgresql": "trackkit.server.postgres_store",
    "postgres": "trackkit.server.postgres_store",
}
_ACCEPTED = "a directory path, file:///path, memory://name, http(s)://host:port or postgresql://user@host/db"

_memory_stores: dict[str, MemoryStore] = {}
_memory_lock = threading.Lock()
#: One ``LocalStore`` per directory (and heartbeat timeout) in a process, most recent last, so that its
#: run-document and history-index caches stay warm across ``Api()`` instances, ``init`` and the CLI.
_local_stores: dict[tuple[str, float], LocalStore] = {}
_LOCAL_STORES_KEPT = 16
_legacy_noted = False


def register_scheme(scheme: str, opener: Opener) -> None:
    """Make ``open_store`` open ``scheme://...`` URLs with ``opener(url, spool_dir)`` (the server
    package registers ``http``, ``https`` and ``postgresql`` this way)."""
    _OPENERS[scheme.lower()] = opener


def default_store_dir(*, note: bool = True) -> str:
    """``./trackkit-runs``, or ``./trackkit`` when that holds a store and ``./trackkit-runs`` does not
    (then, with ``note``, say once how to rename it)."""
    global _legacy_noted
    cwd = os.getcwd()
    new = os.path.join(cwd, DEFAULT_DIR_NAME)
    if os.path.isdir(new):
        return new
    legacy = os.path.join(cwd, LEGACY_DIR_NAME)
    if _is_store(legacy):
        if note and not _legacy_noted and os.environ.get("TRACKKIT_SILENT", "").strip().lower() not in ("1", "true", "yes", "on"):
            _legacy_noted = True
            print(
                f"trackkit: using the store in ./{LEGACY_DIR_NAME}/ (the old default folder). Rename it to "
                f"./{DEFAULT_DIR_NAME}/ (`mv {LEGACY_DIR_NAME} {DEFAULT_DIR_NAME}`) so that it cannot shadow the "
                f"trackkit package; trackkit then uses it without this note.",
                file=sys.stderr,
            )
        return legacy
    return new


def _is_store(path: str) -> bool:
    """A directory of projects of runs (``<project>/<run>/run.json``), not a Python package."""
    if not os.path.isdir(path) or os.path.exists(os.path.join(path, "__init__.py")):
        return False
    try:
        with os.scandir(path) as projects:
            for project in projects:
                if project.name.startswith(".") or not project.is_dir():
                    continue
                with os.scandir(project.path) as runs:
                    if any(os.path.exists(os.path.join(run.path, "run.json")) for run in runs):
                        return True
    except OSError:
        return False
    return False


def open_store(location: str | os.PathLike[str] | Store | None = None, *, dir: str | os.PathLike[str] | None = None) -> Store:
    """The store a path or URL names (see the module docstring); ``None`` resolves the environment.

    ``dir`` is the local spool of a remote store, ignored by the others.

    Example:
        >>> store = trackkit.open_store("memory://tests")
        >>> trackkit.init(project="p", store=store).finish()
    """
    if location is None:
        return resolve_store(dir=dir)
    if not isinstance(location, (str, os.PathLike)):
        return location  # already a store
    text = os.fspath(location)
    if not isinstance(text, str):
        raise UsageError(f"a store location must be a path or URL string; got {text!r}.")
    scheme, sep, rest = text.partition("://")
    if not sep or len(scheme) == 1:  # a path (C:\\... on Windows has a one-letter "scheme")
        if not text:
            raise UsageError(f"an empty store location; give {_ACCEPTED}.")
        return local_store(text)
    scheme = scheme.lower()
    if scheme == "file":
        return local_store(_file_path(text, rest))
    if scheme == "memory":
        return memory_store(rest.strip("/") or "default")
    opener = _opener(scheme, text)
    return opener(text, os.fspath(dir) if dir is not None else os.environ.get("TRACKKIT_DIR") or None)


def _file_path(url: str, rest: str) -> str:
    host, slash, path = rest.partition("/")
    if host not in ("", "localhost"):
        raise UsageError(f"store {url!r}: a file:// URL names a local path (file:///abs/path); got host {host!r}.")
    from urllib.request import url2pathname

    return url2pathname(slash + path)


def local_store(path: str | os.PathLike[str]) -> LocalStore:
    """The process's ``LocalStore`` for a directory: one instance per path, shared, so that a new
    ``Api()`` finds its caches warm (they key every entry by the files' identity, size and mtime, so
    a shared instance never serves a stale document). A changed ``TRACKKIT_HEARTBEAT_TIMEOUT`` gets
    a store of its own."""
    from ._settings import heartbeat_timeout

    key = (os.path.abspath(os.fspath(path)), heartbeat_timeout())
    with _memory_lock:
        store = _local_stores.pop(key, None)
        if store is None:
            store = LocalStore(key[0])
        _local_stores[key] = store  # most recent last
        while len(_local_stores) > _LOCAL_STORES_KEPT:
            del _local_stores[next(iter(_local_stores))]
        return store


def memory_store(name: str) -> MemoryStore:
    """The process-wide ``MemoryStore`` that ``memory://<name>`` names."""
    with _memory_lock:
        store = _memory_stores.get(name)
        if store is None:
            store = _memory_stores[name] = MemoryStore()
            store.location = f"memory://{name}"
        return store


def _opener(scheme: str, url: str) -> Opener:
    opener = _OPENERS.get(scheme)
    if opener is not None:
        return opener
    provider = _PROVIDERS.get(scheme)
    if provider is None:
        raise UsageError(f"store {url!r}: unknown scheme {scheme!r}; give {_ACCEPTED}.")
    try:
        importlib.import_module(provider)
    except ImportError as error:
        missing = getattr(error, "name", None) or provider
        if missing != provider and not provider.startswith(f"{missing}."):
            raise UsageError(
                f"store {url!r} needs the tracking server's dependencies ({missing} is missing): "
                f"pip install 'trackkit[server]'"
            ) from None
    opener = _OPENERS.get(scheme)
    if opener is None:
        raise UsageError(
            f"store {url!r}: {scheme}:// stores come with the tracking server: pip install 'trackkit[server]' "
            f"(this installation cannot open them yet)."
        )
    return opener


def resolve_store(store: str | os.PathLike[str] | Store | None = None, dir: str | os.PathLike[str] | None = None) -> Store:
    """The store of ``init`` / ``Api`` / the CLI: ``store=`` > ``dir=`` > ``TRACKKIT_STORE`` >
    ``TRACKKIT_DIR`` > the default folder (read at call time, never at import)."""
    if store is not None:
        return open_store(store, dir=dir)
    if dir is not None:
        return local_store(dir)
    from_env = os.environ.get("TRACKKIT_STORE")
    if from_env:
        return open_store(from_env, dir=os.environ.get("TRACKKIT_DIR") or None)
    local = os.environ.get("TRACKKIT_DIR")
    return local_store(local if local else default_store_dir())


def run_number(store: Any, project: str) -> int:
    """The number in a new run's generated name: the store's counter, constant-time in the size of
    the project; a store without one counts its runs."""
    counter = getattr(store, "next_run_number", None)
    if counter is not None:
        return int(counter(project))
    return len(store.run_ids(project)) + 1
