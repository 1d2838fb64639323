"""What the fault tests share: a paced training script run as its own process, and checks of what
reached PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

#: A training loop at a fixed rate: step i is logged at t0 + i / rate (so a loop held up by the
#: tracker shows as a late finish). Prints the slowest log() call and the loop's wall time.
#: argv: project run_id store steps rate [client timeout seconds]
TRAIN = """
import json, math, os, sys, time
if len(sys.argv) > 6:  # a short client timeout, so that a held request times out in seconds, not 30
    from trackkit._http_store import HttpClient
    HttpClient.__init__.__defaults__ = (None, (2.0, float(sys.argv[6])))
import trackkit
project, run_id, store, steps, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
run = trackkit.init(project=project, id=run_id, store=store, config={"lr": 0.1, "steps": steps})
slowest, t0 = 0.0, time.perf_counter()
for step in range(steps):
    wait = t0 + step / rate - time.perf_counter()
    if wait > 0:
        time.sleep(wait)
    started = time.perf_counter()
    run.log({"loss": float(step), "acc": step / steps, "lr": 0.1 * 0.999 ** step})
    slowest = max(slowest, time.perf_counter() - started)
loop = time.perf_counter() - t0
run.summary["done"] = True
run.finish()
print(json.dumps({"slowest_log_s": slowest, "loop_s": loop, "nominal_s": steps / rate}))
"""


def start_training(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The training script as a child process (stdout: its JSON line at the end)."""
    script = tmp_path / "train_paced.py"
    script.write_text(textwrap.dedent(TRAIN))
    child_env = {**os.environ, "TRACKKIT_SYNC_TIMEOUT": "120", "TRACKKIT_SILENT": "1", **(env or {})}
    return subprocess.Popen([sys.executable, str(script), *args], env=child_env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_training(training: subprocess.Popen[str], timeout: float = 240) -> tuple[dict[str, Any], str]:
    """Wait for the script; its figures and its stderr."""
    out, err = training.communicate(timeout=timeout)
    assert training.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), err


def pg_url(conninfo: str, port: int | None = None) -> str:
    """A libpq connection string as a postgresql:// URL, optionally through another port (a proxy)."""
    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(conninfo)
    return (f"postgresql://{p.get('user', 'postgres')}@{p.get('host', '127.0.0.1')}:{port or p.get('port', 5432)}"
            f"/{p['dbname']}")


def pg_losses(conninfo: str, project: str, run_id: str) -> list[float]:
    """The ``loss`` of every stored (not dropped) row of a run, in sequence order."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT h.data::text FROM history_rows h JOIN runs r ON r.pk = h.run_pk "
                            "WHERE r.project = %s AND r.run_id = %s AND NOT h.dropped ORDER BY h.seq",
                            (project, run_id)).fetchall()
    return [json.loads(text).get("loss") for (text,) in rows]
