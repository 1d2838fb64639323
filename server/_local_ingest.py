"""Ingest into the local store (``trackkit server`` with no ``--store``): one server process.

Each run being synced is held open (``LocalStore.open_run``: the run's lock, its heartbeat) while a
writer's lease lasts; the lease is renewed by each batch, released when the run's state becomes final,
and reaped after the heartbeat timeout, which also lets the run read as crashed.

Rows and offset commit together: ``<run>/.sync`` records ``{"offset", "bytes"}``: the committed
offset and the size of ``history.jsonl`` it corresponds to, written (atomically) after the rows are
appended. A server killed in between leaves history longer than ``bytes``: the next open cuts it back
to ``bytes`` (the client never got an answer for those rows, and sends them again). System metrics
(``system.jsonl``) are kept the same way under ``system_offset`` / ``system_bytes``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from trackkit import RunInUseError
from trackkit._local_query import SYSTEM
from trackkit._local_store import HISTORY, LocalRunSink, LocalStore, _write_json_atomic

from .ingest import FINAL_STATES, Batch, OffsetGap, apply_documents

__all__ = ["SYNC_FILE", "LocalIngest"]

SYNC_FILE = ".sync"
_REAP_EVERY = 2.0


@dataclass
class _Lease:
    writer: str
    until: float
    sink: LocalRunSink
    offset: int
    size: int
    system_offset: int = 0
    system_size: int = 0
    stamp: float | None = None


class LocalIngest:
    """``IngestStore`` over a ``LocalStore`` (see the module docstring). Thread-safe; one process."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.timeout = store.heartbeat_timeout
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self._reaper: threading.Thread | None = None
        self._stop = threading.Event()

    def _lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    # -- IngestStore ---------------------------------------------------------------------------------
    def sync_state(self, project: str, run_id: str) -> dict[str, Any]:
        key = (project, run_id)
        with self._lock(key):
            lease = self._leases.get(key)
            if lease is not None:
                return {"offset": lease.offset, "system_offset": lease.system_offset,
                        "writer": lease.writer if lease.until > time.time() else None}
            sync = _read_sync(self.store.run_dir(project, run_id))
            return {"offset": sync.get("offset", 0), "system_offset": sync.get("system_offset", 0), "writer": None}

    def ingest_batch(self, batch: Batch) -> dict[str, int]:
        key = (batch.project, batch.run_id)
        self._start_reaper()
        with self._lock(key):
            lease = self._take_lease(key, batch.writer)
            if batch.offset > lease.offset or (batch.system and batch.system_offset > lease.system_offset):
                raise OffsetGap(lease.offset, lease.system_offset)
            rows = batch.rows[lease.offset - batch.offset:]
            system = batch.system[lease.system_offset - batch.system_offset:] if batch.system else []
            run_dir = lease.sink.run_dir
            if rows:
                lease.sink.append_history(rows)
                lease.size = os.path.getsize(os.path.join(run_dir, HISTORY))
                lease.offset += len(rows)
            if system:
                lease.sink.append_system(system)
                lease.system_size = os.path.getsize(os.path.join(run_dir, SYSTEM))
                lease.system_offset += len(system)
            current = batch.has_documents and batch.documents_are_current(lease.stamp, lease.offset - len(rows))
            if current and batch.stamp is not None:
                lease.stamp = max(batch.stamp, lease.stamp or batch.stamp)
            if rows or system or current:
                _write_json_atomic(os.path.join(run_dir, SYNC_FILE), {
                    "offset": lease.offset, "bytes": lease.size, "system_offset": lease.system_offset,
                    "system_bytes": lease.system_size, **({"stamp": lease.stamp} if lease.stamp is not None else {})})
            final = self._write_documents(lease.sink, batch) if current else _state(run_dir) in FINAL_STATES
            lease.sink.heartbeat()
            lease.until = time.time() + self.timeout
            if final:
                self._release(key)
            return {"offset": lease.offset, "system_offset": lease.system_offset}

    def put_file(self, project: str, run_id: str, writer: str, name: str, path: str) -> dict[str, Any]:
        key = (project, run_id)
        with self._lock(key):
            lease = self._leases.get(key)
            if lease is not None and lease.writer != writer and lease.until > time.time():
                raise RunInUseError(f"run {project}/{run_id} is being sent by another writer ({lease.writer}); its files too.")
            info: dict[str, Any] = dict(self.store.put_file(project, run_id, name, path))
            return info

    # -- leases ------------------------------------------------------------------------------------
    def _take_lease(self, key: tuple[str, str], writer: str) -> _Lease:
        lease = self._leases.get(key)
        now = time.time()
        if lease is not None and lease.writer != writer:
            if lease.until > now:
                raise RunInUseError(f"run {key[0]}/{key[1]} is being sent by another writer ({lease.writer}); "
                                    f"two processes cannot write one run.")
            self._release(key)
            lease = None
        if lease is None:
            project, run_id = key
            sink, _ = self.store.open_run(project, run_id, resume="allow")  # RunInUseError: a local writer holds it
            sync = _read_sync(sink.run_dir)
            offset, size = _committed(os.path.join(sink.run_dir, HISTORY), sync.get("offset"), sync.get("bytes"))
            system_offset, system_size = _committed(os.path.join(sink.run_dir, SYSTEM), sync.get("system_offset"),
                                                    sync.get("system_bytes"))
            lease = self._leases[key] = _Lease(writer, now + self.timeout, sink, offset, size, system_offset, system_size,
                                               sync.get("stamp"))
        return lease

    def _release(self, key: tuple[str, str]) -> None:
        lease = self._leases.pop(key, None)
        if lease is not None:
            try:
                lease.sink.close()
            except OSError:
                pass

    def _start_reaper(self) -> None:
        if self._reaper is None:
            with self._guard:
                if self._reaper is None:
                    self._reaper = threading.Thread(target=self._reap, name="trackkit-lease-reaper", daemon=True)
                    self._reaper.start()

    def _reap(self) -> None:
        """Close runs whose writer went silent for the heartbeat timeout (they then read as crashed)."""
        while not self._stop.wait(_REAP_EVERY):
            now = time.time()
            for key in [k for k, lease in list(self._leases.items()) if lease.until <= now]:
                with self._lock(key):
                    lease = self._leases.get(key)
                    if lease is not None and lease.until <= now:
                        self._release(key)

    def close(self) -> None:
        """Release every run (server shutdown)."""
        self._stop.set()
        for key in list(self._leases):
            with self._lock(key):
                self._release(key)

    # -- documents -----------------------------------------------------------------------------------
    def _write_documents(self, sink: LocalRunSink, batch: Batch) -> bool:
        """Merge the batch's changes into the run's documents (edits made on the server folded in
        first, so they survive); True when the run's state is now final."""
        if not batch.has_documents:
            return False
        record: Any = self.store._read_record(sink.run_dir, batch.project, batch.run_id, check_liveness=False)
        apply_documents(record, batch)
        sink.write_config(record["config"])
        sink.write_summary(record["summary"])
        sink.write_meta(record["meta"])
        return record["meta"].get("state") in FINAL_STATES


def _state(run_dir: str) -> Any:
    try:
        with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as handle:
            return json.load(handle).get("state")
    except (OSError, ValueError, AttributeError):
        return None


def _read_sync(run_dir: str) -> dict[str, Any]:
    try:
        with open(os.path.join(run_dir, SYNC_FILE), encoding="utf-8") as handle:
            document = json.load(handle)
        return {key: (float(value) if key == "stamp" else int(value)) for key, value in document.items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _committed(path: str, offset: int | None, committed_size: int | None) -> tuple[int, int]:
    """The committed offset and size of a stream file, cutting off what a killed server appended
    without committing; a file never synced here counts as committed whole."""
    size = os.path.getsize(path) if os.path.exists(path) else 0
    if committed_size is None or offset is None:
        return _count_lines(path), size
    if size > committed_size:
        with open(path, "rb+") as handle:
            handle.truncate(committed_size)
        size = committed_size
    return offset, size


def _count_lines(path: str) -> int:
    count = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                count += chunk.count(b"\n")
    except FileNotFoundError:
        return 0
    return count
