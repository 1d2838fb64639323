"""Load: 8 client processes x 20,000 steps x 10 scalars, logging as fast as they can, against one
``trackkit server --workers 2`` over PostgreSQL. Nothing lost, nothing duplicated, no 5xx.

Each client counts every answer its sender got, by status code (a wrapper around
``requests.Session.request`` in the client process), and any request that got no answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_common import pg_url
from server_process import ServerProcess

CLIENTS = int(os.environ.get("TRACKKIT_LOAD_CLIENTS", 8))
STEPS = int(os.environ.get("TRACKKIT_LOAD_STEPS", 20_000))
KEYS = [f"m{index}" for index in range(10)]

CLIENT = """
import collections, json, sys, time
import requests
answers = collections.Counter()
_request = requests.Session.request
def counted(self, method, url, *args, **kwargs):
    try:
        response = _request(self, method, url, *args, **kwargs)
    except Exception as error:
        answers[f"{type(error).__name__}: {method} {url.rsplit('/api/v1', 1)[-1]}: {str(error)[-160:]}"] += 1
        raise
    answers[str(response.status_code)] += 1
    return response
requests.Session.request = counted
import trackkit
project, run_id, store, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
keys = [f"m{i}" for i in range(10)]
run = trackkit.init(project=project, id=run_id, store=store)
started = time.perf_counter()
for step in range(steps):
    run.log({key: step + i / 10 for i, key in enumerate(keys)})
logged = time.perf_counter() - started
run.finish()
print(json.dumps({"answers": answers, "log_s": logged, "total_s": time.perf_counter() - started}))
"""


def _damage(steps: list[int]) -> str:
    """What is wrong with a run's steps: duplicated, missing, the first out of order."""
    seen = Counter(steps)
    twice = sorted(step for step, count in seen.items() if count > 1)
    missing = sorted(set(range(STEPS)) - set(seen))
    first = next((i for i, step in enumerate(steps) if step != i), None)
    return (f"{len(steps)} rows; duplicated {len(twice)} (from {twice[:1]} to {twice[-1:]}), missing {len(missing)} "
            f"{missing[:3]}; first out of place at row {first}: {steps[first - 2:first + 3] if first else ''}")


@pytest.fixture
def server(make_database, tmp_path: Path) -> Iterator[ServerProcess]:
    from trackkit.server.migrate import migrate

    conninfo = make_database()
    migrate(conninfo)
    process = ServerProcess(pg_url(conninfo), log=tmp_path / "server.log", extra=("--workers", "2")).start(timeout=60)
    process.conninfo = conninfo  # type: ignore[attr-defined]
    yield process
    process.stop()


@pytest.mark.slow
def test_8_clients_x_20000_steps_x_10_scalars_arrive_whole_with_no_5xx(server: ServerProcess, project: str,
                                                                       tmp_path: Path) -> None:
    """Every client's 20,000 rows are in PostgreSQL once, in order, with all 10 values (a row the writer
    saved early as a checkpoint is stored and marked dropped once its complete row arrives, as readers
    see it); no client saw a 5xx or a request without an answer; every run is finished."""
    import psycopg

    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent(CLIENT))
    env = {**os.environ, "TRACKKIT_SILENT": "1", "TRACKKIT_SYNC_TIMEOUT": "600", "TRACKKIT_DIR": str(tmp_path / "spool")}
    started = time.monotonic()
    clients = [subprocess.Popen([sys.executable, str(script), project, f"load-{index}", server.url, str(STEPS)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for index in range(CLIENTS)]
    results = []
    for client in clients:
        out, err = client.communicate(timeout=900)
        assert client.returncode == 0, err
        assert "not sent" not in err, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = time.monotonic() - started
    answers: Counter[str] = Counter()
    for result in results:
        answers.update(result["answers"])
    assert not [code for code in answers if not code.isdigit() or code.startswith("5")], dict(answers)
    with psycopg.connect(server.conninfo) as conn:  # type: ignore[attr-defined]
        for index in range(CLIENTS):
            rows = conn.execute(
                "SELECT h.seq, h.step, h.data::text FROM history_rows h JOIN runs r ON r.pk = h.run_pk "
                "WHERE r.project = %s AND r.run_id = %s AND NOT h.dropped ORDER BY h.seq", (project, f"load-{index}")).fetchall()
            steps = [step for _, step, _ in rows]
            assert steps == list(range(STEPS)), f"load-{index}: {_damage(steps)}"
            for _, step, text in rows[:: max(1, STEPS // 100)]:
                row = json.loads(text)
                assert [row[key] for key in KEYS] == [step + i / 10 for i in range(10)]
        states = conn.execute("SELECT run_id, meta->>'state' FROM runs WHERE project = %s ORDER BY run_id",
                              (project,)).fetchall()
    assert states == [(f"load-{index}", "finished") for index in range(CLIENTS)]
    print(f"\nload: {CLIENTS} clients x {STEPS} steps x 10 scalars in {elapsed:.1f} s; answers {dict(answers)}")
