"""``trackkit server``: the tracking server (read API, ingest API, web UI) over a store.

    trackkit server [--store URL] [--host 127.0.0.1] [--port 8080] [--workers N] [--files-dir D] [--insecure]
    trackkit server migrate --store postgresql://...
    trackkit server token create NAME [--read-only] | token list | token revoke NAME

With no ``--store`` it serves the local store (``TRACKKIT_DIR`` or the default folder): one process,
no database. With ``--store postgresql://...`` it migrates the schema at start-up (under an advisory
lock) and any number of processes, on any number of machines, can serve the same database.

uvicorn builds the app in each worker from ``app_factory`` (an import string), configured by the
``TRACKKIT_SERVER_*`` environment variables this command sets.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import Any

__all__ = ["DEFAULT_PORT", "app_factory", "build_parser", "main", "open_server_store"]

DEFAULT_PORT = 8080
#: Request bodies above this size get 413 (a sender's batch is at most 1 MiB).
MAX_BODY_BYTES = 8 << 20
_ENV_STORE = "TRACKKIT_SERVER_STORE"
_ENV_FILES = "TRACKKIT_SERVER_FILES_DIR"


def build_parser() -> argparse.ArgumentParser:
    """The ``trackkit server`` command line."""
    parser = argparse.ArgumentParser(prog="trackkit server", description="The trackkit tracking server.")
    parser.add_argument("--store", help="postgresql://user@host/db, or a store directory "
                        "(default: $TRACKKIT_DIR or the default folder)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help=f"port (default {DEFAULT_PORT}, or the next free one; a port given "
                        "here is used as it is)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (PostgreSQL only; default 1)")
    parser.add_argument("--files-dir", help="where run files go (default: beside the local store; "
                        "./trackkit-files with PostgreSQL)")
    parser.add_argument("--insecure", action="store_true", help="allow a non-loopback address without any token")
    parser.add_argument("--no-ui", action="store_true", help="serve the APIs only")
    sub = parser.add_subparsers(dest="action")
    migrate = sub.add_parser("migrate", help="bring a PostgreSQL database to the current schema")
    migrate.add_argument("--store", dest="migrate_store", help="postgresql://user@host/db")
    token = sub.add_parser("token", help="API tokens: create, list, revoke")
    token_sub = token.add_subparsers(dest="token_action", required=True)
    create = token_sub.add_parser("create", help="make a token (printed once)")
    create.add_argument("name")
    create.add_argument("--read-only", action="store_true", help="may query, may not write")
    listing = token_sub.add_parser("list", help="the tokens' names")
    revoke = token_sub.add_parser("revoke", help="remove a token")
    revoke.add_argument("name")
    for p in (create, listing, revoke):
        p.add_argument("--store", dest="token_store", help="the store the server serves (as for `trackkit server`)")
    return parser


def _is_postgres(location: str | None) -> bool:
    return bool(location) and location.split("://", 1)[0].lower() in ("postgresql", "postgres")  # type: ignore[union-attr]


def open_server_store(location: str | None, files_dir: str | None = None, *, migrate: bool = True) -> Any:
    """The store a server serves: PostgreSQL (migrated first) or the local store."""
    if _is_postgres(location):
        from .postgres_store import PostgresStore

        return PostgresStore(location, files_dir=files_dir or os.path.abspath("trackkit-files"), migrate=migrate)  # type: ignore[arg-type]
    from trackkit._stores import default_store_dir, local_store

    if location and "://" in location and not location.lower().startswith("file://"):
        from trackkit import UsageError

        raise UsageError(f"trackkit server serves a local store or postgresql://...; got {location!r}.")
    if location and location.lower().startswith("file://"):
        from trackkit._stores import open_store

        return open_store(location)
    return local_store(location or os.environ.get("TRACKKIT_DIR") or default_store_dir())


def app_factory() -> Any:
    """The ASGI app of one worker, configured by ``TRACKKIT_SERVER_*`` (set by ``trackkit server``)."""
    from .app import create_app
    from .auth import auth_hook, token_store_for
    from .ingest import ingest_routes, ingest_store_for
    from .ui_command import warm_up

    warm_up()  # numpy for the chart queries, imported while the worker starts
    store = open_server_store(os.environ.get(_ENV_STORE) or None, os.environ.get(_ENV_FILES) or None, migrate=False)
    app = create_app(store, auth=auth_hook(token_store_for(store)), extra_routes=ingest_routes(),
                     max_body_bytes=MAX_BODY_BYTES, ui=os.environ.get("TRACKKIT_SERVER_UI", "1") == "1")
    app.state.ingest = ingest_store_for(store)
    app.state.openapi["paths"].update(_openapi_paths())
    for error in _database_errors():
        app.add_exception_handler(error, _unavailable)
    return app


def _database_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg
        import psycopg_pool
    except ImportError:
        return ()
    return (psycopg.OperationalError, psycopg_pool.PoolTimeout)


async def _unavailable(request: Any, exc: Exception) -> Any:
    """The database is down or out of connections: 503, which senders retry."""
    from .app import json_response

    return json_response({"error": {"code": "unavailable", "message": f"the database is unavailable: {exc}"}}, 503)


def _openapi_paths() -> dict[str, Any]:
    """The write side, for ``/api/v1/openapi.json`` (the read side comes from ``routes.ROUTES``)."""
    run = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in ("project", "run")]
    body = {"content": {"application/json": {"schema": {"type": "object"}}}}
    error = {"default": {"description": '{"error": {"code", "message"}}'}}
    return {
        "/api/v1/ingest/{project}/{run}": {
            "get": {"summary": "Where sync stands: committed offsets and the lease holder", "parameters": run,
                    "responses": {"200": {"description": "OK"}, **error}},
            "post": {"summary": "Commit a batch (rows by offset, system rows, document changes); 409 run_in_use or "
                                "offset_gap", "parameters": run, "requestBody": body,
                     "responses": {"200": {"description": "the committed offsets"}, **error}}},
        "/api/v1/upload/{project}/{run}/{name}": {
            "put": {"summary": "Upload a run file (streamed; X-Trackkit-Writer header)",
                    "parameters": [*run, {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {"content": {"application/octet-stream": {}}},
                    "responses": {"200": {"description": "FileInfo"}, **error}}},
        "/api/v1/edit/{project}/{run}": {
            "post": {"summary": "Edit run fields, config and summary keys (merged with a live writer)", "parameters": run,
                     "requestBody": body, "responses": {"200": {"description": "the run's record"}, **error}},
            "delete": {"summary": "Delete the run", "parameters": run, "responses": {"200": {"description": "OK"}, **error}}},
    }


def free_port(start: int, host: str, tries: int = 100) -> int:
    """``start`` or the next port nobody listens on (probed as uvicorn binds: SO_REUSEADDR, so
    connections of a server that just died do not count)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in range(start, start + tries):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {start}..{start + tries - 1} on {host}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .auth import token_store_for

    store = open_server_store(args.store, args.files_dir, migrate=True)  # migrations run once, here
    if args.workers > 1 and not _is_postgres(args.store):
        print("trackkit server: --workers > 1 needs --store postgresql://... (the local store is served by one "
              "process); serving with one worker.", file=sys.stderr)
        args.workers = 1
    has_tokens = token_store_for(store).any()
    if not _loopback(args.host) and not has_tokens:
        if not args.insecure:
            print(f"trackkit server: refusing to listen on {args.host} with no API token: anyone who can reach it could "
                  f"read and write every run. Make a token first (trackkit server token create NAME"
                  f"{' --store ' + args.store if args.store else ''}), or pass --insecure.", file=sys.stderr)
            return 2
        print(f"trackkit server: WARNING: listening on {args.host} with no API token (--insecure): anyone who can "
              f"reach this address can read and write every run.", file=sys.stderr)
    close = getattr(store, "close", None)
    if close is not None:
        close()
    port = args.port if args.port is not None else free_port(DEFAULT_PORT, args.host)
    os.environ[_ENV_STORE] = args.store or getattr(store, "location", "")
    if args.files_dir:
        os.environ[_ENV_FILES] = args.files_dir
    os.environ["TRACKKIT_SERVER_UI"] = "0" if args.no_ui else "1"
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    print(f"trackkit server: serving {getattr(store, 'location', store)} at http://{shown}:{port}/ "
          f"({args.workers} worker{'s' if args.workers > 1 else ''}; auth {'on' if has_tokens else 'off: no token yet'})",
          flush=True)
    uvicorn.run("trackkit.server.server_command:app_factory", factory=True, host=args.host, port=port,
                workers=args.workers, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from .migrate import migrate

    location = args.migrate_store or args.store
    if not _is_postgres(location):
        print("trackkit server migrate: give --store postgresql://user@host/db", file=sys.stderr)
        return 2
    version = migrate(location)
    print(f"trackkit server migrate: schema version {version}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from .auth import token_store_for

    location = getattr(args, "token_store", None) or args.store
    store = open_server_store(location, migrate=_is_postgres(location))
    try:
        tokens = token_store_for(store)
        if args.token_action == "create":
            secret = tokens.create(args.name, read_only=args.read_only)
            kind = "read-only" if args.read_only else "read-write"
            print(f"trackkit server: created {kind} token {args.name!r}. Copy it now, it is not shown again:\n{secret}\n"
                  f"Clients use it with: export TRACKKIT_API_KEY={secret}", flush=True)
        elif args.token_action == "list":
            listed = tokens.list()
            for entry in listed:
                print(f"{entry['name']}\t{'read-only' if entry['read_only'] else 'read-write'}")
            if not listed:
                print("no tokens: auth is off (the server binds to 127.0.0.1 only)")
        else:
            if not tokens.revoke(args.name):
                print(f"trackkit server: no token named {args.name!r}", file=sys.stderr)
                return 1
            print(f"trackkit server: revoked {args.name!r}")
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``trackkit server ...`` (also ``python -m trackkit.server.server_command``)."""
    from trackkit import TrackkitError

    args = build_parser().parse_args(argv)
    try:
        if args.action == "migrate":
            return _migrate(args)
        if args.action == "token":
            return _token(args)
        return _serve(args)
    except TrackkitError as error:
        print(f"trackkit server: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
