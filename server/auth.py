"""API tokens for the tracking server: created, listed and revoked by ``trackkit server token``.

A token is ``tk_`` plus 32 random bytes (URL-safe base64), shown once when created; the server keeps
only its SHA-256 (hex), its name and whether it is read-only. Auth is on as soon as one token exists:
every API request then needs ``Authorization: Bearer <token>``; a read-only token can query but not
write (403); a missing, unknown or revoked token gets 401. The token's name is put in the request's
state (``token_name``) so the ingest API records it as the author of the runs it writes.

Where tokens live: in PostgreSQL (table ``api_tokens``, migration 002) for a ``postgresql://``
store; with the local store, in ``<store root>/.trackkit-tokens.json`` (a dot-file, never listed as
a project).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from typing import Any, Protocol

from starlette.requests import Request

from trackkit import UsageError

__all__ = ["TOKEN_FILE", "LocalTokens", "PostgresTokens", "TokenStore", "auth_hook", "hash_token", "token_store_for"]

TOKEN_FILE = ".trackkit-tokens.json"
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
#: Seconds a token lookup may be served from memory (revocation takes effect within this).
_CACHE_SECONDS = 1.0


def hash_token(secret: str) -> str:
    """The stored form of a token: hex SHA-256 of its text."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_secret() -> str:
    return "tk_" + secrets.token_urlsafe(32)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(f"token name {name!r} is not valid: use 1-64 letters, digits, '_', '-', '.' or '@'.")
    return name


class TokenStore(Protocol):
    """Where a server's tokens are kept."""

    def create(self, name: str, *, read_only: bool = False) -> str:
        """Make a token named ``name``; returns the secret (the only time it is seen)."""

    def list(self) -> list[dict[str, Any]]:
        """``[{"name", "read_only", "created_at"}]`` by name (never the secret or its hash)."""

    def revoke(self, name: str) -> bool:
        """Remove a token; False if there was none of that name."""

    def lookup(self, token_hash: str) -> tuple[str, bool] | None:
        """``(name, read_only)`` of the token with this hash, or None."""

    def any(self) -> bool:
        """Whether at least one token exists (auth is then on)."""


class LocalTokens:
    """Tokens in ``<root>/.trackkit-tokens.json`` (``{name: {"hash", "read_only", "created_at"}}``)."""

    def __init__(self, root: str) -> None:
        self.path = os.path.join(root, TOKEN_FILE)
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, Any]] | None = None

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                document = json.load(handle)
            return document if isinstance(document, dict) else {}
        except FileNotFoundError:
            return {}

    def _write(self, document: dict[str, Any]) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, sort_keys=True)
        os.replace(tmp, self.path)
        self._cache = None

    def _tokens(self) -> dict[str, Any]:
        now = time.monotonic()
        cached = self._cache
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            return cached[1]
        tokens = self._read()
        self._cache = (now, tokens)
        return tokens

    def create(self, name: str, *, read_only: bool = False) -> str:
        _check_name(name)
        with self._lock:
            document = self._read()
            if name in document:
                raise UsageError(f"a token named {name!r} exists; revoke it first or choose another name.")
            secret = _new_secret()
            document[name] = {"hash": hash_token(secret), "read_only": bool(read_only), "created_at": time.time()}
            self._write(document)
        return secret

    def list(self) -> list[dict[str, Any]]:
        return [{"name": name, "read_only": bool(entry.get("read_only")), "created_at": entry.get("created_at")}
                for name, entry in sorted(self._read().items())]

    def revoke(self, name: str) -> bool:
        with self._lock:
            document = self._read()
            if document.pop(name, None) is None:
                return False
            self._write(document)
            return True

    def lookup(self, token_hash: str) -> tuple[str, bool] | None:
        for name, entry in self._tokens().items():
            stored = entry.get("hash") if isinstance(entry, dict) else None
            if isinstance(stored, str) and hmac.compare_digest(stored, token_hash):
                return name, bool(entry.get("read_only"))
        return None

    def any(self) -> bool:
        return bool(self._tokens())


class PostgresTokens:
    """Tokens in the ``api_tokens`` table, through a connection pool (the PostgreSQL store's) or a URL."""

    def __init__(self, pool_or_conninfo: Any) -> None:
        self._pool = pool_or_conninfo if not isinstance(pool_or_conninfo, str) else None
        self._conninfo = pool_or_conninfo if isinstance(pool_or_conninfo, str) else None
        self._cache: dict[str, tuple[float, Any]] = {}

    def _execute(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._pool is not None:
            with self._pool.connection() as conn:
                cursor = conn.execute(query, params)
                return cursor.fetchall() if cursor.description else []
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def create(self, name: str, *, read_only: bool = False) -> str:
        _check_name(name)
        secret = _new_secret()
        created = self._execute("INSERT INTO api_tokens (name, token_hash, read_only) VALUES (%s, %s, %s) "
                                "ON CONFLICT (name) DO NOTHING RETURNING name", (name, hash_token(secret), read_only))
        if not created:
            raise UsageError(f"a token named {name!r} exists; revoke it first or choose another name.")
        return secret

    def list(self) -> list[dict[str, Any]]:
        rows = self._execute("SELECT name, read_only, extract(epoch from created_at) FROM api_tokens ORDER BY name")
        return [{"name": name, "read_only": bool(ro), "created_at": float(created)} for name, ro, created in rows]

    def revoke(self, name: str) -> bool:
        self._cache.clear()
        return bool(self._execute("DELETE FROM api_tokens WHERE name = %s RETURNING name", (name,)))

    def _cached(self, key: str, load: Any) -> Any:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < _CACHE_SECONDS:
            return hit[1]
        value = load()
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now, value)
        return value

    def lookup(self, token_hash: str) -> tuple[str, bool] | None:
        def load() -> tuple[str, bool] | None:
            rows = self._execute("SELECT name, read_only FROM api_tokens WHERE token_hash = %s", (token_hash,))
            return (rows[0][0], bool(rows[0][1])) if rows else None

        result: tuple[str, bool] | None = self._cached("h:" + token_hash, load)
        return result

    def any(self) -> bool:
        return bool(self._cached("any", lambda: bool(self._execute("SELECT 1 FROM api_tokens LIMIT 1"))))


def token_store_for(store: Any) -> TokenStore:
    """The token store that goes with a served store (local directory or PostgreSQL)."""
    from trackkit._local_store import LocalStore

    if isinstance(store, LocalStore):
        return LocalTokens(store.location)
    pool = getattr(store, "pool", None)
    if pool is not None:
        return PostgresTokens(pool)
    raise UsageError(f"{store!r} keeps no tokens; serve a local store or postgresql://.")


def auth_hook(tokens: TokenStore) -> Any:
    """The hook ``create_app(auth=...)`` takes: with no token, every request may write; else the
    bearer token decides (``"none"`` answers 401), and its name goes to ``request.state.token_name``."""
    from starlette.concurrency import run_in_threadpool

    def decide(header: str) -> tuple[str, str | None]:
        if not tokens.any():
            return "write", None
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return "none", None
        found = tokens.lookup(hash_token(given.strip()))
        if found is None:
            return "none", None
        name, read_only = found
        return ("read" if read_only else "write"), name

    async def check(request: Request) -> str:
        access, name = await run_in_threadpool(decide, request.headers.get("authorization", ""))
        if name is not None:
            request.scope.setdefault("state", {})["token_name"] = name
        return access

    return check
