"""The tracking server end to end: a real ``trackkit server`` process over PostgreSQL (or the local
store), training scripts logging to it through ``init(store="http://...")``, and reading back
through ``Api(store="http://...")`` and PostgreSQL itself."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from server_process import ServerProcess

import trackkit


def url_of(conninfo: str) -> str:
    """A libpq connection string as the postgresql:// URL `trackkit server --store` takes."""
    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(conninfo)
    return f"postgresql://{p.get('user', 'postgres')}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{p['dbname']}"


@pytest.fixture(scope="module")
def server(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server over the session's PostgreSQL database (no tokens: auth off)."""
    log = tmp_path_factory.mktemp("server-log") / "server.log"
    process = ServerProcess(url_of(pg_database), log=log).start()
    yield process
    process.stop()


def _pg_rows(conninfo: str, project: str, run_id: str) -> list[dict]:
    import psycopg

    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT h.data::text FROM history_rows h JOIN runs r ON r.pk = h.run_pk "
                            "WHERE r.project = %s AND r.run_id = %s AND NOT h.dropped ORDER BY h.seq",
                            (project, run_id)).fetchall()
    return [json.loads(text) for (text,) in rows]


def _values(rows: list[dict], key: str = "loss") -> list:
    return [row.get(key) for row in rows]


def test_a_run_logged_to_the_server_reads_back_as_it_was_logged(server: ServerProcess, pg_database: str, project: str) -> None:
    """init(store=URL) writes the spool and the sender ships it: Api(store=URL), PostgreSQL and the
    spool hold the same rows (NaN included), config, summary and final state."""
    with trackkit.init(project=project, store=server.url, config={"lr": 0.1, "optim": {"momentum": 0.9}}) as run:
        for step in range(300):
            run.log({"loss": 1.0 / (step + 1), "acc": math.nan if step == 7 else step / 300})
        run.config.update({"lr": 0.05}, allow_val_change=True)
        run.summary["best_acc"] = 0.99
    api = trackkit.Api(store=server.url)
    remote = api.run(f"{project}/{run.id}")
    assert remote.state == "finished"
    assert remote.config == {"lr": 0.05, "optim": {"momentum": 0.9}}
    assert remote.summary["best_acc"] == 0.99 and remote.summary["loss"] == pytest.approx(1 / 300)
    rows = list(api.store.scan_history(project, run.id))
    assert [row["_step"] for row in rows] == list(range(300))
    assert math.isnan(rows[7]["acc"]) and rows[8]["acc"] == pytest.approx(8 / 300)
    local = trackkit.Api().run(f"{project}/{run.id}")  # the spool: TRACKKIT_DIR
    assert _values(rows)[:7] == _values(list(local.scan_history()))[:7] == _values(_pg_rows(pg_database, project, run.id))[:7]
    assert _values(rows)[8:] == _values(list(local.scan_history()))[8:] == _values(_pg_rows(pg_database, project, run.id))[8:]
    assert api.store.history_keys(project, run.id)["loss"]["count"] == 300


def test_the_cli_reads_the_server_as_it_reads_a_local_store(server: ServerProcess, project: str) -> None:
    """`trackkit runs --store http://...` lists what `trackkit runs` lists over the spool."""
    with trackkit.init(project=project, store=server.url, config={"lr": 0.3}) as run:
        run.log({"loss": 0.5})
    remote = subprocess.run([sys.executable, "-m", "trackkit", "--store", server.url, "runs", project, "--json"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    local = subprocess.run([sys.executable, "-m", "trackkit", "runs", project, "--json"],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    strip = lambda text: [{k: v for k, v in r.items() if k not in ("updated_at", "runtime")} for r in json.loads(text)]  # noqa: E731
    assert strip(remote) == strip(local)
    assert json.loads(remote)[0]["config"] == {"lr": 0.3}


def _batch(writer: str, offset: int, steps: range, **documents) -> bytes:
    return json.dumps({"writer": writer, "offset": offset, "rows": [{"loss": float(s), "_step": s} for s in steps],
                       **documents}).encode()


def test_a_batch_sent_twice_is_stored_once(server: ServerProcess, pg_database: str, project: str) -> None:
    """A replayed batch (and one overlapping what the server has) changes nothing; a batch past the
    committed offset is refused with that offset."""
    url = f"{server.url}/api/v1/ingest/{project}/r1"
    meta = {"meta": {"set": {"id": "r1", "project": project, "state": "running", "created_at": 1.0}}}
    first = requests.post(url, data=_batch("w1", 0, range(0, 5), **meta), timeout=10)
    again = requests.post(url, data=_batch("w1", 0, range(0, 5), **meta), timeout=10)
    overlap = requests.post(url, data=_batch("w1", 3, range(3, 8)), timeout=10)
    gap = requests.post(url, data=_batch("w1", 20, range(20, 22)), timeout=10)
    assert [r.json()["offset"] for r in (first, again, overlap)] == [5, 5, 8]
    assert gap.status_code == 409 and gap.json()["error"]["offset"] == 8
    assert _values(_pg_rows(pg_database, project, "r1")) == [float(s) for s in range(8)]


def test_a_late_batch_of_document_changes_never_undoes_newer_ones(server: ServerProcess, project: str) -> None:
    """Batches are stamped when built: changes delivered after newer ones (a retry that overtook its
    original) are not merged over them."""
    url = f"{server.url}/api/v1/ingest/{project}/r3"
    meta = {"set": {"id": "r3", "project": project, "state": "running"}}
    newer = {"writer": "w", "offset": 0, "rows": [], "stamp": 20.0, "meta": meta, "summary": {"set": {"loss": 0.1}}}
    older = {"writer": "w", "offset": 0, "rows": [], "stamp": 10.0, "summary": {"set": {"loss": 0.9, "acc": 0.5}}}
    assert requests.post(url, json=newer, timeout=10).status_code == 200
    assert requests.post(url, json=older, timeout=10).status_code == 200
    summary = trackkit.Api(store=server.url).run(f"{project}/r3").summary
    assert summary["loss"] == 0.1 and "acc" not in summary


def test_a_second_writer_of_a_run_gets_409(server: ServerProcess, project: str) -> None:
    """The first writer id holds the run's lease; another writer's batch is refused and not stored."""
    url = f"{server.url}/api/v1/ingest/{project}/r2"
    assert requests.post(url, data=_batch("writer-a", 0, range(3)), timeout=10).status_code == 200
    other = requests.post(url, data=_batch("writer-b", 0, range(10)), timeout=10)
    assert other.status_code == 409 and other.json()["error"]["code"] == "run_in_use"
    assert requests.get(url, timeout=10).json() == {"offset": 3, "system_offset": 0, "writer": "writer-a"}
    paths = requests.get(f"{server.url}/api/v1/openapi.json", timeout=10).json()["paths"]
    assert {"/api/v1/ingest/{project}/{run}", "/api/v1/upload/{project}/{run}/{name}", "/api/v1/edit/{project}/{run}"} <= set(paths)


def test_server_edits_survive_the_writers_later_batches(server: ServerProcess, project: str) -> None:
    """Tags edited on the server while the run is live stay: the sender ships changes, not documents."""
    with trackkit.init(project=project, store=server.url, tags=["a"]) as run:
        run.log({"loss": 1.0})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                trackkit.Api(store=server.url).run(f"{project}/{run.id}")
                break
            except trackkit.RunNotFoundError:
                time.sleep(0.1)
        requests.patch(f"{server.url}/api/v1/projects/{project}/runs/{run.id}", json={"notes": "from the UI"},
                       timeout=10).raise_for_status()
        run.log({"loss": 0.5})
        run.summary["extra"] = 1
    remote = trackkit.Api(store=server.url).run(f"{project}/{run.id}")
    assert remote.notes == "from the UI" and remote.summary["extra"] == 1 and remote.state == "finished"


def test_a_run_resumed_on_another_machine_continues_from_the_server(server: ServerProcess, project: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A preempted job restarted on a node without its spool: init(resume=...) copies the run from
    the server, the steps and summary continue, and the server ends with every row once, in order."""
    with trackkit.init(project=project, id="moved", store=server.url, config={"lr": 0.1}) as run:
        for step in range(50):
            run.log({"loss": float(step)})
        run.log({"loss": math.nan, "partial": 1.0}, step=50, commit=False)  # a checkpointed row, then its completion
        run.log({"acc": 0.5}, step=50)
    monkeypatch.setenv("TRACKKIT_DIR", str(tmp_path / "other-node"))
    with trackkit.init(project=project, id="moved", resume="must", store=server.url) as run:
        assert run.step == 51 and run.config["lr"] == 0.1
        for step in range(51, 60):
            run.log({"loss": float(step)})
    rows = list(trackkit.Api(store=server.url).store.scan_history(project, "moved"))
    assert [row["_step"] for row in rows] == list(range(60))
    assert rows[50]["acc"] == 0.5 and math.isnan(rows[50]["loss"])
    remote = trackkit.Api(store=server.url).run(f"{project}/moved")
    assert remote.state == "finished" and remote.summary["loss"] == 59.0


def test_resuming_without_spool_or_server_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No spool here and no server answering: init says so within TRACKKIT_INIT_TIMEOUT instead of
    starting the run over."""
    monkeypatch.setenv("TRACKKIT_INIT_TIMEOUT", "1")
    with pytest.raises(trackkit.UsageError, match="cannot resume run p/gone"):
        trackkit.init(project="p", id="gone", resume="must", store="http://127.0.0.1:9")


def test_api_edits_and_deletes_runs_on_the_server(server: ServerProcess, project: str) -> None:
    """ApiRun.update() and delete() over the server act as over a local store."""
    with trackkit.init(project=project, store=server.url, config={"lr": 0.1}) as run:
        run.log({"loss": 1.0})
    remote = trackkit.Api(store=server.url).run(f"{project}/{run.id}")
    remote.config["lr"] = 0.2
    remote.summary["note"] = "best"
    remote.tags = ["keep"]
    remote.update()
    again = trackkit.Api(store=server.url).run(f"{project}/{run.id}")
    assert (again.config["lr"], again.summary["note"], again.tags, again.provenance["lr"]) == (0.2, "best", ["keep"], "api")
    again.delete()
    with pytest.raises(trackkit.RunNotFoundError):
        trackkit.Api(store=server.url).run(f"{project}/{run.id}")


_TRAIN = """
import os, sys, time, trackkit
run = trackkit.init(project=sys.argv[1], id=sys.argv[2], store=sys.argv[3])
for step in range(int(sys.argv[4])):
    run.log({"loss": float(step)})
    if sys.argv[5] == "pace":
        time.sleep(0.002)
if sys.argv[5] == "die":
    run.flush()
    time.sleep(float(sys.argv[6]))
    os.kill(os.getpid(), 9)
run.finish()
"""


def _train(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(_TRAIN))
    return subprocess.Popen([sys.executable, str(script), *args], env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_server_killed_and_restarted_mid_run_loses_and_duplicates_nothing(
        pg_database: str, project: str, tmp_path: Path) -> None:
    """kill -9 of the server while a run is logging: training goes on, the sender catches up after the
    restart, and every row is on the server exactly once, in order; the run ends finished."""
    server = ServerProcess(url_of(pg_database), log=tmp_path / "server.log").start()
    try:
        training = _train(tmp_path, project, "killed-server", server.url, "1500", "pace")
        time.sleep(1.5)
        server.kill()
        time.sleep(1.0)
        server.start()
        out, err = training.communicate(timeout=90)
        assert training.returncode == 0, err
        api = trackkit.Api(store=server.url)
        assert _values(list(api.store.scan_history(project, "killed-server"))) == [float(s) for s in range(1500)]
        assert _values(_pg_rows(pg_database, project, "killed-server")) == [float(s) for s in range(1500)]
        assert api.run(f"{project}/killed-server").state == "finished"
    finally:
        server.stop()


def test_a_local_store_server_killed_mid_run_keeps_every_row_once(project: str, tmp_path: Path) -> None:
    """The embedded server (a directory, no database) killed with -9 while a run logs: on restart it
    cuts off rows it appended but never committed, and the sender's resend puts them back once."""
    root = tmp_path / "served"
    server = ServerProcess(str(root), log=tmp_path / "server.log").start()
    try:
        training = _train(tmp_path, project, "killed-local", server.url, "1500", "pace")
        time.sleep(1.5)
        server.kill()
        time.sleep(0.5)
        server.start()
        out, err = training.communicate(timeout=90)
        assert training.returncode == 0, err
        served = trackkit.Api(dir=str(root)).run(f"{project}/killed-local")
        assert _values(list(served.scan_history())) == [float(s) for s in range(1500)]
        assert served.state == "finished"
    finally:
        server.stop()


def test_client_killed_mid_sync_then_trackkit_sync_sends_the_rest(
        server: ServerProcess, pg_database: str, project: str, tmp_path: Path) -> None:
    """A training process killed while its sender is behind: `trackkit sync` sends the rest once,
    and the run reads as crashed."""
    rows = 30_000  # killed right after the flush: the sender, which wakes on it, is still shipping them
    training = _train(tmp_path, project, "killed-client", server.url, str(rows), "die", "0")
    training.communicate(timeout=90)
    assert training.returncode == -signal.SIGKILL
    time.sleep(1.0)  # a batch the killed client had in flight may still commit
    before = len(_pg_rows(pg_database, project, "killed-client"))
    assert before < rows
    synced = subprocess.run([sys.executable, "-m", "trackkit", "sync", f"{project}/killed-client", "--store", server.url],
                            capture_output=True, text=True, timeout=120)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert f"{rows - before} row(s) sent" in synced.stdout
    assert _values(_pg_rows(pg_database, project, "killed-client")) == [float(s) for s in range(rows)]
    assert trackkit.Api(store=server.url).run(f"{project}/killed-client").state == "crashed"
    again = subprocess.run([sys.executable, "-m", "trackkit", "sync", "--project", project, "--store", server.url],
                           capture_output=True, text=True, timeout=120, check=True)
    assert "0 row(s) sent" in again.stdout and len(_pg_rows(pg_database, project, "killed-client")) == rows


def test_offline_runs_and_a_down_server_wait_in_the_spool_for_sync(
        server: ServerProcess, pg_database: str, project: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """mode="offline" sends nothing; a server that is down never slows log() and finish() says what is
    left; `trackkit sync --all` sends both runs."""
    with trackkit.init(project=project, store=server.url, mode="offline") as offline:
        offline.log({"loss": 1.0})
    monkeypatch.setenv("TRACKKIT_SYNC_TIMEOUT", "1")
    down = "http://127.0.0.1:9"  # nothing listens on the discard port
    with trackkit.init(project=project, store=down) as unsent:
        started = time.perf_counter()
        for step in range(2000):
            unsent.log({"loss": float(step)})
        assert time.perf_counter() - started < 5
    err = capsys.readouterr().err
    assert "2000 row(s)" in err and "trackkit sync" in err
    api = trackkit.Api(store=server.url)
    assert project not in api.store.projects()
    synced = subprocess.run([sys.executable, "-m", "trackkit", "sync", "--all", "--store", server.url],
                            capture_output=True, text=True, timeout=120)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert api.run(f"{project}/{offline.id}").state == "finished"
    assert _values(list(api.store.scan_history(project, unsent.id))) == [float(s) for s in range(2000)]


# -- auth ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def auth_server(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A server over a database of its own with a write, a read-only and a revoked token."""
    from trackkit.server.migrate import migrate

    conninfo = make_database()
    migrate(conninfo)
    from trackkit.server.auth import PostgresTokens

    out = subprocess.run([sys.executable, "-m", "trackkit", "server", "token", "create", "writer", "--store", url_of(conninfo)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    tokens = {"writer": out.strip().splitlines()[1]}
    in_process = PostgresTokens(conninfo)
    tokens["reader"] = in_process.create("reader", read_only=True)
    tokens["gone"] = in_process.create("gone")
    assert in_process.revoke("gone") and not in_process.revoke("gone")
    listed = subprocess.run([sys.executable, "-m", "trackkit", "server", "token", "list", "--store", url_of(conninfo)],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert listed.split() == ["reader", "read-only", "writer", "read-write"]
    process = ServerProcess(url_of(conninfo), log=tmp_path_factory.mktemp("auth-log") / "server.log").start()
    yield process, tokens
    process.stop()


def test_tokens_decide_who_reads_and_writes(auth_server: tuple[ServerProcess, dict[str, str]]) -> None:
    """No, unknown or revoked token: 401; read-only writing: 403; nothing stored; a write token's
    name is the run's author."""
    server, tokens = auth_server
    url = f"{server.url}/api/v1/ingest/authp/r1"
    meta = {"meta": {"set": {"id": "r1", "project": "authp", "state": "running", "author": "someone-else"}}}
    header = lambda name: {"Authorization": f"Bearer {tokens[name]}"}  # noqa: E731
    assert requests.post(url, data=_batch("w", 0, range(2), **meta), timeout=10).status_code == 401
    assert requests.post(url, data=_batch("w", 0, range(2), **meta), headers=header("gone"), timeout=10).status_code == 401
    assert requests.post(url, data=_batch("w", 0, range(2), **meta), headers={"Authorization": "Bearer tk_nope"},
                         timeout=10).status_code == 401
    assert requests.post(url, data=_batch("w", 0, range(2), **meta), headers=header("reader"), timeout=10).status_code == 403
    assert requests.get(f"{server.url}/api/v1/projects", headers=header("reader"), timeout=10).json() == {"projects": []}
    assert requests.get(f"{server.url}/api/v1/projects", timeout=10).status_code == 401
    edit = {"summary": {"set": {"x": 1}}}
    assert requests.post(f"{server.url}/api/v1/edit/authp/r1", json=edit, headers=header("reader"), timeout=10).status_code == 403
    assert requests.delete(f"{server.url}/api/v1/edit/authp/r1", headers=header("reader"), timeout=10).status_code == 403
    assert requests.post(url, data=_batch("w", 0, range(2), **meta), headers=header("writer"), timeout=10).json()["offset"] == 2
    run = requests.get(f"{server.url}/api/v1/projects/authp/runs/r1", headers=header("reader"), timeout=10).json()
    assert run["meta"]["author"] == "writer"


def test_a_script_with_trackkit_api_key_logs_to_an_authenticated_server(
        auth_server: tuple[ServerProcess, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACKKIT_API_KEY is all a training script needs."""
    server, tokens = auth_server
    monkeypatch.setenv("TRACKKIT_API_KEY", tokens["writer"])
    with trackkit.init(project="authp", store=server.url) as run:
        run.log({"loss": 1.0})
    assert trackkit.Api(store=server.url).run(f"authp/{run.id}").summary["loss"] == 1.0


# -- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("POST", "/api/v1/ingest/p/r", b"{not json", 400),
    ("POST", "/api/v1/ingest/p/r", b'{"writer": "w", "offset": "zero", "rows": []}', 400),
    ("POST", "/api/v1/ingest/p/r", b'{"writer": "w", "offset": 0, "rows": [1, 2]}', 400),
    ("POST", "/api/v1/ingest/p/r", b'{"writer": "../w", "offset": 0, "rows": []}', 400),
    ("POST", "/api/v1/ingest/p/r", b'{"writer": "w", "offset": 0, "config": {"set": {"a..b": 1}}}', 400),
    ("POST", "/api/v1/ingest/%2E%2E/r", b'{"writer": "w", "offset": 0, "rows": [{"x": 1}]}', 400),
    ("POST", "/api/v1/ingest/p/%2E%2E", b'{"writer": "w", "offset": 0, "rows": [{"x": 1}]}', 400),
    ("POST", "/api/v1/ingest/p/r", b'{"writer": "w", "offset": 0, "rows": [' + b'{"x": 1},' * 1_200_000 + b'{}]}', 413),
    ("GET", '/api/v1/runs?filters={"config.lr": {"$where": "1"}}', None, 400),
    ("GET", "/api/v1/projects/p'; DROP TABLE runs; --/runs", None, 200),
])
def test_bad_input_gets_its_4xx_and_the_server_stays_up(server: ServerProcess, pg_database: str,
                                                        method: str, path: str, body: bytes | None, status: int) -> None:
    """Malformed JSON, wrong types, traversal in names, oversized bodies, unknown filter operators and
    SQL-looking names: each answered as it should be, nothing stored, the server still answering."""
    import psycopg

    stored = "SELECT count(*) FROM runs WHERE (project = 'p' AND run_id = 'r') OR project = '..' OR run_id = '..'"
    with psycopg.connect(pg_database) as conn:
        before = conn.execute(stored).fetchone()[0]  # other tests of the session may have left runs in 'p'
    response = requests.request(method, server.url + path, data=body, timeout=30)
    assert response.status_code == status, response.text
    if status >= 400:
        assert "error" in response.json()
    assert server.alive()
    with psycopg.connect(pg_database) as conn:
        assert conn.execute(stored).fetchone()[0] == before


# -- the embedded default: the local store ------------------------------------------------------------
def test_the_server_over_a_local_store_takes_runs_and_tokens(tmp_path: Path, project: str) -> None:
    """`trackkit server` with no --store serves a directory; tokens go to a dot-file in it."""
    root = tmp_path / "served"
    out = subprocess.run([sys.executable, "-m", "trackkit", "server", "token", "create", "me", "--store", str(root)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    token = out.strip().splitlines()[1]
    assert (root / ".trackkit-tokens.json").exists() and token not in (root / ".trackkit-tokens.json").read_text()
    server = ServerProcess(str(root), log=tmp_path / "server.log").start()
    try:
        os.environ["TRACKKIT_API_KEY"] = token
        try:
            with trackkit.init(project=project, store=server.url, config={"lr": 0.1}) as run:
                for step in range(50):
                    run.log({"loss": float(step)})
            remote = trackkit.Api(store=server.url).run(f"{project}/{run.id}")
        finally:
            del os.environ["TRACKKIT_API_KEY"]
        assert remote.state == "finished" and remote.config == {"lr": 0.1} and remote.metadata["author"] == "me"
        assert _values(list(trackkit.Api(dir=str(root)).run(f"{project}/{run.id}").scan_history())) == [float(s) for s in range(50)]
        assert trackkit.Api(dir=str(root)).projects()[0].name == project  # the token file is not a project
    finally:
        server.stop()


def test_a_public_address_without_tokens_is_refused(tmp_path: Path) -> None:
    """Binding beyond loopback with no token fails unless --insecure, which warns."""
    refused = subprocess.run([sys.executable, "-m", "trackkit", "server", "--store", str(tmp_path / "s"), "--host", "0.0.0.0"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--insecure" in refused.stderr
    log = tmp_path / "insecure.log"
    server = ServerProcess(str(tmp_path / "s"), log=log, extra=("--host", "0.0.0.0", "--insecure")).start()
    try:
        assert "WARNING" in log.read_text() and "no API token" in log.read_text()
    finally:
        server.stop()
