"""The store protocol suite (``tests/store/protocol_cases.py``) against the HTTP store: a real
``trackkit server`` over PostgreSQL, written through the spool and its sender, read through the
JSON API. The same cases the local, memory and PostgreSQL stores pass."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_process import ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
pytest.register_assert_rewrite("protocol_cases")

from protocol_cases import *  # noqa: E402, F403 - the shared cases, collected here


@pytest.fixture(scope="module")
def http_server(make_database: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    from psycopg.conninfo import conninfo_to_dict

    from trackkit.server.migrate import migrate

    conninfo = make_database()
    migrate(conninfo)
    p = conninfo_to_dict(conninfo)
    url = f"postgresql://{p.get('user', 'postgres')}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{p['dbname']}"
    files = tmp_path_factory.mktemp("http-files")
    server = ServerProcess(url, log=files / "server.log", extra=("--files-dir", str(files))).start()
    yield server, conninfo
    server.stop()


@pytest.fixture
def store(http_server: tuple[ServerProcess, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """An HttpStore over an emptied database; the spool is the test's own TRACKKIT_DIR."""
    import psycopg

    from trackkit._http_store import HttpStore

    server, conninfo = http_server
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE runs CASCADE")
    monkeypatch.setenv("TRACKKIT_SYNC_INTERVAL", "0.05")
    monkeypatch.setenv("TRACKKIT_SYNC_TIMEOUT", "300")  # close() returns once the server has it all (100k rows in one case)
    return HttpStore(server.url)


# The one case that differs by design: writes reach the server through the sender (it wakes when the
# writer has spooled rows), so a live run shows up within moments rather than at once. finish() waits for
# the sender, so "finished" is there as soon as it returns. This definition replaces the shared case here.


def _eventually(check: Any, timeout: float = 15.0) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_run_being_written_is_running_until_it_finishes(store: Any) -> None:
    """A live run shows as running once its sender has shipped it, then as finished at finish()."""
    import trackkit

    run = trackkit.init(project="p", id="live", store=store, reinit="create_new")
    run.log({"loss": 1.0})
    run.log({"loss": 0.5})
    listed = _eventually(lambda: store.query_runs("p")["runs"])
    assert [r["state"] for r in listed] == ["running"]
    assert [(i["name"], i["run_count"], i["running"]) for i in store.project_infos()] == [("p", 1, 1)]
    run.finish()
    assert store.query_runs("p")["runs"][0]["state"] == "finished"
    assert store.project_infos()[0]["running"] == 0
