"""The PostgreSQL store: the whole ``Store`` protocol of ``trackkit._store`` over psycopg 3 and a
connection pool, for the tracking server and its stateless replicas.

- Writes: ``open_run`` gives a ``PostgresRunSink`` holding a lease on the run (one writer at a time:
  another writer gets ``RunInUseError`` until the lease is released by ``close()`` or expires after
  the heartbeat timeout without renewal). Each history batch commits in one transaction.
- Queries: ``query_runs`` compiles Mongo-style filters and the ordering rule to SQL
  (``_pg_query``); ``sample_history`` buckets in the database (``_pg_history``); ``history_keys``
  reads counters kept at ingest.
- Files: the listing in ``run_files``, the bytes in a ``FileStore`` (``files.py``).

The schema comes from ``server/migrations`` (``migrate.py``); a store refuses a database that is not
migrated to the schema this trackkit knows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from typing import IO, Any

from trackkit import RunInUseError, RunNotFoundError, UsageError
from trackkit._local_store import HEARTBEAT_TIMEOUT, check_name
from trackkit._store import (
    SUPERSEDED_KEY,
    FileInfo,
    FileSource,
    KeyInfo,
    ProjectInfo,
    ResumeState,
    RunPage,
    RunRecord,
    SampledSeries,
)

from . import _pg_json
from ._pg_history import AXES, ingest_rows, key_type
from ._pg_query import STATE_SQL, Compiler, flatten
from .files import FileStore, LocalFileStore, check_file_name

__all__ = ["PostgresRunSink", "PostgresStore"]

_PAGE = 5000  # rows per round trip when scanning a history
_NOW = "extract(epoch from clock_timestamp())"


def _configure(conn: Any) -> None:
    """Each pooled connection: JSON read back with non-finite floats, and no JIT (it compiles for
    hundreds of milliseconds whenever a history's size pushes a query's estimated cost up)."""
    from psycopg.types.json import set_json_loads

    set_json_loads(_pg_json.loads, conn)
    conn.execute("SET jit = off")


def _masked(conninfo: str) -> str:
    """The connection string without its password, for ``location`` and messages."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(conninfo)
        host, port, dbname = params.get("host", ""), params.get("port", ""), params.get("dbname", "")
        user = params.get("user")
        return f"postgresql://{str(user) + '@' if user else ''}{host}{':' + str(port) if port else ''}/{dbname}"
    except Exception:
        return "postgresql://(unparsed)"


def _split_document(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """A config or summary document as (values, the rest, whether it had values)."""
    values = document.get("values")
    rest = {k: v for k, v in document.items() if k != "values"}
    return (values if isinstance(values, dict) else {}), rest, "values" in document


def _join_document(values: dict[str, Any], rest: dict[str, Any], has_values: bool) -> dict[str, Any]:
    return {**rest, "values": values} if has_values else dict(rest)


class PostgresRunSink:
    """One run open for writing in a ``PostgresStore``; every write checks and renews the lease."""

    def __init__(self, store: PostgresStore, run_pk: int, project: str, run_id: str, writer: str) -> None:
        self._store = store
        self._pk = run_pk
        self.project = project
        self.run_id = run_id
        self.writer = writer
        self._key_ids: dict[str, int] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<PostgresRunSink {self.project}/{self.run_id} writer={self.writer}>"

    def _renew(self, conn: Any, *, rows: int = 0, system_rows: int = 0) -> int:
        """Renew the lease (raising ``RunInUseError`` if another writer took it); reserve sequence
        numbers for ``rows`` (history) or ``system_rows``; returns the first one reserved."""
        found = conn.execute(
            f"UPDATE runs SET lease_until = now() + make_interval(secs => %s), activity_at = {_NOW}, "
            "next_seq = next_seq + %s, next_system_seq = next_system_seq + %s "
            "WHERE pk = %s AND lease_writer = %s RETURNING next_seq - %s, next_system_seq - %s",
            (self._store.heartbeat_timeout, rows, system_rows, self._pk, self.writer, rows, system_rows),
        ).fetchone()
        if found is None:
            raise RunInUseError(
                f"run {self.project}/{self.run_id} is now written by another process (this writer's lease "
                f"expired and was taken over), or the run was deleted; two processes cannot write one run."
            )
        return int(found[0] if rows or not system_rows else found[1])

    def write_meta(self, meta: dict[str, Any]) -> None:
        created = meta.get("created_at")
        created = float(created) if isinstance(created, (int, float)) and not isinstance(created, bool) else None
        with self._store.pool.connection() as conn, conn.transaction():
            self._renew(conn)
            conn.execute("UPDATE runs SET meta = %s::jsonb, created_at = coalesce(%s, created_at) WHERE pk = %s",
                         (_pg_json.dumps(meta), created, self._pk))

    def write_config(self, document: dict[str, Any]) -> None:
        with self._store.pool.connection() as conn, conn.transaction():
            self._renew(conn)
            self._store._write_document(conn, self._pk, "config", document)

    def write_summary(self, document: dict[str, Any]) -> None:
        with self._store.pool.connection() as conn, conn.transaction():
            self._renew(conn)
            self._store._write_document(conn, self._pk, "summary", document)

    def append_history(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        with self._store.pool.connection() as conn:
            try:
                with conn.transaction():
                    first = self._renew(conn, rows=len(rows))
                    ingest_rows(conn, self._pk, first, rows, self._key_ids)
            except BaseException:
                self._key_ids.clear()  # numbers given inside a rolled-back transaction are gone
                raise

    def append_system(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        with self._store.pool.connection() as conn, conn.transaction():
            first = self._renew(conn, system_rows=len(rows))
            stamps = [row.get("_timestamp") for row in rows]
            conn.execute(
                "INSERT INTO system_rows (run_pk, seq, ts, data) SELECT %s, u.seq, u.ts, u.data::json "
                "FROM unnest(%s::bigint[], %s::float8[], %s::text[]) AS u(seq, ts, data)",
                (self._pk, list(range(first, first + len(rows))),
                 [float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else None for t in stamps],
                 [_pg_json.dumps(row) for row in rows]),
            )

    def read_edits(self, cursor: int) -> tuple[list[dict[str, Any]], int]:
        """Edits (``Store.edit_run``) after ``cursor``, in order, and the cursor after them."""
        with self._store.pool.connection() as conn:
            rows = conn.execute("SELECT n, edit FROM run_edits WHERE run_pk = %s AND n > %s ORDER BY n",
                                (self._pk, cursor)).fetchall()
        return [edit for _, edit in rows], (int(rows[-1][0]) if rows else cursor)

    def put_file(self, name: str, source: FileSource) -> FileInfo:
        with self._store.pool.connection() as conn:
            self._renew(conn)
        return self._store.put_file(self.project, self.run_id, name, source)

    def heartbeat(self) -> None:
        with self._store.pool.connection() as conn:
            self._renew(conn)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._store.pool.connection() as conn:
            conn.execute(f"UPDATE runs SET lease_writer = NULL, lease_until = NULL, activity_at = {_NOW} "
                         "WHERE pk = %s AND lease_writer = %s", (self._pk, self.writer))


class PostgresStore:
    """Runs in a PostgreSQL database (see the module docstring).

    Args:
        conninfo: a libpq connection string or URL (``postgresql://user@host:5432/db``).
        files_dir: the directory for run files (the server's ``--files-dir``); or pass ``file_store``.
        file_store: where run file bytes go (any ``FileStore``); overrides ``files_dir``.
        min_size, max_size: the connection pool's bounds.
        heartbeat_timeout: seconds a writer's lease lasts without a write or heartbeat (default:
            ``TRACKKIT_HEARTBEAT_TIMEOUT``, 30 s); a ``running`` run past it reads as ``crashed``.
        migrate: apply pending migrations first (the server does at start-up); otherwise a database
            that is not current raises ``SchemaVersionError``.
        pool_timeout: seconds a call waits for a connection (the database down: then it raises
            ``psycopg_pool.PoolTimeout``). Pooled connections are checked before each use, so a
            restarted database costs one failed call at most, not one per stale connection.

    Example::

        store = PostgresStore("postgresql://postgres@127.0.0.1/trackkit", files_dir="/srv/trackkit-files")
        store.query_runs("mnist", {"config.lr": {"$lt": 0.01}}, order="-summary.acc", limit=10)
    """

    def __init__(
        self,
        conninfo: str,
        *,
        files_dir: str | None = None,
        file_store: FileStore | None = None,
        min_size: int = 1,
        max_size: int = 8,
        heartbeat_timeout: float | None = None,
        migrate: bool = False,
        pool_timeout: float = 10.0,
    ) -> None:
        from psycopg_pool import ConnectionPool, PoolTimeout

        from .migrate import LATEST_VERSION, SchemaVersionError, schema_status
        from .migrate import migrate as apply_migrations

        self.location = _masked(conninfo)
        self.heartbeat_timeout = float(HEARTBEAT_TIMEOUT if heartbeat_timeout is None else heartbeat_timeout)
        self.files: FileStore | None = file_store if file_store is not None else (
            LocalFileStore(files_dir) if files_dir is not None else None)
        if migrate:
            apply_migrations(conninfo)
        self.pool = ConnectionPool(conninfo, min_size=min_size, max_size=max_size, open=True, timeout=pool_timeout,
                                   configure=_configure, check=ConnectionPool.check_connection,
                                   kwargs={"autocommit": True}, name="trackkit")
        try:
            try:
                with self.pool.connection() as conn:
                    version, latest = schema_status(conn)
            except PoolTimeout as error:
                raise ConnectionError(f"PostgreSQL at {self.location} is not reachable ({error}); is it running, "
                                      f"and does the connection string name the right host, port and database?") from None
            if version != latest:
                raise SchemaVersionError(
                    f"the database {self.location} has trackkit schema version {version}, this trackkit needs "
                    f"{LATEST_VERSION}: run `trackkit server migrate --store {self.location}` first."
                )
        except BaseException:
            self.pool.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self.pool.close()

    # -- helpers -----------------------------------------------------------------------------------
    def _run_pk(self, conn: Any, project: str, run_id: str) -> int:
        found = conn.execute("SELECT pk FROM runs WHERE project = %s AND run_id = %s AND meta IS NOT NULL",
                             (project, run_id)).fetchone()
        if found is None:
            raise RunNotFoundError(f"no run {project}/{run_id} in {self.location}.")
        return int(found[0])

    @staticmethod
    def _write_document(conn: Any, run_pk: int, part: str, document: dict[str, Any]) -> None:
        values, rest, has_values = _split_document(document)
        conn.execute(
            f"UPDATE runs SET {part} = %(values)s::json, {part}_tree = %(values)s::jsonb, {part}_flat = %(flat)s::jsonb, "
            f"{part}_doc = %(rest)s::json, {part}_has_values = %(has)s WHERE pk = %(run)s",
            {"values": _pg_json.dumps(values), "flat": _pg_json.dumps(flatten(values)), "rest": _pg_json.dumps(rest),
             "has": has_values, "run": run_pk},
        )

    # -- writing -----------------------------------------------------------------------------------
    def open_run(self, project: str, run_id: str, *, resume: str | None) -> tuple[PostgresRunSink, ResumeState | None]:
        check_name("project", project)
        check_name("run id", run_id)
        writer = uuid.uuid4().hex
        lease = (writer, self.heartbeat_timeout)
        with self.pool.connection() as conn, conn.transaction():
            found = conn.execute(
                "SELECT pk, meta IS NOT NULL, lease_writer IS NOT NULL AND lease_until > now() FROM runs "
                "WHERE project = %s AND run_id = %s FOR UPDATE", (project, run_id)).fetchone()
            exists = bool(found and found[1])
            if exists and resume in (None, "never"):
                hint = "pass resume='allow' to continue it" if resume is None else "resume='never' forbids reusing it"
                raise UsageError(f"run {project}/{run_id} already exists in {self.location}; {hint}, or choose another id.")
            if not exists and resume == "must":
                raise RunNotFoundError(f"resume='must' but there is no run {project}/{run_id} in {self.location}; "
                                       f"check the id or use resume='allow'.")
            if found is None:
                created = conn.execute(
                    "INSERT INTO runs (project, run_id, lease_writer, lease_until) "
                    "VALUES (%s, %s, %s, now() + make_interval(secs => %s)) ON CONFLICT DO NOTHING RETURNING pk",
                    (project, run_id, *lease)).fetchone()
                if created is None:
                    raise UsageError(f"run {project}/{run_id} was just created by another process; choose another id.")
                return PostgresRunSink(self, int(created[0]), project, run_id, writer), None
            run_pk, live = int(found[0]), bool(found[2])
            if live:
                raise RunInUseError(f"run {project}/{run_id} is open in another live process; two processes cannot "
                                    f"write one run. Finish it there first, or use another id.")
            conn.execute("UPDATE runs SET lease_writer = %s, lease_until = now() + make_interval(secs => %s) "
                         "WHERE pk = %s", (*lease, run_pk))
            state: ResumeState | None = None
            if exists:
                last_step, rows = conn.execute(
                    "SELECT max(step), count(*) FROM history_rows WHERE run_pk = %s AND NOT dropped AND NOT superseded",
                    (run_pk,)).fetchone()
                state = {"record": self._record(conn, run_pk, judge=False), "last_step": last_step, "history_rows": rows}
        if state is not None:  # the rows as readers see them: the resumed run rebuilds its summary from them
            state["rows"] = list(self._pages(run_pk, None, None, False))
        return PostgresRunSink(self, run_pk, project, run_id, writer), state

    # -- the older read side ---------------------------------------------------------------------------
    def projects(self) -> list[str]:
        with self.pool.connection() as conn:
            return [name for (name,) in conn.execute(
                'SELECT DISTINCT project COLLATE "C" FROM runs WHERE meta IS NOT NULL ORDER BY 1')]

    def run_ids(self, project: str) -> list[str]:
        with self.pool.connection() as conn:
            return [run_id for (run_id,) in conn.execute(
                'SELECT run_id FROM runs WHERE project = %s AND meta IS NOT NULL ORDER BY run_id COLLATE "C"', (project,))]

    def _record(self, conn: Any, run_pk: int, *, judge: bool = True) -> RunRecord:
        """The run's documents with the edits they have not merged yet folded in (``trackkit._edits``)."""
        from trackkit._edits import APPLIED_KEY, fold_edits

        meta, state, config, config_doc, config_has, summary, summary_doc, summary_has = conn.execute(
            f"SELECT r.meta, {STATE_SQL}, r.config, r.config_doc, r.config_has_values, r.summary, r.summary_doc, "
            "r.summary_has_values FROM runs r WHERE r.pk = %s", (run_pk,)).fetchone()
        meta = dict(meta or {})
        if judge and state != meta.get("state", "running"):
            meta["state"] = state
            meta.setdefault("exit_reason", "the writing process is gone (no heartbeat within the timeout)")
        record: RunRecord = {"meta": meta, "config": _join_document(config, config_doc, config_has),
                             "summary": _join_document(summary, summary_doc, summary_has)}
        cursors = [document.get(APPLIED_KEY) for document in (record["meta"], record["config"], record["summary"])]
        start = min(cursor if isinstance(cursor, int) else 0 for cursor in cursors)
        pending = conn.execute("SELECT n, edit FROM run_edits WHERE run_pk = %s AND n > %s ORDER BY n",
                               (run_pk, start)).fetchall()
        return fold_edits(record, [(int(n), edit) for n, edit in pending]) if pending else record

    def read_run(self, project: str, run_id: str) -> RunRecord:
        with self.pool.connection() as conn:
            return self._record(conn, self._run_pk(conn, project, run_id))

    def next_run_number(self, project: str) -> int:
        """The next number for a generated run name (1, 2, ...), from a counter row per project."""
        with self.pool.connection() as conn:
            return int(conn.execute(
                "INSERT INTO run_counters (project, last_number) VALUES (%(p)s, (SELECT count(*) + 1 FROM runs "
                "WHERE project = %(p)s AND meta IS NOT NULL)) ON CONFLICT (project) DO UPDATE "
                "SET last_number = run_counters.last_number + 1 RETURNING last_number", {"p": project}).fetchone()[0])

    def iter_history(self, project: str, run_id: str, *, include_superseded: bool = False) -> Iterator[dict[str, Any]]:
        return self.scan_history(project, run_id, include_superseded=include_superseded)

    # -- editing -----------------------------------------------------------------------------------
    def update_run(
        self,
        project: str,
        run_id: str,
        *,
        meta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        with self.pool.connection() as conn, conn.transaction():
            run_pk = self._run_pk(conn, project, run_id)
            if meta is not None:
                created = meta.get("created_at")
                conn.execute("UPDATE runs SET meta = %s::jsonb, created_at = %s WHERE pk = %s",
                             (_pg_json.dumps(meta), float(created) if isinstance(created, (int, float)) else None, run_pk))
            if config is not None:
                self._write_document(conn, run_pk, "config", config)
            if summary is not None:
                self._write_document(conn, run_pk, "summary", summary)

    def edit_run(
        self,
        project: str,
        run_id: str,
        *,
        meta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Record an edit for the live writer (``read_edits``) and merge it into the documents now,
        in one transaction (the run's row locked, so edits from several replicas keep one order)."""
        from trackkit._edits import make_edit

        edit = make_edit(meta, config, summary)
        with self.pool.connection() as conn, conn.transaction():
            run_pk = self._run_pk(conn, project, run_id)
            conn.execute("SELECT 1 FROM runs WHERE pk = %s FOR UPDATE", (run_pk,))
            if edit is None:
                return
            conn.execute("INSERT INTO run_edits (run_pk, n, edit) SELECT %(run)s, coalesce(max(n), 0) + 1, %(edit)s::json "
                         "FROM run_edits WHERE run_pk = %(run)s", {"run": run_pk, "edit": _pg_json.dumps(edit)})
            record = self._record(conn, run_pk, judge=False)
            conn.execute(f"UPDATE runs SET meta = %s::jsonb, activity_at = {_NOW} WHERE pk = %s",
                         (_pg_json.dumps(record["meta"]), run_pk))
            self._write_document(conn, run_pk, "config", record["config"])
            self._write_document(conn, run_pk, "summary", record["summary"])

    def delete_run(self, project: str, run_id: str) -> None:
        with self.pool.connection() as conn:
            deleted = conn.execute("DELETE FROM runs WHERE project = %s AND run_id = %s RETURNING pk",
                                   (project, run_id)).fetchone()
        if deleted is None:
            raise RunNotFoundError(f"no run {project}/{run_id} in {self.location}.")
        if self.files is not None:
            self.files.delete_run(project, run_id)

    def ready(self) -> None:
        """Raise unless the database answers within 2 s and its schema is current (the server's
        /readyz): a probe never waits the pool's full timeout for a connection to a database that is down."""
        from .migrate import schema_status

        with self.pool.connection(timeout=2.0) as conn:
            version, latest = schema_status(conn)
        if version != latest:
            raise RuntimeError(f"the database has schema version {version}, this server needs {latest}")

    # -- the query side ----------------------------------------------------------------------------
    def project_infos(self) -> list[ProjectInfo]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT r.project, count(*), count(*) FILTER (WHERE {STATE_SQL} = 'running'), max(r.activity_at) "
                'FROM runs r WHERE r.meta IS NOT NULL GROUP BY r.project ORDER BY r.project COLLATE "C"').fetchall()
        return [{"name": name, "run_count": int(count), "running": int(running), "last_activity": last}
                for name, count, running, last in rows]

    def query_runs(
        self,
        project: str | None,
        filters: dict[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
    ) -> RunPage:
        from trackkit._query import project_document, run_document

        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise UsageError(f"limit must be a non-negative int or None; got {limit!r}.")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise UsageError(f"offset must be a non-negative int; got {offset!r}.")
        if isinstance(fields, str):
            raise UsageError(f"fields takes a list like ['config.lr', 'summary.loss']; got {fields!r}.")
        compiler = Compiler()
        where = compiler.where(filters)  # checks every operator before any SQL is sent
        order_sql = compiler.order_by(order)
        scope = "r.meta IS NOT NULL"
        if project is not None:
            scope += f" AND r.project = {compiler.param(project)}"

        def wanted(part: str) -> bool:
            return fields is None or any(f == part or f.startswith(part + ".") for f in fields)

        columns = ", ".join(f"r.{part}" if wanted(part) else "'{}'::jsonb" for part in ("config", "summary"))
        page = f" LIMIT {compiler.param(limit)}" if limit is not None else ""
        page += f" OFFSET {compiler.param(offset)}"
        with self.pool.connection() as conn:
            # the page is chosen over narrow rows (and counted in the same pass); only its runs' documents are read
            rows = conn.execute(
                f"WITH page AS (SELECT r.pk, count(*) OVER () AS total FROM runs r {compiler.order_lateral()} "
                f"WHERE {scope} AND {where} ORDER BY {order_sql}{page}) "
                f"SELECT r.project, r.run_id, r.meta, {STATE_SQL}, r.activity_at, {columns}, p.total "
                f"FROM page p JOIN runs r ON r.pk = p.pk {compiler.order_lateral()} ORDER BY {order_sql}",
                compiler.params).fetchall()
            if rows:
                total = rows[0][-1]
            elif offset == 0 or limit == 0:  # nothing matched, or a page of nothing: count apart
                total = 0 if limit != 0 else conn.execute(
                    f"SELECT count(*) FROM runs r WHERE {scope} AND {where}", compiler.params).fetchone()[0]
            else:  # past the end
                total = conn.execute(f"SELECT count(*) FROM runs r WHERE {scope} AND {where}", compiler.params).fetchone()[0]
        documents = []
        for project_name, run_id, meta, state, activity, config, summary, _ in rows:
            meta = dict(meta or {})
            meta["state"] = state
            record = {"meta": meta, "config": {"values": config}, "summary": {"values": summary}}
            documents.append(project_document(run_document(record, project_name, run_id, activity), fields))
        return {"runs": documents, "total": int(total)}

    def history_keys(self, project: str, run_id: str) -> dict[str, KeyInfo]:
        with self.pool.connection() as conn:
            run_pk = self._run_pk(conn, project, run_id)
            rows = conn.execute(
                "SELECT key, count, first_step, last_step, types FROM history_keys "
                "WHERE run_pk = %s AND count > 0 AND NOT (key = ANY(%s::text[])) ORDER BY key_id", (run_pk, list(AXES))).fetchall()
        return {key: {"count": int(count), "first_step": first, "last_step": last, "type": key_type(types)}
                for key, count, first, last, types in rows}

    def scan_history(
        self,
        project: str,
        run_id: str,
        keys: Sequence[str] | None = None,
        min_step: int | None = None,
        max_step: int | None = None,
        include_superseded: bool = False,
    ) -> Iterator[dict[str, Any]]:
        from trackkit._query import scan_rows

        if isinstance(keys, str):
            raise UsageError(f"keys takes a list of metric names; got {keys!r}.")
        with self.pool.connection() as conn:
            run_pk = self._run_pk(conn, project, run_id)
        rows = self._pages(run_pk, min_step, max_step, include_superseded)
        return scan_rows(rows, keys, min_step, max_step) if keys is not None else rows

    def _pages(self, run_pk: int, min_step: int | None, max_step: int | None,
               include_superseded: bool) -> Iterator[dict[str, Any]]:
        """Rows in written order, fetched a page at a time (no connection held between pages)."""
        conditions = ["run_pk = %(run)s", "seq > %(after)s", "NOT dropped"]
        if not include_superseded:
            conditions.append("NOT superseded")
        if min_step is not None:
            conditions.append("step >= %(min)s")
        if max_step is not None:
            conditions.append("step <= %(max)s")
        query = (f"SELECT seq, data::text, superseded FROM history_rows WHERE {' AND '.join(conditions)} "
                 f"ORDER BY seq LIMIT {_PAGE}")
        params = {"run": run_pk, "after": -1, "min": min_step, "max": max_step}
        while True:
            with self.pool.connection() as conn:
                page = conn.execute(query, params).fetchall()
            if page:  # one parse per page, not one per row
                rows = _pg_json.loads("[" + ",".join([text for _, text, _ in page]) + "]")
                if include_superseded:
                    for row, (_, _, superseded) in zip(rows, page):
                        if superseded:
                            row[SUPERSEDED_KEY] = True
                yield from rows
            if len(page) < _PAGE:
                return
            params["after"] = page[-1][0]

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
        found = self.sample_history_many([(project, run_id)], keys, x=x, samples=samples, start=start, stop=stop,
                                         include_superseded=include_superseded)[0]
        if found is None:
            raise RunNotFoundError(f"no run {project}/{run_id} in {self.location}.")
        return found

    def sample_history_many(
        self,
        runs: Sequence[tuple[str, str]],
        keys: Sequence[str],
        x: str = "_step",
        samples: int = 1000,
        start: float | None = None,
        stop: float | None = None,
        include_superseded: bool = False,
    ) -> list[dict[str, SampledSeries] | None]:
        """``sample_history`` of several runs ``(project, run_id)`` with one range (so their buckets
        line up), in one pass over the database; None for a run that does not exist."""
        from trackkit._sampling import check_sample_args

        from ._pg_sampling import sample_runs

        check_sample_args(keys, x, samples, start, stop)
        pairs = [(str(project), str(run_id)) for project, run_id in runs]
        with self.pool.connection() as conn:
            pks = dict(((project, run_id), pk) for project, run_id, pk in conn.execute(
                "SELECT r.project, r.run_id, r.pk FROM runs r JOIN unnest(%s::text[], %s::text[]) AS u(project, run_id) "
                "ON r.project = u.project AND r.run_id = u.run_id WHERE r.meta IS NOT NULL",
                ([p for p, _ in pairs], [r for _, r in pairs])))
            present = list(dict.fromkeys(pks[pair] for pair in pairs if pair in pks))
            series = dict(zip(present, sample_runs(conn, present, keys, x, samples, start, stop, include_superseded)))
        return [series[pks[pair]] if pair in pks else None for pair in pairs]

    def scan_system(self, project: str, run_id: str) -> Iterator[dict[str, Any]]:
        with self.pool.connection() as conn:
            run_pk = self._run_pk(conn, project, run_id)
            rows = conn.execute("SELECT data FROM system_rows WHERE run_pk = %s ORDER BY seq", (run_pk,)).fetchall()
        return iter([data for (data,) in rows])

    def sample_system(
        self,
        project: str,
        run_id: str,
        keys: Sequence[str] | None = None,
        samples: int = 1000,
        start: float | None = None,
        stop: float | None = None,
    ) -> dict[str, SampledSeries]:
        from trackkit._sampling import sample_rows

        rows = list(self.scan_system(project, run_id))  # a row every few seconds: small, sampled here
        if keys is None:
            keys = sorted({key for row in rows for key in row if key != "_timestamp"})
        return sample_rows(rows, keys, "_timestamp", samples, start, stop)

    # -- files -------------------------------------------------------------------------------------
    def _files(self) -> FileStore:
        if self.files is None:
            raise UsageError(f"{self!r} has no place for run files: give it files_dir= (the server's --files-dir).")
        return self.files

    def list_files(self, project: str, run_id: str) -> list[FileInfo]:
        with self.pool.connection() as conn:
            run_pk = self._run_pk(conn, project, run_id)
            rows = conn.execute('SELECT name, size, updated_at FROM run_files WHERE run_pk = %s ORDER BY name COLLATE "C"',
                                (run_pk,)).fetchall()
        return [{"name": name, "size": int(size), "updated_at": updated} for name, size, updated in rows]

    def open_file(self, project: str, run_id: str, name: str) -> IO[bytes]:
        name = check_file_name(name)
        with self.pool.connection() as conn:
            run_pk = self._run_pk(conn, project, run_id)
            listed = conn.execute("SELECT 1 FROM run_files WHERE run_pk = %s AND name = %s", (run_pk, name)).fetchone()
        if listed is None:
            raise RunNotFoundError(f"run {project}/{run_id} has no file {name!r}.")
        return self._files().open(project, run_id, name)

    def put_file(self, project: str, run_id: str, name: str, source: FileSource) -> FileInfo:
        name = check_file_name(name)
        files = self._files()
        with self.pool.connection() as conn:
            run_pk = self._run_pk(conn, project, run_id)
        size = files.put(project, run_id, name, source)  # streamed, outside any transaction
        updated = time.time()
        with self.pool.connection() as conn:
            conn.execute("INSERT INTO run_files (run_pk, name, size, updated_at) VALUES (%s, %s, %s, %s) "
                         "ON CONFLICT (run_pk, name) DO UPDATE SET size = excluded.size, updated_at = excluded.updated_at",
                         (run_pk, name, size, updated))
        return {"name": name, "size": size, "updated_at": updated}
