"""The HTTP app: a Starlette application over any store that answers the Store v2 query protocol.

``create_app(store)`` serves the read API under ``/api/v1``, the web UI at ``/`` and the health
probes. Cross-cutting concerns live here as middleware (security headers, body size limit, auth);
the endpoints themselves are in ``routes.py``. Auth is a hook: ``auth(request) -> Access`` decides
what a request may do (the token store of the tracking server plugs in there); with none, every
request may read, and write unless the app is read-only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import pathlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trackkit import RunInUseError, RunNotFoundError, TrackkitError, UsageError

__all__ = ["Access", "ApiError", "CSP", "MAX_BODY_BYTES", "bearer_auth", "create_app", "dumps", "json_response"]

UI_DIR = pathlib.Path(__file__).resolve().parent / "ui"
#: Request bodies above this size get 413 before the endpoint reads them.
MAX_BODY_BYTES = 1 << 20
#: No inline script or style element, nothing from another origin.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

#: What a request may do: nothing (401), read, or read and write.
Access = Literal["none", "read", "write"]
AuthHook = Callable[[Request], "Access | Awaitable[Access]"]


class ApiError(Exception):
    """An error the API answers with ``{"error": {"code", "message"}}`` and an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# -- JSON: non-finite floats travel as strings -----------------------------------------------------
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        if value != value:
            return "NaN"
        return _NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _all_finite(document: Any) -> bool:
    """True when no float in the document is NaN or ±inf (x - x is 0.0 exactly for finite floats)."""
    stack = [document]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is float:
            if value - value != 0.0:
                return False
        elif kind is dict:
            stack.extend(value.values())
        elif kind is list or kind is tuple:
            try:  # a list of numbers: one C-level sum says it (an overflow only sends it the slow way)
                if math.isfinite(math.fsum(value)):
                    continue
            except (TypeError, OverflowError, ValueError):  # not all numbers, too big, or inf + -inf
                pass
            for item in value:
                if type(item) is float:
                    if item - item != 0.0:
                        return False
                elif type(item) in (dict, list, tuple):
                    stack.append(item)
    return True


try:  # orjson is ~10x faster, but writes NaN and ±inf as null: used only for documents known finite
    import orjson

    _FAST_ERRORS: tuple[type[Exception], ...] = (TypeError, orjson.JSONEncodeError)  # e.g. an int over 64 bits

    def _fast(document: Any) -> bytes | None:
        encoded = orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS)
        # no null at all: nothing was NaN or ±inf; else look (a null may be a None or a lost NaN)
        return encoded if b"null" not in encoded or _all_finite(document) else None
except ImportError:  # pragma: no cover - the standard library path below stays correct without it
    _FAST_ERRORS = (TypeError,)

    def _fast(document: Any) -> bytes | None:
        return None


def dumps(document: Any) -> bytes:
    """JSON for the browser: NaN and ±inf become ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    try:
        fast = _fast(document)
    except _FAST_ERRORS:
        fast = None
    if fast is not None:
        return fast
    try:
        text = json.dumps(document, allow_nan=False, separators=(",", ":"), default=str)
    except ValueError:  # a non-finite float somewhere: rewrite the document (rare, so the slow path)
        text = json.dumps(_finite(document), allow_nan=False, separators=(",", ":"), default=str)
    return text.encode()


def json_response(document: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response encoded with ``dumps``."""
    return Response(dumps(document), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


# -- middleware ------------------------------------------------------------------------------------
class SecurityHeaders:
    """CSP, no sniffing, no framing, no referrer on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ETags:
    """An ETag on every JSON answer to a GET, and 304 when the client already has it: a live view that
    polls gets an empty answer until something changed (the browser's cache revalidates by itself)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        given = next((v.decode() for k, v in scope.get("headers", []) if k == b"if-none-match"), None)

        async def send_with_etag(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if message["status"] == 200 and headers.get(b"content-type", b"").startswith(b"application/json"):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                start, held = held, None
                if message.get("more_body"):  # streamed: no tag
                    await send(start)
                else:
                    etag = '"' + hashlib.blake2b(message.get("body", b""), digest_size=16).hexdigest() + '"'
                    extra = [(b"etag", etag.encode()), (b"cache-control", b"no-cache")]
                    if given is not None and etag in {t.strip() for t in given.split(",")}:
                        kept = [(k, v) for k, v in start.get("headers", []) if k not in (b"content-length", b"content-type")]
                        await send({"type": "http.response.start", "status": 304, "headers": kept + extra})
                        await send({"type": "http.response.body", "body": b""})
                        return
                    await send({**start, "headers": list(start.get("headers", [])) + extra})
            await send(message)

        await self.app(scope, receive, send_with_etag)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, by Content-Length or while streaming."""

    #: Streamed file uploads (the ingest API's run files) keep their own limit.
    EXEMPT = ("/api/v1/upload/",)

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.EXEMPT):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _error(413, "too_large", f"request body over {self.limit} bytes")(scope, receive, send)
                return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise ApiError(413, "too_large", f"request body over {self.limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


def bearer_auth(tokens: Mapping[str, bool]) -> AuthHook:
    """An auth hook over plain tokens (``{token: read_only}``): ``Authorization: Bearer <token>``.

    The tracking server replaces this with its hashed token store; the hook shape stays."""

    def check(request: Request) -> Access:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return "none"
        for token, read_only in tokens.items():
            if hmac.compare_digest(token.encode(), given.strip().encode()):
                return "read" if read_only else "write"
        return "none"

    return check


class Auth:
    """Ask the hook what a request may do and store it as ``request.state.access``.

    ``/healthz``, ``/readyz`` and the UI's static files are open; the API needs at least "read"."""

    OPEN = ("/healthz", "/readyz", "/ui/", "/favicon.ico")

    def __init__(self, app: ASGIApp, hook: AuthHook | None, read_only: bool) -> None:
        self.app = app
        self.hook = hook
        self.read_only = read_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        access: Access = "write"
        if self.hook is not None:
            path = scope["path"]
            if path == "/" or path.startswith(self.OPEN) or path == "/api/v1/openapi.json":
                access = "read"
            else:
                result = self.hook(Request(scope))
                access = await result if isinstance(result, Awaitable) else result  # type: ignore[assignment]
                if access == "none":
                    await _error(401, "unauthorized", "a valid token is needed: send 'Authorization: Bearer <token>'")(
                        scope, receive, send)
                    return
        if self.read_only and access == "write":
            access = "read"
        scope.setdefault("state", {})["access"] = access
        await self.app(scope, receive, send)


# -- errors ----------------------------------------------------------------------------------------
async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error(exc.status, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))


async def _trackkit_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, RunNotFoundError):
        return _error(404, "not_found", str(exc))
    if isinstance(exc, RunInUseError):
        return _error(409, "conflict", str(exc))
    if isinstance(exc, UsageError):
        return _error(400, "bad_request", str(exc))
    status = getattr(exc, "status", None)  # the tracking server's answer, behind `trackkit ui --store http://...`
    if isinstance(status, int) and not isinstance(status, bool):
        if status in (401, 0) or status >= 500:  # its token, or the server itself: not this request's fault
            return _error(502, "upstream_unauthorized" if status == 401 else "upstream_error", str(exc))
        if status >= 400:
            return _error(status, str(getattr(exc, "code", "") or "http_error"), str(exc))
    return _error(500, "internal", str(exc))


async def _internal_error(request: Request, exc: Exception) -> Response:
    return _error(500, "internal", f"{type(exc).__name__}: {exc}")


# -- the app ---------------------------------------------------------------------------------------
async def _index(request: Request) -> Response:
    return FileResponse(UI_DIR / "index.html", headers={"cache-control": "no-cache"})


async def _healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


def create_app(
    store: Any,
    *,
    read_only: bool = False,
    tokens: Mapping[str, bool] | None = None,
    auth: AuthHook | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    extra_routes: list[Route] | None = None,
    ui: bool = True,
) -> Starlette:
    """The ASGI app over ``store`` (anything with the Store v2 query methods).

    Args:
        store: a LocalStore, MemoryStore, PostgreSQL store ... (``project_infos``, ``query_runs`` ...).
        read_only: refuse every edit with 403.
        tokens: ``{token: read_only}`` for simple bearer auth (ignored when ``auth`` is given).
        auth: a hook ``auth(request) -> "none" | "read" | "write"``; ``"none"`` answers 401.
        max_body_bytes: larger request bodies get 413.
        extra_routes: more routes (the ingest API) mounted beside the read API.
        ui: serve the web UI at ``/``.

    Example::

        app = create_app(trackkit.open_store("./trackkit-runs"), read_only=True)
        uvicorn.run(app, host="127.0.0.1", port=8787)
    """
    from starlette.middleware import Middleware

    from .routes import api_routes, openapi_document

    if auth is None and tokens:
        auth = bearer_auth(tokens)
    routes: list[Any] = [
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz_endpoint(store), methods=["GET"]),
        Mount("/api/v1", routes=[*api_routes(), *(extra_routes or [])]),
    ]
    if ui:
        routes += [Route("/", _index, methods=["GET"]), Mount("/ui", app=StaticFiles(directory=UI_DIR), name="ui")]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(ETags), Middleware(BodyLimit, limit=max_body_bytes),
                    Middleware(Auth, hook=auth, read_only=read_only)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, TrackkitError: _trackkit_error,
                            Exception: _internal_error},
    )
    app.state.store = store
    app.state.openapi = openapi_document()
    return app


def _readyz_endpoint(store: Any) -> Callable[[Request], Awaitable[Response]]:
    async def readyz(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        check = getattr(store, "ready", None) or store.project_infos
        try:
            await run_in_threadpool(check)
        except Exception as error:  # the store is unreachable: not ready, but the process is up
            return _error(503, "unavailable", f"the store is not ready: {error}")
        return json_response({"status": "ready"})

    return readyz
