"""The local store's query side: run documents cached by file identity, and the system stream.

``query_runs`` over 10,000 runs must not read 30,000 JSON files each time. A run's document is
rebuilt only when its directory changed: every write of ``run.json``, ``config.json`` or
``summary.json`` creates a temporary file there and renames it over the old one, which moves the
directory's mtime (appends to the history do not, and documents do not depend on them). A directory
modified within the last two seconds is re-read anyway (the clock that stamps mtimes is coarse: two
writes in one tick look alike). Liveness, activity and unmerged Api edits (``edits.jsonl``) of
running runs are checked at every query.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ._jsonl import decode_array
from ._query import QueryMemo, run_document
from ._store import RunDocument, RunPage

__all__ = ["CACHE_FILE", "SYSTEM", "DocumentCache", "append_lines", "copy_document", "read_system"]

SYSTEM = "system.jsonl"
_RACY_SECONDS = 2.0
#: The saved copy of a project's run documents (``<project>/.documents.json``), rewritten after a
#: query that had to read many runs' files.
CACHE_FILE = ".documents.json"
_CACHE_VERSION = 1
_SAVE_AFTER = 50


def _as_key(value: Any) -> tuple[int, int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]), int(value[2]))


def _file_key(path: str) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def copy_document(document: RunDocument) -> RunDocument:
    """A copy a caller may change without touching the cache."""
    copied: Any = dict(document)
    copied["tags"] = list(document.get("tags") or [])
    copied["config"] = _copy_tree(document.get("config") or {})
    copied["summary"] = _copy_tree(document.get("summary") or {})
    return copied  # type: ignore[no-any-return]


def _copy_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_tree(v) for v in value]
    return value


class DocumentCache:
    """Per-run documents of one ``LocalStore``, rebuilt when their files change."""

    def __init__(self, store: Any) -> None:
        self._store = store  # a LocalStore: _read_record and _is_alive are its own rules
        # run dir -> (directory identity, meta, document, edits.jsonl identity)
        self._entries: dict[str, tuple[tuple[int, int], dict[str, Any], RunDocument, Any]] = {}
        self._lock = threading.Lock()
        self._loaded: set[str] = set()  # projects whose saved cache file was read
        self._rebuilt = 0  # documents read from their files by the current query
        self._memos: dict[str | None, QueryMemo] = {}  # per project (None: every project)

    def documents(self, project: str | None) -> list[RunDocument]:
        """The documents of a project's runs (every project's when None), in no particular order.
        Documents are shared with the cache: copy before changing one (``copy_document``)."""
        settled, live = self.split(project)
        return settled + live

    def query(self, project: str | None, filters: Any = None, order: Any = None, limit: int | None = None,
              offset: int = 0, fields: Sequence[str] | None = None) -> RunPage:
        """``query_runs`` (documents shared with the cache, as ``documents``): the filtered, sorted
        runs whose files did not change come from a ``QueryMemo``, so a repeated or re-sorted query
        neither reads nor sorts 10,000 documents again."""
        settled, live = self.split(project)
        with self._lock:
            memo = self._memos.get(project)
            if memo is None:
                memo = self._memos[project] = QueryMemo()
        return memo.query(settled, live, filters, order, limit, offset, fields)

    def split(self, project: str | None) -> tuple[list[RunDocument], list[RunDocument]]:
        """(settled, live): documents served from the cache as they are, the same objects while
        their files stay the same (in the same order while the project's folder does); and the
        others (running runs, judged again at every query, and runs changed too recently to be
        cached), fresh objects each time."""
        projects = self._store.projects() if project is None else [project]
        settled: list[RunDocument] = []
        live: list[RunDocument] = []
        now = time.time()
        for name in projects:
            project_dir = os.path.join(self._store.location, name)
            if name not in self._loaded:
                self._loaded.add(name)
                self._load(project_dir)
            self._rebuilt = 0
            try:
                entries = os.scandir(project_dir)
            except (FileNotFoundError, NotADirectoryError):
                continue
            # the common case inline (a cached run whose directory did not change): this loop is most of
            # the cost of a query over 10,000 runs; scandir's order is stable while the folder is
            cached_entry = self._entries.get
            listed: list[str] = []
            others: list[tuple[str, str, tuple[int, int]]] = []
            with entries:
                for entry in entries:
                    run_id = entry.name
                    if run_id.startswith("."):
                        continue
                    try:
                        status = entry.stat()
                    except OSError:
                        continue
                    key = (status.st_ino, status.st_mtime_ns)
                    cached = cached_entry(entry.path)
                    if cached is not None and cached[0] == key and cached[2].get("state") != "running":
                        settled.append(cached[2])
                        listed.append(run_id)
                    else:
                        others.append((run_id, entry.path, key))
            for run_id, path, key in others:
                document, stored = self._document(name, run_id, path, key, now)
                if document is not None:
                    (settled if stored else live).append(document)
                    listed.append(run_id)
            if self._rebuilt >= max(_SAVE_AFTER, len(listed) // 20):
                self._save(project_dir, set(listed))
        return settled, live

    # -- a saved copy, so that the first query of a process (the CLI) does not read every run ------
    def _load(self, project_dir: str) -> None:
        """Take the entries of the project's saved cache; each is still checked against its run
        directory before use, so a stale or foreign file costs a re-read, never a wrong answer."""
        try:
            with open(os.path.join(project_dir, CACHE_FILE), "rb") as handle:
                saved = decode_array(handle.read())
            if saved.get("version") != _CACHE_VERSION:
                return
            with self._lock:
                for run_id, (ino, mtime_ns, meta, document, edits) in saved["entries"].items():
                    key = (int(ino), int(mtime_ns))
                    self._entries.setdefault(os.path.join(project_dir, run_id), (key, meta, document, _as_key(edits)))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return

    def _save(self, project_dir: str, listed: set[str]) -> None:
        """Write the entries of the runs just listed (deleted runs drop out)."""
        with self._lock:
            entries = {run_id: [*entry[0], entry[1], entry[2], entry[3]] for run_id in listed
                       if (entry := self._entries.get(os.path.join(project_dir, run_id))) is not None}
        tmp = os.path.join(project_dir, f"{CACHE_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump({"version": _CACHE_VERSION, "entries": entries}, handle, allow_nan=True, default=repr)
            os.replace(tmp, os.path.join(project_dir, CACHE_FILE))
        except (OSError, ValueError, TypeError):
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def _document(self, project: str, run_id: str, run_dir: str, key: tuple[int, int],
                  now: float) -> tuple[RunDocument | None, bool]:
        """The run's document, and whether it is the cached object itself (a settled run whose
        directory did not change); None for a directory that holds no run."""
        with self._lock:
            cached = self._entries.get(run_dir)
        if cached is not None and cached[0] == key:
            meta, document, edits = cached[1], cached[2], cached[3]
            stored = True
        else:
            run_json = os.path.join(run_dir, "run.json")
            if not os.path.exists(run_json):
                return None, False  # not a run (or being deleted)
            edits = _file_key(os.path.join(run_dir, "edits.jsonl"))
            self._rebuilt += 1
            record = self._store._read_record(run_dir, project, run_id, check_liveness=False)
            meta = record["meta"]
            touched = [t for t in (_mtime(run_json), _mtime(os.path.join(run_dir, "history.jsonl")),
                                   _mtime(os.path.join(run_dir, "heartbeat"))) if t is not None]
            document = run_document(record, project, run_id, max(touched) if touched else None)
            with self._lock:
                stored = now - key[1] / 1e9 >= _RACY_SECONDS
                if stored:
                    self._entries[run_dir] = (key, meta, document, edits)
                else:
                    self._entries.pop(run_dir, None)
        if document.get("state") != "running":
            return document, stored
        if _file_key(os.path.join(run_dir, "edits.jsonl")) != edits:  # an Api edit the writer has not merged yet
            with self._lock:
                self._entries.pop(run_dir, None)
            return self._document(project, run_id, run_dir, (-1, -1), now)
        live: Any = dict(document)
        activity = [t for t in (_mtime(os.path.join(run_dir, "heartbeat")), _mtime(os.path.join(run_dir, "history.jsonl")),
                                document.get("updated_at")) if t is not None]
        live["updated_at"] = max(activity) if activity else None
        if not self._store._is_alive(run_dir, meta):
            live["state"] = "crashed"
            live["exit_reason"] = live.get("exit_reason") or "the writing process is gone (no heartbeat, lock released)"
        return live, False


def append_lines(path: str, rows: Sequence[dict[str, Any]]) -> None:
    """Append rows as JSON lines; all or none of them become durable."""
    dumps = json.JSONEncoder(allow_nan=True, separators=(",", ":"), default=repr).encode
    payload = ("\n".join([dumps(row) for row in rows]) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass
            raise
    finally:
        os.close(fd)


def read_system(path: str) -> Iterator[dict[str, Any]]:
    """The rows of a system-metrics file; a torn or damaged line is skipped."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return iter(())
    rows = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return iter(rows)
