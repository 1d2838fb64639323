"""Schema migrations: numbered SQL files in ``server/migrations/``, applied in order, once each.

``migrate(conninfo)`` takes a transaction-scoped advisory lock first, so two replicas starting
together apply each file exactly once (the second waits, then finds nothing to do). Every file and
its version row commit together or not at all. A database whose schema is newer than this trackkit
knows is refused with ``SchemaVersionError`` rather than written with an older layout.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from trackkit import TrackkitError

__all__ = ["LATEST_VERSION", "SchemaVersionError", "current_version", "migrate", "migrations", "schema_status"]

#: pg_advisory_xact_lock key shared by every trackkit process migrating one database.
ADVISORY_LOCK_KEY = 0x74726B6B  # "trkk"
_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS trackkit_schema (
    version     int PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""


class SchemaVersionError(TrackkitError, RuntimeError):
    """The database holds a schema this trackkit cannot use (newer, or not migrated yet)."""


def migrations() -> list[tuple[int, str, str]]:
    """``(version, file name, SQL)`` of every migration shipped with this trackkit, in order."""
    found = []
    for entry in resources.files("trackkit.server").joinpath("migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"trackkit's migrations are not numbered 001, 002, ... without gaps: {versions}")
    return found


LATEST_VERSION = len(migrations())


def current_version(conn: Any) -> int:
    """The schema version recorded in the database (0 when trackkit never migrated it)."""
    exists = conn.execute("SELECT to_regclass('trackkit_schema') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM trackkit_schema").fetchone()[0])


def _refuse_newer(version: int, where: str) -> None:
    if version > LATEST_VERSION:
        from trackkit import __version__

        raise SchemaVersionError(
            f"the database {where} has trackkit schema version {version}, but this trackkit ({__version__}) "
            f"knows versions up to {LATEST_VERSION}: it was migrated by a newer trackkit. Upgrade trackkit "
            f"(pip install -U 'trackkit[server]') on this machine; an older one must not write it."
        )


def schema_status(conn: Any) -> tuple[int, int]:
    """``(version in the database, latest version known here)``; raises if the database is newer."""
    version = current_version(conn)
    _refuse_newer(version, _where(conn))
    return version, LATEST_VERSION


def migrate(conninfo: str) -> int:
    """Bring the database at ``conninfo`` to the latest schema; returns the schema version.

    Safe to call from every replica at start-up: the advisory lock serialises them, and a database
    that is already current is left untouched. Raises ``SchemaVersionError`` for a newer schema.

    Example::

        from trackkit.server.migrate import migrate
        migrate("postgresql://postgres@127.0.0.1/trackkit")  # -> 1
    """
    import psycopg

    with psycopg.connect(conninfo, autocommit=False) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            conn.execute(_VERSION_TABLE)
            version = current_version(conn)
            _refuse_newer(version, _where(conn))
            for number, name, sql in migrations():
                if number <= version:
                    continue
                conn.execute(sql.encode("utf-8"))  # no parameters: several statements in one call
                conn.execute("INSERT INTO trackkit_schema (version, name) VALUES (%s, %s)", (number, name))
                version = number
        return version


def _where(conn: Any) -> str:
    info = conn.info
    return f"{info.dbname!r} on {info.host}:{info.port}"
