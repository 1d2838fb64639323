"""The HTTP leg failing: a server answering 500s, dropping connections after committing, or taking
longer than the client waits (a fault-injecting proxy in front of a real ``trackkit server``); and two
server replicas over one PostgreSQL database behind a proxy that alternates between them.

In every case every row logged is in PostgreSQL exactly once, in order, and the run ends finished."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fault_proxy import HttpProxy
from faults_common import finish_training, pg_losses, pg_url, start_training
from server_process import ServerProcess

import trackkit

STEPS, RATE = 3_000, 200.0


@pytest.fixture(scope="module")
def server(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(pg_url(pg_database), log=tmp_path_factory.mktemp("faults-http") / "server.log").start()
    yield process
    process.stop()


def _ingest(method: str, path: str) -> bool:
    return method == "POST" and "/api/v1/ingest/" in path


def test_500s_dropped_answers_and_timeouts_neither_lose_nor_duplicate_rows(
        server: ServerProcess, pg_database: str, project: str, tmp_path: Path) -> None:
    """Of the sender's batches, one in six is answered 500 without reaching the server, one in six
    reaches it and is answered 500 anyway, one in six reaches it and the connection drops before the
    answer, and two are held past the client's timeout and delivered after its retry. The run's rows
    arrive once, in order; log() never waits; the run reads finished with its summary."""
    lock = threading.Lock()
    seen = {"ingest": 0, "held": 0}

    def fault(number: int, method: str, path: str) -> str:
        if not _ingest(method, path):
            return "pass"
        with lock:
            seen["ingest"] += 1
            n = seen["ingest"]
            if n in (4, 12):
                seen["held"] += 1
                return "hold:3.5"
        return {1: "500", 3: "500-after", 5: "drop-after"}.get(n % 6, "pass")

    proxy = HttpProxy([server.port], fault)
    try:
        training = start_training(tmp_path, project, "faulty", proxy.url, str(STEPS), str(RATE), "2.0")
        figures, err = finish_training(training)
    finally:
        proxy.stop()
    assert proxy.injected[500] >= 3 and seen["held"] == 2, (proxy.injected, seen)
    assert figures["slowest_log_s"] < 1.0 and figures["loop_s"] < figures["nominal_s"] + 3.0, figures
    assert "not sent" not in err, err
    assert pg_losses(pg_database, project, "faulty") == [float(step) for step in range(STEPS)]
    remote = trackkit.Api(store=server.url).run(f"{project}/faulty")
    assert remote.state == "finished"
    assert remote.summary["loss"] == float(STEPS - 1) and remote.summary["done"] is True
    assert remote.config == {"lr": 0.1, "steps": STEPS}


def test_a_stale_batch_arriving_after_newer_ones_changes_nothing(server: ServerProcess, pg_database: str,
                                                                 project: str) -> None:
    """A batch delivered late (after the client timed out and sent it again, then more) is a replay:
    neither its rows nor its document changes undo what the newer batches committed."""
    url = f"{server.url}/api/v1/ingest/{project}/late"

    def batch(offset: int, steps: range, loss: float, state: str) -> bytes:
        return json.dumps({"writer": "w1", "offset": offset, "rows": [{"loss": float(s), "_step": s} for s in steps],
                           "meta": {"set": {"id": "late", "project": project, "state": state}},
                           "summary": {"set": {"loss": loss}, "delete": []}}).encode()

    first = batch(0, range(0, 5), 4.0, "running")
    assert requests.post(url, data=first, timeout=10).json() == {"offset": 5}
    assert requests.post(url, data=batch(5, range(5, 10), 9.0, "finished"), timeout=10).json() == {"offset": 10}
    assert requests.post(url, data=first, timeout=10).json() == {"offset": 10}  # the late delivery
    remote = trackkit.Api(store=server.url).run(f"{project}/late")
    assert pg_losses(pg_database, project, "late") == [float(s) for s in range(10)]
    assert remote.summary["loss"] == 9.0 and remote.state == "finished"


@pytest.fixture
def replicas(pg_database: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two servers over the same database (each migrates at start-up, under the advisory lock)."""
    servers = [ServerProcess(pg_url(pg_database), log=tmp_path / f"replica{i}.log") for i in range(2)]
    started: list[ServerProcess] = []
    try:
        for process in servers:
            started.append(process.start())
        yield servers
    finally:
        for process in started:
            process.stop()


def test_two_replicas_taken_in_turn_store_every_row_once_in_order(
        replicas: list[ServerProcess], pg_database: str, project: str, tmp_path: Path) -> None:
    """Two training processes log through a proxy that sends each request to the other replica:
    both replicas take batches of both runs, and each run's rows are in PostgreSQL once, in order."""
    proxy = HttpProxy([process.port for process in replicas])
    try:
        trainings = [start_training(tmp_path / name, project, name, proxy.url, str(STEPS), str(RATE))
                     for name in ("left", "right") if (tmp_path / name).mkdir() is None]
        results = [finish_training(training) for training in trainings]
        api = trackkit.Api(store=proxy.url)
        remote = {name: api.run(f"{project}/{name}") for name in ("left", "right")}
        listed = sorted(run.id for run in api.runs(project))
    finally:
        proxy.stop()
    assert all(count > 5 for count in proxy.by_upstream.values()) and len(proxy.by_upstream) == 2, proxy.by_upstream
    assert set(proxy.statuses) <= {200, 404}, proxy.statuses  # 404: a run asked about before its first batch
    for (figures, err), name in zip(results, ("left", "right")):
        assert "not sent" not in err, err
        assert figures["slowest_log_s"] < 1.0, figures
        assert pg_losses(pg_database, project, name) == [float(step) for step in range(STEPS)]
        assert remote[name].state == "finished" and remote[name].summary["loss"] == float(STEPS - 1)
    assert listed == ["left", "right"]
