"""Schema migrations: once each, under a lock, and never onto a newer database."""

from __future__ import annotations

import threading

import psycopg
import pytest

from trackkit.server.migrate import LATEST_VERSION, SchemaVersionError, migrate, migrations, schema_status


def test_migrations_are_numbered_from_one_without_gaps():
    """The shipped SQL files read top to bottom as versions 1, 2, ..."""
    versions = [version for version, _, _ in migrations()]
    assert versions == list(range(1, LATEST_VERSION + 1))
    assert LATEST_VERSION >= 1


def test_migrate_a_fresh_database_then_again(make_database):
    """A fresh database gets every migration; running migrate again changes nothing."""
    conninfo = make_database()
    assert migrate(conninfo) == LATEST_VERSION
    assert migrate(conninfo) == LATEST_VERSION
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT version, name FROM trackkit_schema ORDER BY version").fetchall()
        assert [version for version, _ in rows] == list(range(1, LATEST_VERSION + 1))
        assert rows[0][1] == "001_initial.sql"
        assert schema_status(conn) == (LATEST_VERSION, LATEST_VERSION)
        assert conn.execute("SELECT to_regclass('runs') IS NOT NULL").fetchone()[0]


def test_concurrent_migrations_apply_each_file_once(make_database):
    """Replicas starting together: every migrate() succeeds and each version is recorded once."""
    conninfo = make_database()
    results: list[object] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        try:
            results.append(migrate(conninfo))
        except Exception as error:  # a race would show up here as a duplicate-object error
            results.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [LATEST_VERSION] * 4
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM trackkit_schema").fetchone()[0] == LATEST_VERSION


def test_a_database_from_a_newer_trackkit_is_refused(make_database):
    """A schema version above the latest known one is refused, with a message that says what to do."""
    conninfo = make_database()
    migrate(conninfo)
    with psycopg.connect(conninfo) as conn:
        conn.execute("INSERT INTO trackkit_schema (version, name) VALUES (%s, 'from_the_future.sql')", (LATEST_VERSION + 1,))
    with pytest.raises(SchemaVersionError, match=r"newer trackkit.*Upgrade trackkit"):
        migrate(conninfo)
    with psycopg.connect(conninfo) as conn, pytest.raises(SchemaVersionError):
        schema_status(conn)


def test_a_failing_migration_leaves_nothing_behind(make_database, monkeypatch):
    """A migration that fails part-way rolls back entirely: no tables, no version row."""
    import trackkit.server.migrate as module

    good = module.migrations()
    broken = [(1, "001_initial.sql", good[0][2] + "\nSELECT no_such_function();")]
    monkeypatch.setattr(module, "migrations", lambda: broken)
    conninfo = make_database()
    with pytest.raises(psycopg.errors.UndefinedFunction):
        migrate(conninfo)
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT to_regclass('runs')").fetchone()[0] is None
        assert conn.execute("SELECT to_regclass('trackkit_schema')").fetchone()[0] is None


def test_a_store_refuses_a_database_that_is_not_migrated(make_database):
    """PostgresStore on an empty database says to run the migration; with migrate=True it does it."""
    from trackkit.server.postgres_store import PostgresStore

    conninfo = make_database()
    with pytest.raises(SchemaVersionError, match="trackkit server migrate"):
        PostgresStore(conninfo, min_size=1, max_size=1)
    store = PostgresStore(conninfo, min_size=1, max_size=1, migrate=True)
    try:
        assert store.project_infos() == []
        assert "password" not in store.location and store.location.startswith("postgresql://")
    finally:
        store.close()


def test_an_unreachable_database_is_a_clear_error():
    """A store pointed at a port where nothing listens fails within its pool timeout, saying where it looked."""
    import socket

    from trackkit.server.postgres_store import PostgresStore

    with socket.socket() as probe:  # a free port: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}.*not reachable"):
        PostgresStore(f"postgresql://postgres@127.0.0.1:{port}/nothing?connect_timeout=1", min_size=1, max_size=1,
                      pool_timeout=1.0)
