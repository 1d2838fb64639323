"""Ingest into PostgreSQL: one transaction per batch, so stateless replicas can share a database.

The run's row is locked (``FOR UPDATE``) for the batch: the lease (``lease_writer``/``lease_until``,
the same columns ``PostgresRunSink`` uses), the committed offset (``runs.sync_offset``, migration
002), the new rows (``_pg_history.ingest_rows``) and the merged documents all commit together or not
at all. Two replicas receiving batches of one run serialise on that row lock.
"""

from __future__ import annotations

from typing import Any

from trackkit import RunInUseError

from . import _pg_json
from ._pg_history import ingest_rows
from .ingest import FINAL_STATES, Batch, OffsetGap, apply_documents

__all__ = ["PostgresIngest"]


class PostgresIngest:
    """``IngestStore`` over a ``PostgresStore`` (its pool and document helpers)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def sync_state(self, project: str, run_id: str) -> dict[str, Any]:
        with self.store.pool.connection() as conn:
            found = conn.execute(
                "SELECT sync_offset, sync_system_offset, CASE WHEN lease_until > now() THEN lease_writer END FROM runs "
                "WHERE project = %s AND run_id = %s", (project, run_id)).fetchone()
        if found is None:
            return {"offset": 0, "system_offset": 0, "writer": None}
        return {"offset": int(found[0]), "system_offset": int(found[1]), "writer": found[2]}

    def put_file(self, project: str, run_id: str, writer: str, name: str, path: str) -> dict[str, Any]:
        with self.store.pool.connection() as conn:
            found = conn.execute("SELECT lease_writer, coalesce(lease_until > now(), false) FROM runs "
                                 "WHERE project = %s AND run_id = %s", (project, run_id)).fetchone()
        if found is not None and found[1] and found[0] not in (None, writer):
            raise RunInUseError(f"run {project}/{run_id} is being written by another writer; its files too.")
        info: dict[str, Any] = self.store.put_file(project, run_id, name, path)  # RunNotFoundError before its meta
        return info

    def _lock_run(self, conn: Any, batch: Batch) -> tuple[Any, ...]:
        query = ("SELECT pk, lease_writer, coalesce(lease_until > now(), false), sync_offset, next_seq, "
                 "sync_system_offset, next_system_seq, sync_stamp, meta->>'state' FROM runs "
                 "WHERE project = %s AND run_id = %s FOR UPDATE")
        found = conn.execute(query, (batch.project, batch.run_id)).fetchone()
        if found is None:
            conn.execute("INSERT INTO runs (project, run_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                         (batch.project, batch.run_id))
            found = conn.execute(query, (batch.project, batch.run_id)).fetchone()
        return tuple(found)

    def ingest_batch(self, batch: Batch) -> dict[str, int]:
        store = self.store
        with store.pool.connection() as conn, conn.transaction():
            pk, holder, live, committed, next_seq, system_committed, next_system_seq, stamp, state = self._lock_run(conn, batch)
            if live and holder is not None and holder != batch.writer:
                raise RunInUseError(f"run {batch.project}/{batch.run_id} is being written by another writer; "
                                    f"two processes cannot write one run.")
            if batch.offset > committed or (batch.system and batch.system_offset > system_committed):
                raise OffsetGap(committed, system_committed)
            rows = batch.rows[committed - batch.offset:]
            if rows:
                ingest_rows(conn, pk, next_seq, rows, {})
            system = batch.system[system_committed - batch.system_offset:] if batch.system else []
            if system:
                stamps = [row.get("_timestamp") for row in system]
                conn.execute(
                    "INSERT INTO system_rows (run_pk, seq, ts, data) SELECT %s, u.seq, u.ts, u.data::json "
                    "FROM unnest(%s::bigint[], %s::float8[], %s::text[]) AS u(seq, ts, data)",
                    (pk, list(range(next_system_seq, next_system_seq + len(system))),
                     [float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else None for t in stamps],
                     [_pg_json.dumps(row) for row in system]))
            final = state in FINAL_STATES  # a batch after the last one (a heartbeat, late rows) leaves it released
            if batch.has_documents and batch.documents_are_current(stamp, committed):
                record = store._record(conn, pk, judge=False)
                apply_documents(record, batch)
                meta = record["meta"]
                created = meta.get("created_at")
                created = float(created) if isinstance(created, (int, float)) and not isinstance(created, bool) else None
                conn.execute("UPDATE runs SET meta = %s::jsonb, created_at = coalesce(%s, created_at) WHERE pk = %s",
                             (_pg_json.dumps(meta), created, pk))
                if batch.config is not None:
                    store._write_document(conn, pk, "config", record["config"])
                if batch.summary is not None:
                    store._write_document(conn, pk, "summary", record["summary"])
                final = meta.get("state") in FINAL_STATES
            conn.execute(
                "UPDATE runs SET next_seq = next_seq + %(n)s, sync_offset = sync_offset + %(n)s, "
                "next_system_seq = next_system_seq + %(m)s, sync_system_offset = sync_system_offset + %(m)s, "
                "sync_stamp = greatest(sync_stamp, %(stamp)s), "
                "activity_at = extract(epoch from clock_timestamp()), "
                "lease_writer = CASE WHEN %(final)s THEN NULL ELSE %(writer)s END, "
                "lease_until = CASE WHEN %(final)s THEN NULL ELSE now() + make_interval(secs => %(timeout)s) END "
                "WHERE pk = %(pk)s",
                {"n": len(rows), "m": len(system), "final": final, "writer": batch.writer, "stamp": batch.stamp,
                 "timeout": store.heartbeat_timeout, "pk": pk})
            return {"offset": committed + len(rows), "system_offset": system_committed + len(system)}
