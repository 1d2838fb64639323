"""PostgreSQL for the server tests: the real server at 127.0.0.1:5432 (or ``TRACKKIT_TEST_PG``),
one database with a random name per test session, dropped at the end.

When ``CI=true`` a PostgreSQL that cannot be reached fails the suite; elsewhere the tests skip
with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg", reason="the server tests need the server extra: pip install 'trackkit[server]'")

ADMIN = os.environ.get("TRACKKIT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _with_dbname(conninfo: str, dbname: str) -> str:
    """The admin connection's server and user with another database, as a ``postgresql://`` URL
    (the form ``--store`` and ``TRACKKIT_STORE`` take)."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(conninfo)
    user = quote(str(params.get("user", "postgres")), safe="")
    password = params.get("password")
    auth = f"{user}:{quote(str(password), safe='')}@" if password else f"{user}@"
    host, port = params.get("host", "127.0.0.1"), params.get("port", 5432)
    return f"postgresql://{auth}{host}:{port}/{dbname}"


def _admin_connect() -> psycopg.Connection:
    try:
        return psycopg.connect(ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        message = f"PostgreSQL is not reachable at {ADMIN} ({error}); set TRACKKIT_TEST_PG to point elsewhere"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}. CI=true: the server tests must not skip.", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def make_database() -> Iterator:
    """A factory of fresh, empty databases (random names); every one is dropped at session end."""
    created: list[str] = []
    admin = _admin_connect()

    def make() -> str:
        name = f"trackkit_test_{uuid.uuid4().hex[:12]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _with_dbname(ADMIN, name)

    yield make
    for name in created:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def pg_database(make_database) -> str:
    """The session's database, migrated to the latest schema: its connection string."""
    from trackkit.server.migrate import migrate

    conninfo = make_database()
    migrate(conninfo)
    return conninfo


@pytest.fixture(scope="session")
def files_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-files")


@pytest.fixture(scope="session")
def pg_store(pg_database: str, files_root: Path) -> Iterator:
    """One PostgresStore over the session database (tests use their own project names)."""
    from trackkit.server.postgres_store import PostgresStore

    store = PostgresStore(pg_database, files_dir=str(files_root), heartbeat_timeout=30.0)
    yield store
    store.close()


@pytest.fixture
def project(request: pytest.FixtureRequest) -> str:
    """A project name of this test's own, so that tests sharing the session database never meet."""
    return f"p-{uuid.uuid4().hex[:10]}"
