"""Stores that keep runs in memory (tests) or nowhere (``mode="disabled"``)."""

from __future__ import annotations

import copy
import io
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

from ._errors import RunInUseError, RunNotFoundError, UsageError
from ._store import (
    FileInfo,
    FileSource,
    KeyInfo,
    ProjectInfo,
    ResumeState,
    RunPage,
    RunRecord,
    SampledSeries,
    resolve_history,
)

__all__ = ["MemoryStore", "NullSink"]


class NullSink:
    """Accepts every write and keeps nothing: the sink of a disabled run."""

    def write_meta(self, meta: dict[str, Any]) -> None:
        pass

    def write_config(self, document: dict[str, Any]) -> None:
        pass

    def write_summary(self, document: dict[str, Any]) -> None:
        pass

    def append_history(self, rows: Sequence[dict[str, Any]]) -> None:
        pass

    def heartbeat(self) -> None:
        pass

    def close(self) -> None:
        pass

    def read_edits(self, cursor: int) -> tuple[list[dict[str, Any]], int]:
        return [], cursor

    # -- Store v2 write side -----------------------------------------------------------------------
    def append_system(self, rows: Sequence[dict[str, Any]]) -> None:
        pass

    def put_file(self, name: str, source: FileSource) -> FileInfo:
        from ._run_files import check_file_name, read_source

        return {"name": check_file_name(name), "size": len(read_source(source)), "updated_at": time.time()}


class _MemoryRun:
    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.history: list[str] = []  # JSON text, as a real store would hold it
        self.system: list[str] = []
        self.files: dict[str, tuple[bytes, float]] = {}
        self.updated_at: float | None = None
        self.open = False
        self.edits: list[dict[str, Any]] = []  # Store.edit_run, in order; a document's cursor counts them

    def record(self) -> RunRecord:
        """The documents with the edits they have not merged yet folded in (copies)."""
        from ._edits import APPLIED_KEY, fold_edits

        record: RunRecord = {"meta": copy.deepcopy(self.meta), "config": copy.deepcopy(self.config),
                             "summary": copy.deepcopy(self.summary)}
        cursors = [d.get(APPLIED_KEY) for d in (record["meta"], record["config"], record["summary"])]
        start = min(c if isinstance(c, int) else 0 for c in cursors)
        pending = [(index + 1, copy.deepcopy(edit)) for index, edit in enumerate(self.edits) if index >= start]
        return fold_edits(record, pending) if pending else record


class _MemorySink:
    def __init__(self, store: MemoryStore, run: _MemoryRun) -> None:
        self._store = store
        self._run = run

    def write_meta(self, meta: dict[str, Any]) -> None:
        self._run.updated_at = time.time()
        self._run.meta = json.loads(json.dumps(meta))

    def write_config(self, document: dict[str, Any]) -> None:
        self._run.updated_at = time.time()
        self._run.config = json.loads(json.dumps(document))

    def write_summary(self, document: dict[str, Any]) -> None:
        self._run.updated_at = time.time()
        self._run.summary = json.loads(json.dumps(document))

    def append_history(self, rows: Sequence[dict[str, Any]]) -> None:
        with self._store._lock:
            self._run.history.extend(json.dumps(row) for row in rows)
            self._run.updated_at = time.time()

    def heartbeat(self) -> None:
        self._run.updated_at = time.time()

    def read_edits(self, cursor: int) -> tuple[list[dict[str, Any]], int]:
        with self._store._lock:
            edits = self._run.edits[cursor:]
            return copy.deepcopy(edits), cursor + len(edits)

    def close(self) -> None:
        self._run.open = False

    # -- Store v2 write side -----------------------------------------------------------------------
    def append_system(self, rows: Sequence[dict[str, Any]]) -> None:
        with self._store._lock:
            self._run.system.extend(json.dumps(row) for row in rows)

    def put_file(self, name: str, source: FileSource) -> FileInfo:
        return self._store._put(self._run, name, source)


class MemoryStore:
    """A store in memory, for tests: ``trackkit.init(store=MemoryStore())``, then ``Api(store=...)``."""

    def __init__(self) -> None:
        self.location = f"memory:{id(self):x}"
        self._runs: dict[tuple[str, str], _MemoryRun] = {}
        self._lock = threading.Lock()

    def open_run(self, project: str, run_id: str, *, resume: str | None) -> tuple[_MemorySink, ResumeState | None]:
        key = (project, run_id)
        with self._lock:
            run = self._runs.get(key)
            if run is not None and resume in (None, "never"):
                raise UsageError(f"run {project}/{run_id} already exists; pass resume='allow' to continue it.")
            if run is None and resume == "must":
                raise RunNotFoundError(f"resume='must' but there is no run {project}/{run_id}.")
            if run is not None and run.open:
                raise RunInUseError(f"run {project}/{run_id} is already open for writing.")
            state: ResumeState | None = None
            if run is None:
                run = self._runs[key] = _MemoryRun()
            else:
                rows = resolve_history([json.loads(line) for line in run.history])
                steps = [row["_step"] for row in rows if isinstance(row.get("_step"), int)]
                state = {
                    "record": run.record(),
                    "last_step": max(steps) if steps else None,
                    "history_rows": len(rows),
                    "rows": rows,
                }
            run.open = True
        return _MemorySink(self, run), state

    def projects(self) -> list[str]:
        return sorted({project for project, _ in self._runs})

    def run_ids(self, project: str) -> list[str]:
        return sorted(run_id for p, run_id in self._runs if p == project)

    def next_run_number(self, project: str) -> int:
        """The next number for a generated run name: a counter per project (started from the runs
        whose metadata is written, so a run being opened does not count itself)."""
        with self._lock:
            counters: dict[str, int] = self.__dict__.setdefault("_counters", {})
            last = counters.get(project)
            if last is None:
                last = sum(1 for (p, _), run in self._runs.items() if p == project and run.meta)
            counters[project] = last + 1
            return last + 1

    def _get(self, project: str, run_id: str) -> _MemoryRun:
        try:
            return self._runs[(project, run_id)]
        except KeyError:
            raise RunNotFoundError(f"no run {project}/{run_id} in this memory store.") from None

    def read_run(self, project: str, run_id: str) -> RunRecord:
        run = self._get(project, run_id)
        with self._lock:
            return run.record()

    def iter_history(self, project: str, run_id: str, *, include_superseded: bool = False) -> Iterator[dict[str, Any]]:
        with self._lock:
            lines = list(self._get(project, run_id).history)
        return iter(resolve_history([json.loads(line) for line in lines], include_superseded))

    def update_run(
        self,
        project: str,
        run_id: str,
        *,
        meta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        run = self._get(project, run_id)
        if meta is not None:
            run.meta = copy.deepcopy(meta)
        if config is not None:
            run.config = copy.deepcopy(config)
        if summary is not None:
            run.summary = copy.deepcopy(summary)

    def edit_run(
        self,
        project: str,
        run_id: str,
        *,
        meta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Record the edit for the live writer (``read_edits``) and merge it into the documents now."""
        from ._edits import make_edit

        run = self._get(project, run_id)
        edit = make_edit(meta, config, summary)
        if edit is None:
            return
        with self._lock:
            run.edits.append(json.loads(json.dumps(edit)))
            record = run.record()
            run.meta, run.config, run.summary = record["meta"], record["config"], record["summary"]
            run.updated_at = time.time()

    def delete_run(self, project: str, run_id: str) -> None:
        self._get(project, run_id)
        del self._runs[(project, run_id)]

    # -- Store v2: the query side (see ``trackkit._store.QueryStore``) ---------------------------------
    def _document(self, project: str, run_id: str, run: _MemoryRun) -> Any:
        from ._query import run_document

        record = {"meta": run.meta, "config": run.config, "summary": run.summary}
        return run_document(copy.deepcopy(record), project, run_id, run.updated_at)

    def _documents(self, project: str | None) -> list[Any]:
        with self._lock:
            runs = [(p, r, run) for (p, r), run in self._runs.items() if project is None or p == project]
        return [self._document(p, r, run) for p, r, run in runs]

    def project_infos(self) -> list[ProjectInfo]:
        from ._query import project_infos_of

        return project_infos_of(self._documents(None))

    def query_runs(
        self,
        project: str | None,
        filters: Mapping[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
    ) -> RunPage:
        from ._query import query_documents

        return query_documents(self._documents(project), filters, order, limit, offset, fields)

    def history_keys(self, project: str, run_id: str) -> dict[str, KeyInfo]:
        from ._query import history_key_infos

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

        return scan_rows(self.iter_history(project, run_id, include_superseded=include_superseded), keys, min_step, max_step)

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
        from ._sampling import sample_rows

        rows = self.iter_history(project, run_id, include_superseded=include_superseded)
        return sample_rows(rows, keys, x, samples, start, stop)

    def scan_system(self, project: str, run_id: str) -> Iterator[dict[str, Any]]:
        with self._lock:
            lines = list(self._get(project, run_id).system)
        return iter([json.loads(line) for line in lines])

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

    def _put(self, run: _MemoryRun, name: str, source: FileSource) -> FileInfo:
        from ._run_files import check_file_name, read_source

        name = check_file_name(name)
        data = read_source(source)
        now = time.time()
        with self._lock:
            run.files[name] = (data, now)
        return {"name": name, "size": len(data), "updated_at": now}

    def list_files(self, project: str, run_id: str) -> list[FileInfo]:
        run = self._get(project, run_id)
        with self._lock:
            files = sorted(run.files.items())
        return [{"name": name, "size": len(data), "updated_at": at} for name, (data, at) in files]

    def open_file(self, project: str, run_id: str, name: str) -> IO[bytes]:
        from ._run_files import check_file_name

        run = self._get(project, run_id)
        name = check_file_name(name)
        with self._lock:
            entry = run.files.get(name)
        if entry is None:
            raise RunNotFoundError(f"run {project}/{run_id} has no file {name!r}.")
        return io.BytesIO(entry[0])

    def put_file(self, project: str, run_id: str, name: str, source: FileSource) -> FileInfo:
        return self._put(self._get(project, run_id), name, source)
