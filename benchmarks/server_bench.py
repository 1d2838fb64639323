"""The tracking server over PostgreSQL, and MLflow's tracking server over PostgreSQL, side by side.

    python benchmarks/server_bench.py [--quick] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
                                      [--mlflow-python /path/to/python-with-mlflow]
    python benchmarks/run.py --server ...   (the same, as a section of `tox -e bench`)

trackkit alone, at its own targets (issue 11), against ``trackkit server --workers 2``:
- ingest: 8 client processes log 20,000 steps x 10 scalars each as fast as they can; scalar points per
  second from the first log() until PostgreSQL holds every row;
- lag: 8 clients at 100 steps/s x 10 scalars for 30 s; for every row, the time from its log() call to
  the first poll (every 0.1 s, through ``Api``'s store: each run's history keys, asked for all runs at
  once; ``--lag-serial-poll`` asks one run after another) that sees it; p50/p95/max (target p95 <= 2 s).
  ``--only lag --lag-seconds S`` measures it alone;
- log() cost in the caller with ``store="http://..."`` and with a local store (20,000 steps x 10 scalars);
- chart query: one metric of 100 runs x 100,000 steps, 1,000 min/max buckets per run, from PostgreSQL
  in one pass (``PostgresStore.sample_history_many``, and through the server: ``POST /api/v1/sample`` with
  the columns a chart draws, as the UI asks) (target <= 300 ms);
- runs query: 10,000 runs, one config filter, a summary sort, the first page of 100 (target <= 100 ms).
The chart and runs data are loaded directly through ``PostgresStore`` (the ingest path is measured above).

Against MLflow (``mlflow server --backend-store-uri postgresql+psycopg://...``, MLflow's recommended
team setup), at the round-2 decisions' scale, each through its own HTTP API: the runs query over 1,000
runs, the chart query over 10 runs x 10,000 steps (MLflow: every point by ``get_metric_history``, and
its UI's sampled ``get-history-bulk-interval``), and the ingest rate of 8 clients (MLflow's
``log_batch`` of 1,000 metrics, for a fixed time). Ratios are MLflow's time over trackkit's.

Each PostgreSQL database is created with a random name and dropped at the end. Prints Markdown and
writes ``results/server-latest.json`` (``server-latest-quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from server_bench_roles import ROLES, _timed  # noqa: E402

RESULTS = os.path.join(HERE, "results")


# -- plumbing --------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _with_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in: {text[-500:]}")


def _children(commands: list[list[str]], env: dict[str, str], timeout: float = 1800) -> list[dict[str, Any]]:
    processes = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in commands]
    out = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=timeout)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(process.args[1:4])} failed: {stderr[-1500:]}")  # type: ignore[index]
        out.append(_last_json(stdout))
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Databases:
    """Fresh databases with random names on one PostgreSQL server, dropped by ``drop_all``."""

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self.admin_url = admin_url
        self.admin = psycopg.connect(admin_url, autocommit=True)
        self.names: list[str] = []

    def make(self, migrate: bool = True) -> str:
        name = f"trackkit_sbench_{uuid.uuid4().hex[:10]}"
        self.admin.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        url = _with_db(self.admin_url, name)
        if migrate:
            from trackkit.server.migrate import migrate as apply

            apply(url)
        return url

    def unlogged(self, url: str, tables: tuple[str, ...]) -> None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            for table in tables:
                conn.execute(f"ALTER TABLE {table} SET UNLOGGED")

    def drop_all(self) -> None:
        for name in self.names:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.close()


def _trackkit_server(store_url: str, workdir: str, workers: int = 2) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    log = open(os.path.join(workdir, f"server-{port}.log"), "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen([sys.executable, "-m", "trackkit", "server", "--store", store_url, "--port", str(port),
                                "--workers", str(workers), "--no-ui", "--files-dir", os.path.join(workdir, "files")],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "TRACKKIT_SILENT": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/healthz", process, timeout=180)
    except RuntimeError as error:
        _stop(process)
        with open(log.name, errors="replace") as handle:
            raise RuntimeError(f"{error}; its log: {handle.read()[-1500:]}") from None
    return process, url


def _client_env(workdir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKKIT_")}
    return {**env, "TRACKKIT_SILENT": "1", "TRACKKIT_SYNC_TIMEOUT": "900", "TRACKKIT_DIR": os.path.join(workdir, "spool"),
            "OMP_NUM_THREADS": "1"}


def _role(role: str, python: str = sys.executable, **options: Any) -> list[str]:
    command = [python, os.path.abspath(__file__), "--role", role]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    return command


# -- the measurements (in the orchestrating process) ------------------------------------------------
def measure_ingest(url: str, conninfo: str, workdir: str, clients: int, steps: int) -> dict[str, Any]:
    """8 unpaced clients; points/s from their start until PostgreSQL has every row."""
    import psycopg

    project = "ingest"
    commands = [_role("ingest-client", project=project, run=f"i{index}", store=url, steps=steps) for index in range(clients)]
    env = _client_env(os.path.join(workdir, "ingest"))
    started = time.monotonic()
    processes = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in commands]
    expected = clients * steps
    committed = 0
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while committed < expected and time.monotonic() - started < 1800:
            time.sleep(0.1)
            committed = int(conn.execute("SELECT coalesce(sum(sync_offset), 0) FROM runs WHERE project = %s",
                                         (project,)).fetchone()[0])
    elapsed = time.monotonic() - started
    logs = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"ingest client failed: {err[-1500:]}")
        logs.append(_last_json(out)["log_s"])
    return {"clients": clients, "steps": steps, "points": expected * 10, "rows_committed": committed,
            "seconds": elapsed, "points_per_s": committed * 10 / elapsed, "client_log_loop_s_median": statistics.median(logs)}


def measure_lag(url: str, workdir: str, clients: int, rate: float, seconds: float, poll: float = 0.1,
                serial: bool = False) -> dict[str, Any]:
    """Paced clients; every row's time from log() to the first poll through Api's store that sees it
    (the time the poll's answer arrived: a slow poll counts against the lag)."""
    from trackkit import RunNotFoundError
    from trackkit._http_store import HttpStore

    project, steps = "lag", int(rate * seconds)
    env = _client_env(os.path.join(workdir, "lag"))
    times = [os.path.join(workdir, f"lag-times-{index}.json") for index in range(clients)]
    commands = [_role("paced-client", project=project, run=f"l{index}", store=url, steps=steps, rate=rate, times=times[index])
                for index in range(clients)]
    processes = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in commands]
    store = HttpStore(url)
    seen: list[list[tuple[float, int]]] = [[] for _ in range(clients)]
    counts = [0] * clients
    deadline = time.monotonic() + seconds + 300
    polls = 0
    poll_s: list[float] = []
    pool = ThreadPoolExecutor(clients)  # each run's keys asked at once (a session per thread), not one after another

    def visible(index: int) -> tuple[float, int]:
        """When the answer came, and how many rows of run ``index`` it says the server holds."""
        try:
            found = int(store.history_keys(project, f"l{index}").get("m0", {}).get("count", 0))
        except RunNotFoundError:
            found = 0
        return time.time(), found

    while min(counts) < steps and time.monotonic() < deadline:
        started = time.monotonic()
        todo = [index for index in range(clients) if counts[index] < steps]
        answers = list(map(visible, todo)) if serial else list(pool.map(visible, todo))
        poll_s.append(time.monotonic() - started)
        for index, (when, found) in zip(todo, answers):
            if found > counts[index]:
                counts[index] = found
                seen[index].append((when, found))
        polls += 1
        time.sleep(poll)
    pool.shutdown()
    for process in processes:
        _, err = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"paced client failed: {err[-1500:]}")
    lags: list[float] = []
    for index in range(clients):
        with open(times[index]) as handle:
            logged = json.load(handle)
        row = 0
        for when, count in seen[index]:
            while row < count and row < len(logged):
                lags.append(when - logged[row])
                row += 1
    return {"clients": clients, "rate": rate, "seconds": seconds, "rows": len(lags), "poll_s": poll,
            "p50_s": _pct(lags, 0.5), "p95_s": _pct(lags, 0.95), "max_s": max(lags), "polls": polls,
            "poll_request_s_median": statistics.median(poll_s), "poll": "serial" if serial else "concurrent",
            "load_avg_end": os.getloadavg()}


def measure_log_cost(url: str, workdir: str, steps: int, reps: int) -> dict[str, Any]:
    """log() in the caller: remote store vs local store, alternated, each in a fresh process."""
    out: dict[str, list[dict[str, Any]]] = {"remote": [], "local": []}
    for rep in range(reps):
        for kind in ("local", "remote"):
            store = url if kind == "remote" else os.path.join(workdir, f"local-{rep}")
            out[kind] += _children([_role("logcost-client", project="logcost", store=store, steps=steps)],
                                   _client_env(os.path.join(workdir, "logcost")))
    summary = {kind: {m: statistics.median(r[m] for r in results) for m in ("median_us", "p99_us", "mean_us")}
               for kind, results in out.items()}
    summary["ratio_median"] = summary["remote"]["median_us"] / summary["local"]["median_us"]
    summary["ratio_mean"] = summary["remote"]["mean_us"] / summary["local"]["mean_us"]
    summary["steps"], summary["reps"] = steps, reps
    return summary


def _load(conninfo: str, workdir: str, project: str, kind: str, count: int, steps: int, parallel: int) -> float:
    cuts = [count * part // parallel for part in range(parallel + 1)]
    started = time.perf_counter()
    _children([_role("load", store=conninfo, workdir=os.path.join(workdir, "files"), project=project, kind=kind,
                     first=cuts[part], last=cuts[part + 1], steps=steps) for part in range(parallel)],
              _client_env(workdir))
    return time.perf_counter() - started


def measure_queries(conninfo: str, url: str, project: str, runs: int, chart_runs: int, chart_steps: int) -> dict[str, Any]:
    """The chart query and the runs query, from PostgresStore directly and through the server."""
    from trackkit._http_store import HttpStore
    from trackkit.server.postgres_store import PostgresStore

    direct = PostgresStore(conninfo)
    remote = HttpStore(url)
    chart_ids = [f"c{index:03d}" for index in range(chart_runs)]
    out: dict[str, Any] = {"runs": runs, "chart_runs": chart_runs, "chart_steps": chart_steps}
    for name, store in (("pg", direct), ("http", remote)):
        buckets: list[int] = []

        def chart(store: Any = store, buckets: list[int] = buckets, name: str = name) -> None:
            pairs = [[project + "-chart", run_id] for run_id in chart_ids]
            if name == "pg":
                series = [found["loss"] for found in store.sample_history_many(pairs, ["loss"], samples=1000)]
            else:  # the chart's own request: every run at once, the columns it draws
                body = json.dumps({"runs": pairs, "keys": ["loss"], "samples": 1000, "fields": ["x", "last", "min", "max"]})
                series = [run["series"]["loss"] for run in store.client.request("POST", "/sample", data=body).json()["runs"]]
            buckets[:] = [sum(1 for value in s["max"] if value is not None) for s in series]

        page: list[Any] = []

        def runs_query(store: Any = store, page: list[Any] = page) -> None:
            found = store.query_runs(project + "-runs", filters={"config.optimizer": "adam"}, order="-summary.acc", limit=100)
            page[:] = [found["runs"], found["total"]]

        out[f"chart_{name}"] = {**_timed(chart, 3), "buckets_per_run": statistics.median(buckets) if buckets else 0}
        out[f"runs_{name}"] = {**_timed(runs_query, 5), "page": len(page[0]), "matched": page[1]}
    full: list[int] = []

    def chart_full() -> None:
        full[:] = [sum(1 for _ in remote.scan_history(project + "-chart", run_id, keys=["loss"])) for run_id in chart_ids]

    if chart_steps * chart_runs <= 200_000:
        out["chart_full_http"] = {**_timed(chart_full, 3), "points": sum(full)}
    direct.close()
    return out


def _mlflow_server(python: str, store_url: str, workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    mlflow = os.path.join(os.path.dirname(python), "mlflow")
    log = open(os.path.join(workdir, "mlflow-server.log"), "wb")  # noqa: SIM115 - lives as long as the server
    backend = store_url.replace("postgresql://", "postgresql+psycopg://", 1)
    process = subprocess.Popen([mlflow, "server", "--backend-store-uri", backend, "--default-artifact-root",
                                "file://" + os.path.join(workdir, "mlartifacts"), "--host", "127.0.0.1", "--port", str(port),
                                "--workers", "2"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    url = f"http://127.0.0.1:{port}"
    _wait_http(url + "/health", process, timeout=180)
    return process, url


def measure_mlflow(python: str, databases: Databases, workdir: str, runs: int, chart_runs: int, chart_steps: int,
                   clients: int, ingest_seconds: float) -> dict[str, Any]:
    """MLflow's server over PostgreSQL: built through its API (4 processes), then queried; and 8 clients'
    ``log_batch`` rate over ``ingest_seconds``."""
    import requests

    store_url = databases.make(migrate=False)
    process, url = _mlflow_server(python, store_url, workdir)
    try:
        for name in ("bench-runs", "bench-chart", "bench-ingest"):
            requests.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": name}, timeout=60).raise_for_status()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        started = time.perf_counter()
        cuts = [runs * part // 4 for part in range(5)]
        commands = [_role("mlflow-build", python, store=url, project="bench-runs", kind="runs", first=cuts[p], last=cuts[p + 1])
                    for p in range(4)]
        commands += [_role("mlflow-build", python, store=url, project="bench-chart", kind="chart", first=p, last=p + 1,
                           steps=chart_steps) for p in range(chart_runs)]
        for first in range(0, len(commands), 4):
            _children(commands[first:first + 4], env)
        build_s = time.perf_counter() - started
        measured = _children([_role("mlflow-measure", python, store=url, project="bench")], env)[0]
        ingest = _children([_role("mlflow-ingest", python, store=url, project="bench-ingest", seconds=ingest_seconds)
                            for _ in range(clients)], env)
        points = sum(r["points"] for r in ingest)
        measured["ingest"] = {"clients": clients, "points": points, "seconds": ingest_seconds,
                              "points_per_s": points / max(r["seconds"] for r in ingest)}
        measured["build_s"] = build_s
        version = subprocess.run([python, "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True,
                                 text=True, timeout=120).stdout.strip()
        measured["version"] = version
        return measured
    finally:
        _stop(process)


def _mlflow_python(given: str | None) -> str | None:
    for python in ([given] if given else [sys.executable]):
        if python and subprocess.run([python, "-c", "import mlflow"], capture_output=True, timeout=120).returncode == 0:
            return python
    return None


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of the module docstring; the JSON document of results."""
    quick = args.quick
    wanted = set(filter(None, args.only.split(","))) or {"ingest", "lag", "logcost", "queries", "mlflow"}
    clients = 8
    ingest_steps = 5_000 if quick else 20_000
    lag_seconds = args.lag_seconds or (10.0 if quick else 30.0)
    runs, chart_runs, chart_steps = (1_000, 10, 100_000) if quick else (10_000, 100, 100_000)
    workdir = tempfile.mkdtemp(prefix="trackkit-server-bench-")
    databases = Databases(args.pg)
    path = os.path.join(args.out, "server-latest-quick.json" if quick else "server-latest.json")
    result: dict[str, Any] = {}
    if args.only and os.path.exists(path):  # a partial run updates its sections of the last full document
        with open(path) as handle:
            result = json.load(handle)
    result.update({"mode": "quick" if quick else "full", "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "command": "python benchmarks/server_bench.py " + " ".join(sys.argv[1:]), "cores": os.cpu_count(),
                   "load_avg_start": os.getloadavg()})
    servers: list[subprocess.Popen[bytes]] = []
    try:
        if wanted & {"ingest", "lag", "logcost"}:
            conninfo = databases.make()
            server, url = _trackkit_server(conninfo, workdir)
            servers.append(server)
            if "ingest" in wanted:
                print("[server-bench] ingest ...", file=sys.stderr, flush=True)
                result["ingest"] = measure_ingest(url, conninfo, workdir, clients, ingest_steps)
            if "lag" in wanted:
                print("[server-bench] lag ...", file=sys.stderr, flush=True)
                result["lag"] = measure_lag(url, workdir, clients, 100.0, lag_seconds, serial=args.lag_serial_poll)
            if "logcost" in wanted:
                print("[server-bench] log() cost ...", file=sys.stderr, flush=True)
                result["log_cost"] = measure_log_cost(url, workdir, 20_000, 1 if quick else 3)
        python = None if args.no_mlflow or "mlflow" not in wanted else _mlflow_python(args.mlflow_python)
        if "queries" in wanted or "peer" in wanted or python:
            # a database of its own, whose history tables skip the WAL: loading 10 million rows on a busy
            # machine otherwise takes most of an hour (reads are the same for logged and unlogged tables)
            conninfo = databases.make()
            databases.unlogged(conninfo, ("history_points", "history_rows"))
            server, url = _trackkit_server(conninfo, workdir)
            servers.append(server)
            if "queries" in wanted:
                print(f"[server-bench] loading {runs:,} runs and {chart_runs} x {chart_steps:,} steps ...",
                      file=sys.stderr, flush=True)
                load_runs = _load(conninfo, workdir, "q-runs", "runs", runs, 0, 1)
                load_chart = _load(conninfo, workdir, "q-chart", "chart", chart_runs, chart_steps, 2)
                result["queries"] = measure_queries(conninfo, url, "q", runs, chart_runs, chart_steps)
                result["queries"].update(load_runs_s=load_runs, load_chart_s=load_chart)
            if python or "peer" in wanted:
                print("[server-bench] trackkit at MLflow's scale ...", file=sys.stderr, flush=True)
                _load(conninfo, workdir, "peer-runs", "runs", 1_000, 0, 1)
                _load(conninfo, workdir, "peer-chart", "chart", 10, 10_000, 2)
                result["peer_trackkit"] = measure_queries(conninfo, url, "peer", 1_000, 10, 10_000)
            if python:
                print("[server-bench] MLflow's server ...", file=sys.stderr, flush=True)
                result["mlflow"] = measure_mlflow(python, databases, workdir, 1_000, 10, 10_000, clients, 5.0 if quick else 20.0)
        if "mlflow" in wanted and not args.no_mlflow and python is None:
            result["mlflow"] = {"status": "not installed (pip install mlflow==3.17.2, or --mlflow-python)"}
    finally:
        for server in servers:
            _stop(server)
        databases.drop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    result["load_avg_end"] = os.getloadavg()
    result["ratios"] = ratios(result)
    os.makedirs(args.out, exist_ok=True)
    with open(path, "w") as handle:
        json.dump(result, handle, indent=1)
    print(render(result))
    return result


def ratios(result: dict[str, Any]) -> dict[str, float]:
    """MLflow's figure over trackkit's (times), or trackkit's over MLflow's (rates): above 1, trackkit is ahead."""
    mlflow, mine, out = result.get("mlflow") or {}, result.get("peer_trackkit") or {}, {}
    if "runs_query" in mlflow and mine:
        out["runs_query_warm"] = mlflow["runs_query"]["warm_ms"] / mine["runs_http"]["warm_ms"]
        out["runs_query_cold"] = mlflow["runs_query"]["cold_ms"] / mine["runs_http"]["cold_ms"]
        out["chart_full_warm"] = mlflow["chart_full"]["warm_ms"] / mine["chart_full_http"]["warm_ms"]
        if "warm_ms" in mlflow.get("chart_sampled", {}):
            out["chart_sampled_warm"] = mlflow["chart_sampled"]["warm_ms"] / mine["chart_http"]["warm_ms"]
    if "ingest" in mlflow and "ingest" in result:
        out["ingest_points_per_s"] = result["ingest"]["points_per_s"] / mlflow["ingest"]["points_per_s"]
    return out


def render(result: dict[str, Any]) -> str:
    """The figures as Markdown lines."""
    lines = [f"## trackkit server benchmark ({result['mode']}, {result['date_utc']}, {result['cores']} cores, "
             f"load {result['load_avg_start'][0]:.1f})", ""]
    if "ingest" in result:
        i = result["ingest"]
        lines.append(f"- ingest: {i['clients']} clients x {i['steps']:,} steps x 10 scalars in {i['seconds']:.1f} s: "
                     f"{i['points_per_s']:,.0f} points/s into PostgreSQL")
    if "lag" in result:
        g = result["lag"]
        lines.append(f"- lag log() -> Api at {g['clients']} x {g['rate']:.0f} steps/s x 10 scalars ({g['rows']:,} rows, "
                     f"poll {g['poll_s']} s, {g.get('poll', 'per run')}): p50 {g['p50_s']:.2f} s, p95 {g['p95_s']:.2f} s, "
                     f"max {g['max_s']:.2f} s (target p95 <= 2 s; load {g.get('load_avg_end', [0])[0]:.1f} at the end)")
    if "log_cost" in result:
        c = result["log_cost"]
        lines.append(f"- log() in the caller: remote {c['remote']['median_us']:.1f} us median / {c['remote']['mean_us']:.1f} mean, "
                     f"local {c['local']['median_us']:.1f} / {c['local']['mean_us']:.1f} (x{c['ratio_median']:.2f} median)")
    if "queries" in result:
        q = result["queries"]
        lines.append(f"- chart {q['chart_runs']} runs x {q['chart_steps']:,} steps, 1,000 min/max buckets: PostgresStore "
                     f"{q['chart_pg']['warm_ms']:.0f} ms warm ({q['chart_pg']['cold_ms']:.0f} cold), through the server "
                     f"{q['chart_http']['warm_ms']:.0f} ms (target <= 300 ms)")
        lines.append(f"- runs query {q['runs']:,} runs, filter + sort, page of 100: PostgresStore {q['runs_pg']['warm_ms']:.1f} ms "
                     f"warm ({q['runs_pg']['cold_ms']:.0f} cold), through the server {q['runs_http']['warm_ms']:.1f} ms "
                     f"(target <= 100 ms)")
    mlflow = result.get("mlflow") or {}
    if "runs_query" in mlflow:
        mine = result["peer_trackkit"]
        sampled = mlflow.get("chart_sampled", {}).get("warm_ms", float("nan"))
        lines.append(f"- vs MLflow {mlflow.get('version')} server (PostgreSQL), 1,000-run query: trackkit "
                     f"{mine['runs_http']['warm_ms']:.0f} ms, MLflow {mlflow['runs_query']['warm_ms']:.0f} ms; "
                     f"10 x 10,000-step chart, every point: trackkit {mine['chart_full_http']['warm_ms']:.0f} ms, "
                     f"MLflow {mlflow['chart_full']['warm_ms']:.0f} ms; sampled: trackkit {mine['chart_http']['warm_ms']:.0f} ms, "
                     f"MLflow {sampled:.0f} ms; ingest MLflow {mlflow['ingest']['points_per_s']:,.0f} points/s")
    elif mlflow:
        lines.append(f"- MLflow: {mlflow.get('status')}")
    if result.get("ratios"):
        lines.append("- ratios (above 1: trackkit ahead): " + ", ".join(f"{k} x{v:.1f}" for k, v in result["ratios"].items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (a few minutes): 1/4 of the clients' steps, "
                        "10 x 100,000-step chart, 1,000 runs")
    parser.add_argument("--pg", default=os.environ.get("TRACKKIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--mlflow-python", default=None, help="a Python with mlflow installed (default: this one, if it has it)")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated subset of ingest,lag,logcost,queries,peer "
                        "(trackkit at MLflow's scale),mlflow (and peer)")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--lag-seconds", type=float, default=None, help="how long the lag clients log (default 30, 10 with "
                        "--quick); `--only lag` measures the lag alone")
    parser.add_argument("--lag-serial-poll", action="store_true", help="ask the runs' history keys one after another "
                        "(as the figures before 2026-11-29 did: a slow answer delays the next runs') instead of at once")
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    for name in ("project", "run", "store", "times", "workdir", "kind"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    for name in ("steps", "first", "last"):
        parser.add_argument(f"--{name}", type=int, default=0, help=argparse.SUPPRESS)
    for name in ("rate", "seconds"):
        parser.add_argument(f"--{name}", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        os.environ.setdefault("TRACKKIT_SILENT", "1")
        result = ROLES[args.role](args)
        print("\n" + json.dumps(result), flush=True)
        return
    run_all(args)


if __name__ == "__main__":
    main()
