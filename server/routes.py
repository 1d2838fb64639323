"""The read API's endpoints, listed in one table (``ROUTES``): each parses, calls the store, serialises.

The store is ``request.app.state.store`` (Store v2 query protocol); its records go out as they are,
through ``app.dumps`` (non-finite floats as strings). The OpenAPI document is built from the same table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .app import ApiError, json_response

__all__ = ["ROUTES", "api_routes", "openapi_document"]

MAX_LIMIT = 10_000
MAX_SAMPLES = 10_000
MAX_SAMPLE_RUNS = 500
MAX_HISTORY_ROWS = 100_000
_CHUNK = 1 << 16


# -- parsing helpers -------------------------------------------------------------------------------
def _int(request: Request, name: str, default: int | None, low: int = 0, high: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        raise ApiError(400, "bad_request", f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(raw: Any, name: str) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise ApiError(400, "bad_request", f"{name} must be a number, got {raw!r}") from None


def _list(request: Request, name: str) -> list[str] | None:
    raw = request.query_params.get(name)
    return [part for part in (p.strip() for p in raw.split(",")) if part] if raw else None


def _filters(request: Request) -> dict[str, Any] | None:
    """``filters=<JSON>`` (Mongo-style), or ``q=<text>`` in the CLI's filter language."""
    raw, text = request.query_params.get("filters"), request.query_params.get("q")
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError as error:
            raise ApiError(400, "bad_request", f"filters is not valid JSON: {error}") from None
        if not isinstance(parsed, dict):
            raise ApiError(400, "bad_request", "filters must be a JSON object")
        return parsed
    return _parse_text_filter(text) if text else None


def _parse_text_filter(text: str) -> dict[str, Any] | None:
    from trackkit._cli import parse_filter  # the one parser of the filter language, shared with the CLI

    return parse_filter(text)


async def _json_body(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body or b"null")
    except ValueError as error:
        raise ApiError(400, "bad_request", f"the body is not valid JSON: {error}") from None


def _store(request: Request) -> Any:
    return request.app.state.store


def _run_path(request: Request) -> tuple[str, str]:
    return request.path_params["project"], request.path_params["run"]


# -- endpoints -------------------------------------------------------------------------------------
async def projects(request: Request) -> Response:
    return json_response({"projects": await run_in_threadpool(_store(request).project_infos)})


async def runs(request: Request) -> Response:
    project = request.path_params.get("project")
    kwargs = {
        "filters": _filters(request),
        "order": _list(request, "order"),
        "limit": _int(request, "limit", 100, 0, MAX_LIMIT),
        "offset": _int(request, "offset", 0, 0),
        "fields": _list(request, "fields"),
    }
    return json_response(await run_in_threadpool(_store(request).query_runs, project, **kwargs))


async def importance(request: Request) -> Response:
    from .importance import importance as compute

    project = request.path_params["project"]
    metric = request.query_params.get("metric") or ""
    if not metric.startswith(("summary.", "config.")):
        raise ApiError(400, "bad_request", "metric must be a summary or config key: metric=summary.loss")
    filters = _filters(request)

    def run() -> dict[str, Any]:
        page = _store(request).query_runs(project, filters=filters, limit=MAX_LIMIT)
        return compute(page["runs"], metric)

    return json_response(await run_in_threadpool(run))


async def parse_filter(request: Request) -> Response:
    text = request.query_params.get("q", "")
    return json_response({"filters": await run_in_threadpool(_parse_text_filter, text)})


async def run(request: Request) -> Response:
    project, run_id = _run_path(request)
    record = await run_in_threadpool(_store(request).read_run, project, run_id)
    return json_response({"project": project, "id": run_id, **record})


async def edit_run(request: Request) -> Response:
    if request.scope.get("state", {}).get("access") != "write":
        raise ApiError(403, "forbidden", "this server is read-only for you: edits need a write token")
    project, run_id = _run_path(request)
    body = await _json_body(request)
    if not isinstance(body, dict) or not body or set(body) - {"tags", "notes"}:
        raise ApiError(400, "bad_request", 'send {"tags": [str, ...]} and/or {"notes": str}')
    tags, notes = body.get("tags"), body.get("notes")
    if "tags" in body and not (isinstance(tags, list) and all(isinstance(t, str) and t.strip() for t in tags)):
        raise ApiError(400, "bad_request", "tags must be a list of non-empty strings")
    if "notes" in body and not (notes is None or isinstance(notes, str)):
        raise ApiError(400, "bad_request", "notes must be a string or null")
    store = _store(request)

    def apply() -> Any:
        if hasattr(store, "edit_run"):  # merged with a live writer (Store v2)
            store.edit_run(project, run_id, meta=body)
        else:
            meta = dict(store.read_run(project, run_id)["meta"])
            meta.update(body)
            store.update_run(project, run_id, meta=meta)
        return store.read_run(project, run_id)

    record = await run_in_threadpool(apply)
    return json_response({"project": project, "id": run_id, **record})


async def keys(request: Request) -> Response:
    project, run_id = _run_path(request)
    return json_response({"keys": await run_in_threadpool(_store(request).history_keys, project, run_id)})


def _run_pairs(body: Any) -> list[list[str]]:
    run_list = body.get("runs") if isinstance(body, dict) else None
    if not (isinstance(run_list, list) and all(isinstance(r, list) and len(r) == 2 and all(isinstance(s, str) for s in r)
                                               for r in run_list)):
        raise ApiError(400, "bad_request", 'runs must be a list of ["project", "run_id"] pairs')
    if len(run_list) > MAX_SAMPLE_RUNS:
        raise ApiError(413, "too_large", f"at most {MAX_SAMPLE_RUNS} runs per request")
    return run_list


async def keys_many(request: Request) -> Response:
    run_list = _run_pairs(await _json_body(request))
    store = _store(request)

    def collect() -> list[dict[str, Any]]:
        from trackkit import RunNotFoundError

        out = []
        for project, run_id in run_list:
            try:
                out.append({"project": project, "id": run_id, "keys": store.history_keys(project, run_id)})
            except RunNotFoundError as error:
                out.append({"project": project, "id": run_id, "keys": {}, "error": str(error)})
        return out

    return json_response({"runs": await run_in_threadpool(collect)})


def _sample_args(get: Callable[[str], Any]) -> dict[str, Any]:
    samples = get("samples")
    try:
        samples = 1000 if samples in (None, "") else int(samples)
    except (TypeError, ValueError):
        raise ApiError(400, "bad_request", f"samples must be an integer, got {samples!r}") from None
    if not 1 <= samples <= MAX_SAMPLES:
        raise ApiError(400, "bad_request", f"samples must be between 1 and {MAX_SAMPLES}")
    x = get("x") or "_step"
    if not isinstance(x, str):
        raise ApiError(400, "bad_request", "x must be a key name")
    return {"x": x, "samples": samples, "start": _float(get("start"), "start"), "stop": _float(get("stop"), "stop")}


async def sample(request: Request) -> Response:
    project, run_id = _run_path(request)
    keys = _list(request, "keys")
    if not keys:
        raise ApiError(400, "bad_request", "keys is required: keys=loss,acc")
    args = _sample_args(request.query_params.get)
    args["include_superseded"] = request.query_params.get("include_superseded") in ("1", "true")  # (H7)
    series = await run_in_threadpool(_store(request).sample_history, project, run_id, keys, **args)
    return json_response({"series": series})


async def sample_many(request: Request) -> Response:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", 'send {"runs": [["project", "run"], ...], "keys": [...]}')
    run_list, keys = _run_pairs(body), body.get("keys")
    if not (isinstance(keys, list) and keys and all(isinstance(k, str) for k in keys)):
        raise ApiError(400, "bad_request", "keys must be a non-empty list of key names")
    args = _sample_args(body.get)
    drop = _dropped_columns(body.get("fields"))
    store = _store(request)

    def collect() -> list[dict[str, Any]]:
        out = _sample_runs(store, run_list, keys, args)
        if drop:  # a chart needs x, last, min and max: the other columns need not cross the wire
            for run in out:
                run["series"] = {key: {name: value for name, value in series.items() if name not in drop}
                                 for key, series in run["series"].items()}
        return out

    return json_response({"runs": await run_in_threadpool(collect)})


_COLUMNS = ("x", "first", "last", "min", "max", "count", "nan")


def _dropped_columns(fields: Any) -> set[str]:
    """``fields`` of a sample request: the bucket columns wanted (all when missing)."""
    if fields is None:
        return set()
    if not (isinstance(fields, list) and all(f in _COLUMNS for f in fields)):
        raise ApiError(400, "bad_request", f"fields must be a list of {', '.join(_COLUMNS)}")
    return set(_COLUMNS) - set(fields)


def _sample_runs(store: Any, run_list: list[list[str]], keys: list[str], args: dict[str, Any]) -> list[dict[str, Any]]:
    """Each run's sampled series (an error entry for a run that is gone)."""
    from trackkit import RunNotFoundError

    many = getattr(store, "sample_history_many", None)
    if many is not None:  # every run in one pass over the database (PostgreSQL)
        found = many([(project, run_id) for project, run_id in run_list], keys, **args)
        return [{"project": project, "id": run_id, "series": series} if series is not None else
                {"project": project, "id": run_id, "series": {}, "error": f"no run {project}/{run_id} in {store.location}."}
                for (project, run_id), series in zip(run_list, found)]
    out = []
    for project, run_id in run_list:
        try:
            out.append({"project": project, "id": run_id,
                        "series": store.sample_history(project, run_id, keys, **args)})
        except RunNotFoundError as error:  # one deleted run does not spoil the chart of the others
            out.append({"project": project, "id": run_id, "series": {}, "error": str(error)})
    return out


async def history(request: Request) -> Response:
    project, run_id = _run_path(request)
    limit = _int(request, "limit", MAX_HISTORY_ROWS, 1, MAX_HISTORY_ROWS) or MAX_HISTORY_ROWS
    args = {"keys": _list(request, "keys"), "min_step": _int(request, "min_step", None, -(2**63)),
            "max_step": _int(request, "max_step", None, -(2**63)),
            "include_superseded": request.query_params.get("include_superseded") in ("1", "true")}
    skip = _int(request, "offset", 0, 0) or 0  # paging for the HTTP store (H7)

    def read() -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        for index, row in enumerate(_store(request).scan_history(project, run_id, **args)):
            if index < skip:
                continue
            if len(rows) == limit:
                return {"rows": rows, "truncated": True}
            rows.append(row)
        return {"rows": rows, "truncated": False}

    return json_response(await run_in_threadpool(read))


async def system_rows(request: Request) -> Response:
    project, run_id = _run_path(request)
    return json_response({"rows": await run_in_threadpool(lambda: list(_store(request).scan_system(project, run_id)))})


async def system_sample(request: Request) -> Response:
    project, run_id = _run_path(request)
    args = _sample_args(request.query_params.get)
    args.pop("x")
    series = await run_in_threadpool(_store(request).sample_system, project, run_id, _list(request, "keys"), **args)
    return json_response({"series": series})


async def files(request: Request) -> Response:
    project, run_id = _run_path(request)
    return json_response({"files": await run_in_threadpool(_store(request).list_files, project, run_id)})


async def file(request: Request) -> Response:
    project, run_id = _run_path(request)
    name = request.path_params["name"]
    if name.startswith("/") or ".." in name.split("/"):
        raise ApiError(400, "bad_request", f"not a run file name: {name!r}")
    handle = await run_in_threadpool(_store(request).open_file, project, run_id, name)

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    filename = name.rsplit("/", 1)[-1].replace('"', "")
    # Served as a download, never rendered: a run's file must not run script in the UI's origin.
    return StreamingResponse(iterate_in_threadpool(chunks()), media_type="application/octet-stream",
                             headers={"content-disposition": f'attachment; filename="{filename}"'})


async def openapi(request: Request) -> Response:
    return json_response(request.app.state.openapi)


# -- the table -------------------------------------------------------------------------------------
_RUN = "/projects/{project}/runs/{run}"
#: (method, path, endpoint, summary, query parameters)
ROUTES: list[tuple[str, str, Callable[[Request], Any], str, tuple[str, ...]]] = [
    ("GET", "/projects", projects, "Projects with run count, running runs and last activity", ()),
    ("GET", "/projects/{project}/runs", runs, "A page of runs (RunPage)", ("filters", "q", "order", "limit", "offset", "fields")),
    ("GET", "/runs", runs, "A page of runs of every project (RunPage)", ("filters", "q", "order", "limit", "offset", "fields")),
    ("GET", "/projects/{project}/importance", importance, "Importance of config keys for a metric (Spearman, random forest)",
     ("metric", "filters", "q")),
    ("GET", "/filter", parse_filter, "Parse the filter language (config.lr>0.01, state=finished) to a JSON filter", ("q",)),
    ("GET", _RUN, run, "The run's record: meta, config document (values, provenance, changes), summary", ()),
    ("PATCH", _RUN, edit_run, "Edit tags and notes (403 when read-only)", ()),
    ("GET", _RUN + "/keys", keys, "Every key of the run's history with count, first and last step, type", ()),
    ("GET", _RUN + "/sample", sample, "Min/max buckets of keys along x", ("keys", "x", "samples", "start", "stop")),
    ("POST", "/keys", keys_many, "History keys of many runs at once", ()),
    ("POST", "/sample", sample_many, "Min/max buckets of keys for many runs at once", ()),
    ("GET", _RUN + "/history", history, "History rows, unsampled",
     ("keys", "min_step", "max_step", "limit", "offset", "include_superseded")),
    ("GET", _RUN + "/system", system_rows, "The run's system-metrics rows", ()),
    ("GET", _RUN + "/system/sample", system_sample, "System metrics bucketed by wall time", ("keys", "samples", "start", "stop")),
    ("GET", _RUN + "/files", files, "The run's files", ()),
    ("GET", _RUN + "/files/{name:path}", file, "Download one run file (streamed)", ()),
    ("GET", "/openapi.json", openapi, "This document", ()),
]


def api_routes() -> list[Route]:
    """The table as Starlette routes (paths relative to ``/api/v1``)."""
    by_path: dict[str, dict[str, Callable[[Request], Any]]] = {}
    for method, path, endpoint, _, _ in ROUTES:
        by_path.setdefault(path, {})[method] = endpoint
    out = []
    for path, methods in by_path.items():
        if len(methods) == 1:
            ((method, endpoint),) = methods.items()
            out.append(Route(path, endpoint, methods=[method]))
        else:
            out.append(Route(path, _dispatch(methods), methods=list(methods)))
    return out


def _dispatch(methods: dict[str, Callable[[Request], Any]]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        handler = methods.get(request.method) or methods.get("GET")
        assert handler is not None
        response: Response = await handler(request)
        return response

    return endpoint


def openapi_document() -> dict[str, Any]:
    """An OpenAPI 3.1 document listing every route of the table."""
    paths: dict[str, Any] = {}
    for method, path, _, summary, params in ROUTES:
        path_params = [p.split(":")[0] for p in path.replace("}", "{").split("{")[1::2]]
        clean = path.replace(":path}", "}")
        parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in path_params]
        parameters += [{"name": p, "in": "query", "required": False, "schema": {"type": "string"}} for p in params]
        operation: dict[str, Any] = {"summary": summary, "parameters": parameters,
                                     "responses": {"200": {"description": "OK"},
                                                   "default": {"description": '{"error": {"code", "message"}}'}}}
        if method in ("POST", "PATCH"):
            operation["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
        paths.setdefault("/api/v1" + clean, {})[method.lower()] = operation
    return {"openapi": "3.1.0", "info": {"title": "trackkit", "version": "1"}, "paths": paths}
