"""Stores that keep runs in memory (tests) or nowhere (``mode="disabled"``)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ._errors import RunInUseError, RunNotFoundError, UsageError
from ._store import ResumeState, RunRecord, resolve_checkpoints

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


class _MemoryRun:
    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.history: list[str] = []  # JSON text, as a real store would hold it
        self.open = False


class _MemorySink:
    def __init__(self, store: MemoryStore, run: _MemoryRun) -> None:
        self._store = store
        self._run = run

    def write_meta(self, meta: dict[str, Any]) -> None:
        self._run.meta = json.loads(json.dumps(meta))

    def write_config(self, document: dict[str, Any]) -> None:
        self._run.config = json.loads(json.dumps(document))

    def write_summary(self, document: dict[str, Any]) -> None:
        self._run.summary = json.loads(json.dumps(document))

    def append_history(self, rows: Sequence[dict[str, Any]]) -> None:
        with self._store._lock:
            self._run.history.extend(json.dumps(row) for row in rows)

    def heartbeat(self) -> None:
        pass

    def close(self) -> None:
        self._run.open = False


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
                rows = resolve_checkpoints([json.loads(line) for line in run.history])
                steps = [row["_step"] for row in rows if isinstance(row.get("_step"), int)]
                state = {
                    "record": self.read_run(project, run_id),
                    "last_step": max(steps) if steps else None,
                    "history_rows": len(rows),
                }
            run.open = True
        return _MemorySink(self, run), state

    def projects(self) -> list[str]:
        return sorted({project for project, _ in self._runs})

    def run_ids(self, project: str) -> list[str]:
        return sorted(run_id for p, run_id in self._runs if p == project)

    def _get(self, project: str, run_id: str) -> _MemoryRun:
        try:
            return self._runs[(project, run_id)]
        except KeyError:
            raise RunNotFoundError(f"no run {project}/{run_id} in this memory store.") from None

    def read_run(self, project: str, run_id: str) -> RunRecord:
        run = self._get(project, run_id)
        return {"meta": copy.deepcopy(run.meta), "config": copy.deepcopy(run.config), "summary": copy.deepcopy(run.summary)}

    def iter_history(self, project: str, run_id: str) -> Iterator[dict[str, Any]]:
        with self._lock:
            lines = list(self._get(project, run_id).history)
        return iter(resolve_checkpoints([json.loads(line) for line in lines]))

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

    def delete_run(self, project: str, run_id: str) -> None:
        self._get(project, run_id)
        del self._runs[(project, run_id)]
