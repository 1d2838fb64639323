"""The ingest (write) API: idempotent, resumable sync of runs from clients' local spools.

A client writes every run to its local store first (the spool) and a sender ships it here in
batches (``trackkit._sender``). A batch is::

    POST /api/v1/ingest/{project}/{run}
    {"writer": "<writer id>", "offset": <line of the spool's history.jsonl its first row is>,
     "rows": [{...}, ...],
     "meta": {"set": {...}, "delete": [...]},                         # changed run fields
     "config": {"set": {"optim.lr": 0.1}, "delete": [...], "sources": {"optim.lr": "set"},
                "changes": [<new change records>], "fields": {...}},
     "summary": {"set": {...}, "delete": [...], "fields": {"explicit": [...], ...}}}

The store commits the rows and the new offset in one transaction and answers ``{"offset": N}``,
the last committed offset; rows below it were committed before (a replayed or retried batch) and are
skipped, so a batch sent twice stores once. A batch that starts past the committed offset gets 409
``offset_gap`` with the committed offset, and the sender resends from there. Documents travel as
changes (keys with their sources), never whole, so edits made on the server (the UI, ``Api``) survive.

Single writer per run: the first writer id to send a batch holds a lease, renewed by each batch
and released when the run's state becomes final; another writer gets 409 ``run_in_use`` until it
expires (the heartbeat timeout). ``GET`` on the same path says where the server stands.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trackkit import RunInUseError, UsageError
from trackkit._edits import APPLIED_KEY
from trackkit._local_store import check_name

from .app import ApiError, json_response

__all__ = [
    "FINAL_STATES",
    "MAX_BATCH_ROWS",
    "Batch",
    "IngestStore",
    "OffsetGap",
    "apply_config",
    "apply_meta",
    "apply_summary",
    "ingest_routes",
    "ingest_store_for",
    "parse_batch",
]

#: Rows per batch; more is 413 (the sender sends far fewer).
MAX_BATCH_ROWS = 20_000
#: A run in one of these states has no live writer: its lease is released.
FINAL_STATES = ("finished", "failed", "crashed")
_WRITER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_PARTS = ("meta", "config", "summary")


class OffsetGap(Exception):
    """A batch starts past the committed offset (rows in between never arrived): resend from ``committed``."""

    def __init__(self, committed: int, system: int = 0) -> None:
        super().__init__(f"the server has rows up to offset {committed} (system metrics up to {system}); resend from there")
        self.committed = committed
        self.system = system


@dataclass
class Batch:
    """One parsed ingest request."""

    project: str
    run_id: str
    writer: str
    offset: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    author: str | None = None  # the token's name, when auth is on
    system: list[dict[str, Any]] = field(default_factory=list)  # system-metrics rows, their own stream
    system_offset: int = 0  # the line of the spool's system.jsonl the first of them is
    stamp: float | None = None  # when the sender built it: document changes older than the run's last are stale

    def documents_are_current(self, last_stamp: float | None, committed: int) -> bool:
        """Whether this batch's document changes may be merged: not when a newer batch's were merged
        already (a late delivery of a batch the client timed out on and sent again, then more), judged
        by the stamp, or, for a batch without one, by rows a later batch committed after its own."""
        if self.stamp is not None and last_stamp is not None and self.stamp <= last_stamp:
            return False
        return not (self.rows and self.offset + len(self.rows) < committed)

    @property
    def has_documents(self) -> bool:
        return self.meta is not None or self.config is not None or self.summary is not None


class IngestStore(Protocol):
    """The store side of the ingest API (``_pg_ingest.PostgresIngest``, ``_local_ingest.LocalIngest``)."""

    def ingest_batch(self, batch: Batch) -> dict[str, int]:
        """Commit the batch's new rows, the offsets after them and its document changes together;
        return ``{"offset", "system_offset"}`` as committed. Raises ``RunInUseError`` (another writer's
        lease) or ``OffsetGap``. System rows below the committed system offset are skipped; past it,
        the system part is refused like history rows."""

    def put_file(self, project: str, run_id: str, writer: str, name: str, path: str) -> dict[str, Any]:
        """Store a run file (the bytes at ``path``, streamed) for the writer holding the run's lease
        (``RunInUseError`` for another one); returns its ``FileInfo``."""

    def sync_state(self, project: str, run_id: str) -> dict[str, Any]:
        """``{"offset", "system_offset"}`` committed (0 for an unknown run) and ``"writer"``, the lease holder or None."""


def ingest_store_for(store: Any) -> IngestStore:
    """The ingest side of a served store: PostgreSQL or the local store."""
    from trackkit._local_store import LocalStore

    if isinstance(store, LocalStore):
        from ._local_ingest import LocalIngest

        return LocalIngest(store)
    if hasattr(store, "pool"):
        from ._pg_ingest import PostgresIngest

        return PostgresIngest(store)
    raise UsageError(f"{store!r} cannot take ingested runs; serve a local store or postgresql://.")


# -- merging changes into documents (every ingest store uses these) ---------------------------------
def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _delete_path(tree: dict[str, Any], dotted: str) -> None:
    parts = dotted.split(".")
    node: Any = tree
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return
    node.pop(parts[-1], None)


def apply_meta(meta: dict[str, Any], change: dict[str, Any]) -> None:
    """Merge changed run fields into ``meta``."""
    for key in change.get("delete") or ():
        meta.pop(key, None)
    meta.update(change.get("set") or {})


def apply_config(document: dict[str, Any], change: dict[str, Any]) -> None:
    """Merge config changes (dotted leaves with their sources, new change records) into a config document."""
    values = document.get("values")
    values = dict(values) if isinstance(values, dict) else {}
    provenance = dict(document.get("provenance") or {})
    for key in change.get("delete") or ():
        _delete_path(values, key)
        for name in [n for n in provenance if n == key or n.startswith(key + ".")]:
            del provenance[name]
    sources = change.get("sources") or {}
    for key, value in (change.get("set") or {}).items():
        _set_path(values, key, value)
        if key in sources:
            provenance[key] = sources[key]
    document["values"] = values
    document["provenance"] = provenance
    if change.get("changes"):
        document["changes"] = [*(document.get("changes") or []), *change["changes"]]
    for key, value in (change.get("fields") or {}).items():
        if key not in ("values", "provenance", "changes", APPLIED_KEY):
            document[key] = value


def apply_summary(document: dict[str, Any], change: dict[str, Any]) -> None:
    """Merge summary changes into a summary document (``explicit`` keys are united, not replaced)."""
    values = dict(document.get("values") or {})
    deleted = set(change.get("delete") or ())
    for key in deleted:
        values.pop(key, None)
    values.update(change.get("set") or {})
    document["values"] = values
    for key, value in (change.get("fields") or {}).items():
        if key == "explicit" and isinstance(value, list):
            document[key] = sorted((set(document.get("explicit") or ()) | set(value)) - deleted)
        elif key not in ("values", APPLIED_KEY):
            document[key] = value


def apply_documents(record: dict[str, Any], batch: Batch) -> None:
    """Merge the batch's document changes into a run record (``meta``, ``config``, ``summary``), and
    record the token's name as the run's author."""
    if batch.meta is not None:
        if batch.author:  # the author is the token's name, never what a client says it is
            batch.meta = {"set": {k: v for k, v in (batch.meta.get("set") or {}).items() if k != "author"},
                          "delete": [k for k in batch.meta.get("delete") or () if k != "author"]}
        apply_meta(record["meta"], batch.meta)
    if batch.config is not None:
        apply_config(record["config"], batch.config)
    if batch.summary is not None:
        apply_summary(record["summary"], batch.summary)
    if batch.author and batch.meta is not None and "author" not in record["meta"]:
        record["meta"]["author"] = batch.author


# -- parsing -----------------------------------------------------------------------------------------
def _bad(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def _change(body: dict[str, Any], part: str) -> dict[str, Any] | None:
    change = body.get(part)
    if change is None:
        return None
    if not isinstance(change, dict):
        raise _bad(f"{part} must be an object of changes ({{'set': {{...}}, 'delete': [...]}})")
    for name in ("set", "sources", "fields"):
        if name in change and not isinstance(change[name], dict):
            raise _bad(f"{part}.{name} must be an object")
    for name in ("delete", "changes"):
        if name in change and not isinstance(change[name], list):
            raise _bad(f"{part}.{name} must be a list")
    if not all(isinstance(key, str) and key for key in change.get("delete") or ()):
        raise _bad(f"{part}.delete must list non-empty key names")
    if part == "config":
        for key in [*(change.get("set") or {}), *(change.get("delete") or ())]:
            if not key or any(not piece for piece in key.split(".")):
                raise _bad(f"config key {key!r} names no path")
    return change


def parse_batch(project: str, run_id: str, body: Any) -> Batch:
    """Check a request body's shape and types (400 with what is wrong), names included."""
    try:
        check_name("project", project)
        check_name("run id", run_id)
    except UsageError as error:
        raise _bad(str(error)) from None
    if not isinstance(body, dict):
        raise _bad("send a JSON object: {\"writer\", \"offset\", \"rows\", ...}")
    writer, offset, rows = body.get("writer"), body.get("offset", 0), body.get("rows", [])
    system, system_offset = body.get("system", []), body.get("system_offset", 0)
    if not isinstance(writer, str) or not _WRITER.match(writer):
        raise _bad("writer must be the writer id: 1-64 letters, digits, '_', '-' or '.'")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise _bad(f"offset must be a non-negative integer, got {offset!r}")
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise _bad("rows must be a list of objects")
    if not isinstance(system_offset, int) or isinstance(system_offset, bool) or system_offset < 0:
        raise _bad(f"system_offset must be a non-negative integer, got {system_offset!r}")
    if not isinstance(system, list) or not all(isinstance(row, dict) for row in system):
        raise _bad("system must be a list of objects")
    if len(rows) + len(system) > MAX_BATCH_ROWS:
        raise ApiError(413, "too_large", f"at most {MAX_BATCH_ROWS} rows per batch, got {len(rows) + len(system)}")
    stamp = body.get("stamp")
    if stamp is not None and (not isinstance(stamp, (int, float)) or isinstance(stamp, bool) or stamp != stamp):
        raise _bad(f"stamp must be a number (the time the batch was built), got {stamp!r}")
    changes = {part: _change(body, part) for part in _PARTS}
    return Batch(project, run_id, writer, offset, rows, **changes, system=system, system_offset=system_offset,
                 stamp=None if stamp is None else float(stamp))


# -- endpoints ---------------------------------------------------------------------------------------
def _ingest_store(request: Request) -> IngestStore:
    ingest = getattr(request.app.state, "ingest", None)
    if ingest is None:
        raise ApiError(405, "read_only", "this server does not take writes (started as a read-only UI)")
    return ingest  # type: ignore[no-any-return]


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")  # NaN and Infinity are values of a row (Python's JSON dialect)
    except ValueError as error:
        raise _bad(f"the body is not valid JSON: {error}") from None


async def ingest(request: Request) -> Response:
    """Commit one batch; answer the committed offset."""
    state = request.scope.get("state", {})
    if state.get("access") != "write":
        raise ApiError(403, "forbidden", "this token is read-only: writing runs needs a write token")
    batch = parse_batch(request.path_params["project"], request.path_params["run"], await _body(request))
    batch.author = state.get("token_name")
    store = _ingest_store(request)
    try:
        committed = await run_in_threadpool(store.ingest_batch, batch)
    except OffsetGap as gap:
        return json_response({"error": {"code": "offset_gap", "message": str(gap), "offset": gap.committed,
                                         "system_offset": gap.system}}, 409)
    except RunInUseError as error:
        return json_response({"error": {"code": "run_in_use", "message": str(error)}}, 409)
    return json_response({k: v for k, v in committed.items() if v or k == "offset"})  # system_offset when there is one


async def sync_state(request: Request) -> Response:
    """Where the server stands for a run: its committed offset and lease holder."""
    project, run_id = request.path_params["project"], request.path_params["run"]
    try:
        check_name("project", project)
        check_name("run id", run_id)
    except UsageError as error:
        raise _bad(str(error)) from None
    return json_response(await run_in_threadpool(_ingest_store(request).sync_state, project, run_id))


#: The largest run file an upload may bring (checkpoints are large; the body is streamed to disk).
MAX_FILE_BYTES = 64 << 30


async def upload(request: Request) -> Response:
    """``PUT /upload/{project}/{run}/{name}`` with ``X-Trackkit-Writer``: a run file, streamed to a
    temporary file and then into the store (never held in memory)."""
    import os
    import tempfile

    from trackkit._run_files import check_file_name

    state = request.scope.get("state", {})
    if state.get("access") != "write":
        raise ApiError(403, "forbidden", "this token is read-only: writing runs needs a write token")
    project, run_id = request.path_params["project"], request.path_params["run"]
    writer = request.headers.get("x-trackkit-writer", "")
    try:
        check_name("project", project)
        check_name("run id", run_id)
        name = check_file_name(request.path_params["name"])
    except UsageError as error:
        raise _bad(str(error)) from None
    if not _WRITER.match(writer):
        raise _bad("send the writer id in the X-Trackkit-Writer header")
    store = _ingest_store(request)
    fd, path = tempfile.mkstemp(prefix="trackkit-upload-")
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise ApiError(413, "too_large", f"a run file may have at most {MAX_FILE_BYTES} bytes")
                await run_in_threadpool(out.write, chunk)
        try:
            info = await run_in_threadpool(store.put_file, project, run_id, writer, name, path)
        except RunInUseError as error:
            return json_response({"error": {"code": "run_in_use", "message": str(error)}}, 409)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    return json_response(info)


def _edit_part(body: dict[str, Any], part: str) -> dict[str, Any] | None:
    from trackkit._edits import DELETE

    change = _change(body, part)
    if change is None:
        return None
    values: dict[str, Any] = dict(change.get("set") or {})
    values.update({key: DELETE for key in change.get("delete") or ()})
    return values or None


async def edit(request: Request) -> Response:
    """``POST /edit/{project}/{run}`` ``{"meta": {"set": {...}}, "config": {"set": {...}, "delete": [...]},
    "summary": {...}}``: ``Store.edit_run`` on the server (merged with a live writer, never refused);
    ``DELETE`` on the same path deletes the run. Both need a write token."""
    from trackkit._edits import EDITABLE_META

    if request.scope.get("state", {}).get("access") != "write":
        raise ApiError(403, "forbidden", "this token is read-only: editing runs needs a write token")
    project, run_id = request.path_params["project"], request.path_params["run"]
    try:
        check_name("project", project)
        check_name("run id", run_id)
    except UsageError as error:
        raise _bad(str(error)) from None
    store = request.app.state.store
    if request.method == "DELETE":
        await run_in_threadpool(store.delete_run, project, run_id)
        return json_response({"deleted": f"{project}/{run_id}"})
    body = await _body(request)
    if not isinstance(body, dict) or set(body) - set(_PARTS):
        raise _bad('send {"meta": {"set": {...}}, "config": {"set": {...}, "delete": [...]}, "summary": {...}}')
    meta = (_change(body, "meta") or {}).get("set") or None
    if meta and set(meta) - set(EDITABLE_META):
        raise _bad(f"only {', '.join(EDITABLE_META)} of a run can be edited")
    changes = {"meta": meta, "config": _edit_part(body, "config"), "summary": _edit_part(body, "summary")}

    def apply() -> Any:
        store.edit_run(project, run_id, **changes)
        return store.read_run(project, run_id)

    record = await run_in_threadpool(apply)
    return json_response({"project": project, "id": run_id, **record})


def ingest_routes() -> list[Route]:
    """The ingest API's routes, relative to ``/api/v1`` (``create_app(extra_routes=...)``)."""
    return [Route("/ingest/{project}/{run}", _dispatch, methods=["GET", "POST"]),
            Route("/upload/{project}/{run}/{name:path}", upload, methods=["PUT"]),
            Route("/edit/{project}/{run}", edit, methods=["POST", "DELETE"])]


async def _dispatch(request: Request) -> Response:
    return await (ingest(request) if request.method == "POST" else sync_state(request))
