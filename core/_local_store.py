"""The embedded local store: one directory per run, plain files, no server, no database.

Layout (``<root>`` is ``./trackkit-runs`` unless ``store=``, ``dir=`` or the environment say otherwise, ``_stores``)::

    <root>/<project>/<run_id>/
        run.json        metadata and state        (replaced atomically)
        config.json     values, provenance, changes (replaced atomically, on every change)
        summary.json    summary                   (replaced atomically)
        history.jsonl   one JSON object per row   (append only)
        heartbeat       its mtime says the writer is alive
        .lock           flock held by the writing process while the run is open
        files/          the run's files

Why: each run is its own set of files, so writers never share a file (no "database is
locked"), damage to one run cannot spread, readers need no lock, and a torn last line after
``kill -9`` is skipped by the reader and trimmed on resume.
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import IO, Any

from ._edits import APPLIED_KEY, fold_edits
from ._errors import RunInUseError, RunNotFoundError, StorageWarning, UsageError
from ._store import (
    FileInfo,
    FileSource,
    KeyInfo,
    ProjectInfo,
    ResumeState,
    RunDocument,
    RunPage,
    RunRecord,
    SampledSeries,
    resolve_history,
)

try:  # POSIX; elsewhere liveness falls back to pid and heartbeat checks
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["HEARTBEAT_TIMEOUT", "LocalRunSink", "LocalStore", "check_name", "hostname", "read_history_file"]

HISTORY = "history.jsonl"
#: Edits made from outside the writing process (``edit_run``), one JSON line each; documents say how
#: many bytes of it they have merged (``edits_applied``).
EDITS = "edits.jsonl"
#: A running run whose heartbeat is older than this (seconds) and whose writer is gone is "crashed";
#: the default of ``TRACKKIT_HEARTBEAT_TIMEOUT``, which each ``LocalStore`` reads when it is made.
HEARTBEAT_TIMEOUT = 30.0


def hostname() -> str:
    """This machine's name, without importing ``socket``."""
    try:
        return os.uname().nodename
    except AttributeError:  # pragma: no cover - Windows
        import socket

        return socket.gethostname()


_HOST = hostname()
_FORBIDDEN = set('/\\#?%:*"<>|\0')


def check_name(kind: str, value: str) -> str:
    """Reject project names and run ids that cannot be a directory name."""
    if not isinstance(value, str) or not value or value in (".", "..") or _FORBIDDEN & set(value) or len(value) > 128:
        raise UsageError(
            f"{kind} {value!r} is not valid: use 1-128 characters without any of / \\ # ? % : * \" < > |."
        )
    return value


def _holds_run(path: str) -> bool:
    """Whether a directory holds at least one run (a subdirectory with ``run.json``)."""
    try:
        with os.scandir(path) as entries:
            return any(os.path.exists(os.path.join(e.path, "run.json")) for e in entries)
    except OSError:
        return False


def _write_json_atomic(path: str, document: Any) -> None:
    # A name of its own per writer (process, thread, call): the run's writer thread and an Api edit
    # in the same process must never write, rename or remove each other's temporary file.
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.{os.urandom(4).hex()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(document, handle, allow_nan=True, separators=(",", ":"))
    os.replace(tmp, path)


def _read_json(path: str, default: Any) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as error:
        warnings.warn(f"trackkit: could not read {path}: {error}; treating it as empty.", StorageWarning, stacklevel=3)
        return default


def read_history_file(path: str, include_superseded: bool = False) -> tuple[list[dict[str, Any]], list[int]]:
    """All rows of a history file (``resolve_history``), and the 1-based numbers of lines that were
    damaged and skipped."""
    rows, skipped, _ = read_history(path, include_superseded)
    return rows, skipped


def read_history(path: str, include_superseded: bool = False) -> tuple[list[dict[str, Any]], list[int], bool]:
    """Like ``read_history_file``, plus whether the last skipped line is an unterminated tail (a row
    being written by a live process, or cut off by a crash), judged from the same bytes."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return [], [], False
    if not data:
        return [], [], False
    complete = data.endswith(b"\n")
    body = data if complete else data[: data.rfind(b"\n") + 1]
    try:  # fast path: one C-level parse of the whole file
        from ._jsonl import decode_array  # orjson where no NaN/Infinity literal is (H3a)

        rows = decode_array(b"[" + body[:-1].replace(b"\n", b",") + b"]") if body else []  # body ends in one \n
        skipped = [] if complete else [body.count(b"\n") + 1]
        return _resolved(rows, data, include_superseded), skipped, not complete
    except ValueError:
        pass
    rows, skipped = [], []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            skipped.append(number)
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            skipped.append(number)
    resolved = _resolved(rows, data, include_superseded)
    return resolved, skipped, not complete and bool(skipped) and skipped[-1] == data.count(b"\n") + 1


def _resolved(rows: list[dict[str, Any]], data: bytes, include_superseded: bool) -> list[dict[str, Any]]:
    """Checkpointed rows collapse to their final version and rewinds hide superseded rows
    (``resolve_history``; cheap when the file has neither)."""
    if b'"_partial"' in data or b'"_rewind"' in data:
        return resolve_history(rows, include_superseded)
    return rows


def _read_edits(run_dir: str, cursor: int) -> list[tuple[int, dict[str, Any]]]:
    """The complete edit lines of ``edits.jsonl`` after byte ``cursor``, each with the offset after it."""
    try:
        with open(os.path.join(run_dir, EDITS), "rb") as handle:
            handle.seek(cursor)
            data = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return []
    edits: list[tuple[int, dict[str, Any]]] = []
    position = cursor
    for line in data.split(b"\n")[:-1]:  # a line still being written (no newline yet) waits
        position += len(line) + 1
        if not line.strip():
            continue
        try:
            edit = json.loads(line)
        except ValueError:
            continue  # torn by a killed editor
        if isinstance(edit, dict):
            edits.append((position, edit))
    return edits


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class LocalRunSink:
    """One run open for writing in a ``LocalStore``."""

    def __init__(self, run_dir: str, lock_handle: Any) -> None:
        self.run_dir = run_dir
        self._lock_handle = lock_handle
        self._history_path = os.path.join(run_dir, HISTORY)
        self._heartbeat_path = os.path.join(run_dir, "heartbeat")

    def write_meta(self, meta: dict[str, Any]) -> None:
        _write_json_atomic(os.path.join(self.run_dir, "run.json"), meta)

    def write_config(self, document: dict[str, Any]) -> None:
        _write_json_atomic(os.path.join(self.run_dir, "config.json"), document)

    def write_summary(self, document: dict[str, Any]) -> None:
        _write_json_atomic(os.path.join(self.run_dir, "summary.json"), document)

    def append_history(self, rows: Sequence[dict[str, Any]]) -> None:
        from ._jsonl import encode_rows  # orjson where exact (no NaN/inf lost), the standard library elsewhere

        payload = encode_rows(rows)
        fd = os.open(self._history_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.fstat(fd).st_size
            try:
                view = memoryview(payload)
                while view:  # a short write (disk full, file size limit) is continued or rolled back
                    view = view[os.write(fd, view):]
            except BaseException:
                # All or nothing: cut off the partial batch, so a retry neither duplicates rows nor
                # leaves a torn line in the middle of the file (truncating frees space on a full disk).
                try:
                    os.ftruncate(fd, start)
                except OSError:
                    pass
                raise
        finally:
            os.close(fd)
        self._index_appended(rows, start, start + len(payload))  # Store v2 history index (H3a)

    def heartbeat(self) -> None:
        try:
            os.utime(self._heartbeat_path)
        except FileNotFoundError:
            with open(self._heartbeat_path, "w", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()} {_HOST}\n")

    def read_edits(self, cursor: int) -> tuple[list[dict[str, Any]], int]:
        try:
            if os.stat(os.path.join(self.run_dir, EDITS)).st_size <= cursor:
                return [], cursor  # the common case: one stat per writer cycle
        except FileNotFoundError:
            return [], cursor
        edits = _read_edits(self.run_dir, cursor)
        return [edit for _, edit in edits], (edits[-1][0] if edits else cursor)

    def close(self) -> None:
        self._index_close()  # Store v2 history index (H3a)
        handle, self._lock_handle = self._lock_handle, None
        if handle is not None:
            handle.close()  # releases the flock

    # -- Store v2 write side (helper H3a; logic in _local_query / _run_files) ---------------------
    def append_system(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append system-metrics rows (each with ``_timestamp``) to ``system.jsonl``."""
        from ._local_query import SYSTEM, append_lines

        append_lines(os.path.join(self.run_dir, SYSTEM), rows)

    def put_file(self, name: str, source: FileSource) -> FileInfo:
        """Store (or replace) a file of the run under ``files/``."""
        from ._run_files import put_dir_file

        return put_dir_file(os.path.join(self.run_dir, "files"), name, source)

    def _index_appended(self, rows: Sequence[dict[str, Any]], start: int, end: int) -> None:
        """Keep the history index (``_history_index``) up to date. Never raises: the rows are already
        on disk, and an error here would make the writer retry the batch, writing every row twice.
        A failed update leaves the index stale; readers detect that by size and rebuild it."""
        try:
            writer = self.__dict__.get("_index_writer")
            if writer is None:
                from ._index_files import IndexWriter

                writer = self.__dict__.setdefault("_index_writer", IndexWriter(self.run_dir))
            writer.appended(rows, start, end)
        except Exception:  # the index is an optimisation (next append catches it up, or a reader rebuilds it)
            pass

    def _index_close(self) -> None:
        writer = self.__dict__.get("_index_writer")
        if writer is not None:
            try:
                writer.flush()
            except Exception:  # close must still release the run's lock
                pass


class LocalStore:
    """Runs as directories of plain files under ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        from ._settings import heartbeat_timeout

        self.location = os.path.abspath(os.fspath(root))
        self.heartbeat_timeout = heartbeat_timeout()

    def __repr__(self) -> str:
        return f"LocalStore({self.location!r})"

    def run_dir(self, project: str, run_id: str) -> str:
        """The directory of one run."""
        return os.path.join(self.location, check_name("project", project), check_name("run id", run_id))

    # -- writing -------------------------------------------------------------------------------
    def open_run(self, project: str, run_id: str, *, resume: str | None) -> tuple[LocalRunSink, ResumeState | None]:
        run_dir = self.run_dir(project, run_id)
        exists = os.path.exists(os.path.join(run_dir, "run.json"))
        if exists and resume in (None, "never"):
            hint = "pass resume='allow' to continue it" if resume is None else "resume='never' forbids reusing it"
            raise UsageError(f"run {project}/{run_id} already exists in {self.location}; {hint}, or choose another id.")
        if not exists and resume == "must":
            raise RunNotFoundError(
                f"resume='must' but there is no run {project}/{run_id} in {self.location}; "
                f"check the id or use resume='allow'."
            )
        os.makedirs(os.path.join(run_dir, "files"), exist_ok=True)
        lock_handle = self._acquire(run_dir, project, run_id)
        if not exists and os.path.exists(os.path.join(run_dir, "run.json")) and resume in (None, "never"):
            lock_handle.close()  # another process created this id while we waited for the lock
            raise UsageError(f"run {project}/{run_id} was just created by another process; choose another id.")
        exists = os.path.exists(os.path.join(run_dir, "run.json"))
        state: ResumeState | None = None
        if exists:
            self._trim_torn_tail(os.path.join(run_dir, HISTORY))
            rows, _ = read_history_file(os.path.join(run_dir, HISTORY))
            steps = [row["_step"] for row in rows if isinstance(row.get("_step"), int)]
            state = {
                "record": self._read_record(run_dir, project, run_id, check_liveness=False),
                "last_step": max(steps) if steps else None,
                "history_rows": len(rows),
                "rows": rows,
            }
        sink = LocalRunSink(run_dir, lock_handle)
        sink.heartbeat()
        return sink, state

    def _acquire(self, run_dir: str, project: str, run_id: str) -> Any:
        handle = open(os.path.join(run_dir, ".lock"), "a+")  # noqa: SIM115 - held for the run's life
        if fcntl is None:  # pragma: no cover - Windows
            return handle
        deadline = time.monotonic() + 2.0
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.close()
                    raise RunInUseError(
                        f"run {project}/{run_id} is open in another live process; two processes cannot "
                        f"write one run. Finish it there first, or use another id."
                    ) from None
                time.sleep(0.05)

    @staticmethod
    def _trim_torn_tail(path: str) -> None:
        try:
            with open(path, "rb+") as handle:
                data = handle.read()
                if data and not data.endswith(b"\n"):
                    handle.truncate(data.rfind(b"\n") + 1)
                    warnings.warn(
                        f"trackkit: dropped a torn last line in {path} (the process died while writing it).",
                        StorageWarning,
                        stacklevel=4,
                    )
        except FileNotFoundError:
            pass

    # -- reading -------------------------------------------------------------------------------
    def projects(self) -> list[str]:
        try:
            entries = os.scandir(self.location)
        except FileNotFoundError:
            return []
        with entries:
            # trackkit's own folders and others' (.git, .ipynb_checkpoints) start with "." and hold no
            # <run>/run.json; a project whose name starts with "." does (H1b)
            return sorted(e.name for e in entries if e.is_dir() and (not e.name.startswith(".") or _holds_run(e.path)))

    def run_ids(self, project: str) -> list[str]:
        try:
            entries = os.scandir(os.path.join(self.location, project))
        except (FileNotFoundError, NotADirectoryError):
            return []
        with entries:
            return sorted(e.name for e in entries if os.path.exists(os.path.join(e.path, "run.json")))

    def next_run_number(self, project: str) -> int:
        """The next number for a generated run name (1, 2, ...): a counter file in the project,
        advanced under a lock, so ``init`` never lists the project (started from the run count)."""
        project_dir = os.path.join(self.location, check_name("project", project))
        os.makedirs(project_dir, exist_ok=True)
        fd = os.open(os.path.join(project_dir, ".run-counter"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.read(fd, 64).strip()
            last = int(raw) if raw.isdigit() else len(self.run_ids(project))
            os.lseek(fd, 0, os.SEEK_SET)
            data = b"%d\n" % (last + 1)
            os.write(fd, data)
            os.ftruncate(fd, len(data))
            return last + 1
        finally:
            os.close(fd)  # releases the flock

    def read_run(self, project: str, run_id: str) -> RunRecord:
        run_dir = self.run_dir(project, run_id)
        if not os.path.exists(os.path.join(run_dir, "run.json")):
            raise RunNotFoundError(f"no run {project}/{run_id} in {self.location}.")
        return self._read_record(run_dir, project, run_id, check_liveness=True)

    def _read_record(self, run_dir: str, project: str, run_id: str, *, check_liveness: bool) -> RunRecord:
        record = self._read_documents(run_dir, project, run_id, check_liveness=check_liveness)
        applied = [document.get(APPLIED_KEY) for document in (record["meta"], record["config"], record["summary"])]
        cursor = min(value if isinstance(value, int) else 0 for value in applied)
        edits = _read_edits(run_dir, cursor)  # edits not merged yet (the writer picks them up each cycle)
        return fold_edits(record, edits) if edits else record

    def _read_documents(self, run_dir: str, project: str, run_id: str, *, check_liveness: bool) -> RunRecord:
        meta = _read_json(os.path.join(run_dir, "run.json"), {})
        meta.setdefault("id", run_id)
        meta.setdefault("project", project)
        meta.setdefault("state", "running")  # an unreadable run.json: its liveness decides
        if check_liveness and meta.get("state") == "running" and not self._is_alive(run_dir, meta):
            meta["state"] = "crashed"
            meta.setdefault("exit_reason", "the writing process is gone (no heartbeat, lock released)")
        return {
            "meta": meta,
            "config": _read_json(os.path.join(run_dir, "config.json"), {}),
            "summary": _read_json(os.path.join(run_dir, "summary.json"), {}),
        }

    def _is_alive(self, run_dir: str, meta: dict[str, Any]) -> bool:
        """Whether the process that writes a ``running`` run still holds it."""
        lock_path = os.path.join(run_dir, ".lock")
        if fcntl is not None and os.path.exists(lock_path) and meta.get("host", _HOST) == _HOST:  # no host: damaged
            with open(lock_path) as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True  # the writer holds its exclusive lock
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                return False
        if meta.get("host") == _HOST and isinstance(meta.get("pid"), int) and not _pid_alive(meta["pid"]):
            return False
        try:
            age = time.time() - os.path.getmtime(os.path.join(run_dir, "heartbeat"))
        except OSError:
            return False
        return age < self.heartbeat_timeout

    def _is_live(self, project: str, run_id: str) -> bool:
        """Whether a process is writing the run right now."""
        run_dir = self.run_dir(project, run_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StorageWarning)
            meta = _read_json(os.path.join(run_dir, "run.json"), {})
        return meta.get("state", "running") == "running" and self._is_alive(run_dir, meta)

    def iter_history(self, project: str, run_id: str, *, include_superseded: bool = False) -> Iterator[dict[str, Any]]:
        path = os.path.join(self.run_dir(project, run_id), HISTORY)
        rows, skipped, torn_tail = read_history(path, include_superseded)
        if torn_tail and self._is_live(project, run_id):
            skipped = skipped[:-1]  # the last line of a run being written is in flight, not damaged
        if skipped:
            warnings.warn(
                f"trackkit: skipped {len(skipped)} damaged line(s) of {path} (line {', '.join(map(str, skipped[:10]))}); "
                f"everything else was read. `trackkit doctor --repair` trims a torn tail.",
                StorageWarning,
                stacklevel=3,
            )
        return iter(rows)

    # -- editing -------------------------------------------------------------------------------
    def update_run(
        self,
        project: str,
        run_id: str,
        *,
        meta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        run_dir = self.run_dir(project, run_id)
        if not os.path.exists(os.path.join(run_dir, "run.json")):
            raise RunNotFoundError(f"no run {project}/{run_id} in {self.location}.")
        for name, document in (("run.json", meta), ("config.json", config), ("summary.json", summary)):
            if document is not None:
                _write_json_atomic(os.path.join(run_dir, name), document)

    def edit_run(
        self,
        project: str,
        run_id: str,
        *,
        meta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Append the edit to ``edits.jsonl``; if no process writes the run, merge it into the
        documents now, holding the run's lock (a writer that starts meanwhile waits for it)."""
        from ._edits import make_edit

        run_dir = self.run_dir(project, run_id)
        if not os.path.exists(os.path.join(run_dir, "run.json")):
            raise RunNotFoundError(f"no run {project}/{run_id} in {self.location}.")
        edit = make_edit(meta, config, summary)
        if edit is None:
            return
        line = json.dumps(edit, allow_nan=True, separators=(",", ":")).encode("utf-8") + b"\n"
        fd = os.open(os.path.join(run_dir, EDITS), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a line torn by a killed editor stays a damaged line of its own
            os.write(fd, line)
        finally:
            os.close(fd)
        if fcntl is None:  # pragma: no cover - Windows: readers and the next writer merge it
            return
        with open(os.path.join(run_dir, ".lock"), "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a live writer merges it within a flush interval; readers fold it meanwhile
            record = self._read_record(run_dir, project, run_id, check_liveness=False)
            if "meta" in edit:
                _write_json_atomic(os.path.join(run_dir, "run.json"), record["meta"])
            if "config" in edit:
                _write_json_atomic(os.path.join(run_dir, "config.json"), record["config"])
            if "summary" in edit:
                _write_json_atomic(os.path.join(run_dir, "summary.json"), record["summary"])

    def delete_run(self, project: str, run_id: str) -> None:
        import shutil

        run_dir = self.run_dir(project, run_id)
        if not os.path.isdir(run_dir):
            raise RunNotFoundError(f"no run {project}/{run_id} in {self.location}.")
        shutil.rmtree(run_dir)

    def check(self, *, repair: bool = False) -> dict[str, Any]:
        """``trackkit doctor``: find torn history lines, unreadable JSON files and runs left
        ``running`` by a dead process; with ``repair``, fix them without losing data (``_local_doctor``)."""
        from ._local_doctor import check_local_store

        return check_local_store(self, repair=repair)

    # -- Store v2: the query side (helper H3a; see trackkit._store.QueryStore, logic in _query,
    # _local_query, _sampling, _run_files) ---------------------------------------------------------
    def _existing_run_dir(self, project: str, run_id: str) -> str:
        run_dir = self.run_dir(project, run_id)
        if not os.path.exists(os.path.join(run_dir, "run.json")):
            raise RunNotFoundError(f"no run {project}/{run_id} in {self.location}.")
        return run_dir

    def _cache(self) -> Any:
        cache = self.__dict__.get("_document_cache")
        if cache is None:
            from ._local_query import DocumentCache

            cache = self.__dict__.setdefault("_document_cache", DocumentCache(self))
        return cache

    def _documents(self, project: str | None) -> list[RunDocument]:
        documents: list[RunDocument] = self._cache().documents(project)
        return documents

    def project_infos(self) -> list[ProjectInfo]:
        from ._query import project_infos_of

        return project_infos_of(self._documents(None))

    def query_runs(
        self,
        project: str | None,
        filters: dict[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
    ) -> RunPage:
        from ._local_query import copy_document

        page: RunPage = self._cache().query(project, filters, order, limit, offset, fields)
        page["runs"] = [copy_document(document) for document in page["runs"]]
        return page

    def _history_index(self, project: str, run_id: str) -> Any:
        """The run's history index, caught up with its history (``_index_files.load_index``)."""
        run_dir = self._existing_run_dir(project, run_id)
        cache = self.__dict__.get("_index_cache")
        if cache is None:
            from ._index_files import IndexCache

            cache = self.__dict__.setdefault("_index_cache", IndexCache())
        return cache.get(run_dir, lambda: not self._is_live(project, run_id))

    def history_keys(self, project: str, run_id: str) -> dict[str, KeyInfo]:
        from ._query import history_key_infos

        state = self._history_index(project, run_id)
        if state is None:
            return {}
        if not state.slow:
            infos: dict[str, KeyInfo] = state.key_infos()
            return infos
        return history_key_infos(self.iter_history(project, run_id))

    def scan_history(
        self,
        project: str,
        run_id: str,
        keys: Sequence[str] | None = None,
        min_step: int | None = None,
        max_step: int | None = None,
        include_superseded: bool = False,
    ) -> Iterator[dict[str, Any]]:
        from ._query import scan_rows

        self._existing_run_dir(project, run_id)
        rows = self.iter_history(project, run_id, include_superseded=include_superseded)
        if keys is None and min_step is None and max_step is None:
            return rows
        return scan_rows(rows, keys, min_step, max_step)

    def sample_history(
        self,
        project: str,
        run_id: str,
        keys: Sequence[str],
        x: str = "_step",
        samples: int = 1000,
        start: float | None = None,
        stop: float | None = None,
        include_superseded: bool = False,
    ) -> dict[str, SampledSeries]:
        from ._sampling import check_sample_args, sample_rows

        check_sample_args(keys, x, samples, start, stop)
        if not include_superseded:
            from ._index_sampling import sample_index

            state = self._history_index(project, run_id)
            if state is None:
                return {}
            try:
                sampled = sample_index(state, keys, x, samples, start, stop)
            except (OSError, ValueError):  # a damaged column file: answer from the rows, rebuild next time
                self.__dict__["_index_cache"].forget(self.run_dir(project, run_id), discard=not self._is_live(project, run_id))
                sampled = None
            if sampled is not None:
                return sampled
        rows = self.iter_history(project, run_id, include_superseded=include_superseded)
        return sample_rows(rows, keys, x, samples, start, stop)

    def scan_system(self, project: str, run_id: str) -> Iterator[dict[str, Any]]:
        from ._local_query import SYSTEM, read_system

        return read_system(os.path.join(self._existing_run_dir(project, run_id), SYSTEM))

    def sample_system(
        self,
        project: str,
        run_id: str,
        keys: Sequence[str] | None = None,
        samples: int = 1000,
        start: float | None = None,
        stop: float | None = None,
    ) -> dict[str, SampledSeries]:
        from ._sampling import sample_system_rows

        return sample_system_rows(list(self.scan_system(project, run_id)), keys, samples, start, stop)

    def list_files(self, project: str, run_id: str) -> list[FileInfo]:
        from ._run_files import list_dir_files

        return list_dir_files(os.path.join(self._existing_run_dir(project, run_id), "files"))

    def open_file(self, project: str, run_id: str, name: str) -> IO[bytes]:
        from ._run_files import open_dir_file

        return open_dir_file(os.path.join(self._existing_run_dir(project, run_id), "files"), name, f"{project}/{run_id}")

    def put_file(self, project: str, run_id: str, name: str, source: FileSource) -> FileInfo:
        from ._run_files import put_dir_file

        return put_dir_file(os.path.join(self._existing_run_dir(project, run_id), "files"), name, source)
