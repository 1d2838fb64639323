"""The processes ``server_bench.py`` starts (``server_bench.py --role NAME ...``): training clients of
the tracking server, the bulk loader of its PostgreSQL database, and MLflow's clients. Each prints one
JSON object on its last line."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = [f"m{index}" for index in range(10)]


def _timed(call: Any, reps: int = 5) -> dict[str, float]:
    start = time.perf_counter()
    call()
    cold = (time.perf_counter() - start) * 1e3
    warm = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        warm.append((time.perf_counter() - start) * 1e3)
    return {"cold_ms": cold, "warm_ms": statistics.median(warm), "warm_min_ms": min(warm)}


# -- client roles (each its own process) ------------------------------------------------------------
def role_ingest_client(args: argparse.Namespace) -> dict[str, Any]:
    """Log ``steps`` x 10 scalars as fast as possible to ``store``."""
    import trackkit

    run = trackkit.init(project=args.project, id=args.run, store=args.store)
    started = time.perf_counter()
    for step in range(args.steps):
        run.log({key: step + i / 10 for i, key in enumerate(KEYS)})
    logged = time.perf_counter() - started
    run.finish()
    return {"log_s": logged, "total_s": time.perf_counter() - started}


def role_paced_client(args: argparse.Namespace) -> dict[str, Any]:
    """Log at ``rate`` steps/s for ``steps`` steps; write each log() call's wall time to ``times``."""
    import trackkit

    run = trackkit.init(project=args.project, id=args.run, store=args.store)
    times: list[float] = []
    t0 = time.perf_counter()
    for step in range(args.steps):
        wait = t0 + step / args.rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        times.append(time.time())
        run.log({key: step + i / 10 for i, key in enumerate(KEYS)})
    run.finish()
    with open(args.times, "w") as handle:
        json.dump(times, handle)
    return {"loop_s": time.perf_counter() - t0}


def role_logcost_client(args: argparse.Namespace) -> dict[str, Any]:
    """Per-call cost of log() (10 scalars) with ``store`` (a URL or a local directory)."""
    import trackkit

    run = trackkit.init(project=args.project, store=args.store)
    row = {key: 0.0 for key in KEYS}
    costs = []
    clock = time.perf_counter_ns
    for step in range(args.steps):
        row["m0"] = float(step)
        started = clock()
        run.log(row)
        costs.append(clock() - started)
    run.finish()
    costs.sort()
    return {"median_us": costs[len(costs) // 2] / 1e3, "p99_us": costs[int(len(costs) * 0.99)] / 1e3,
            "mean_us": sum(costs) / len(costs) / 1e3}


_BULK_RUNS = """
INSERT INTO runs (project, run_id, meta, created_at, activity_at, config, config_doc, config_has_values, config_tree,
                  config_flat, summary, summary_doc, summary_has_values, summary_tree, summary_flat)
SELECT t.project, r.id, jsonb_set(jsonb_set(t.meta, '{id}', to_jsonb(r.id)), '{name}', to_jsonb(r.id)), t.created_at + r.i,
       t.activity_at, r.config::json, t.config_doc, true, r.config, r.config, r.summary::json, t.summary_doc, true,
       r.summary, r.summary
FROM runs t, LATERAL (
    SELECT i, 'r' || lpad(i::text, 5, '0') AS id,
           jsonb_build_object('optimizer', CASE WHEN i %% 2 = 0 THEN 'adam' ELSE 'sgd' END, 'lr', i * 1e-5) AS config,
           jsonb_build_object('acc', ((i * 7919) %% 10007)::float8 / 10007, 'loss', 1.0) AS summary
    FROM generate_series(%(first)s::int, %(last)s::int) AS i) AS r
WHERE t.project = %(project)s AND t.run_id = 'r00000'
"""



def _chart_row(index: int, step: int) -> dict[str, Any]:
    return {"loss": 1.0 / (1 + step) + index + (step % 7) * 0.001, "_step": step, "_timestamp": 1.7e9 + step * 0.01,
            "_runtime": step * 0.01}


def role_load(args: argparse.Namespace) -> dict[str, Any]:
    """Runs ``first..last`` into PostgreSQL through ``PostgresStore``: each chart run's rows through its
    ingest (rollups included); of the runs set, the first run, the rest copied from it by SQL in bulk (the
    columns the store writes): 10,000 runs one by one take minutes on a loaded machine."""
    sys.path.insert(0, HERE)
    from store_bench import _write_run

    from trackkit.server.postgres_store import PostgresStore

    # loading only: no wait for the disk at each commit (the measured paths keep the server's settings)
    store = PostgresStore(args.store + "?options=-c%20synchronous_commit%3Doff", files_dir=args.workdir)
    started = time.perf_counter()
    with store.pool.connection() as conn:
        if args.kind == "runs":
            _write_run(store, args.project, "r00000", {"optimizer": "adam", "lr": 0.0}, {"acc": 0.0, "loss": 1.0})
            conn.execute(_BULK_RUNS, {"first": 1, "last": args.last - 1, "project": args.project})
        for index in range(args.first, args.last) if args.kind == "chart" else ():
            # through the store's own ingest: its rollups (kept at ingest) are part of what is measured
            _write_run(store, args.project, f"c{index:03d}", {"i": index}, {"loss": 0.0},
                       (_chart_row(index, step) for step in range(args.steps)), batch=20_000)
        conn.execute("ANALYZE runs")
    store.close()
    return {"load_s": time.perf_counter() - started}


def role_mlflow_build(args: argparse.Namespace) -> dict[str, Any]:
    """MLflow, through its tracking server: runs ``first..last`` of the runs set or of the chart set."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=args.store)
    experiment = client.get_experiment_by_name(args.project).experiment_id
    now = int(time.time() * 1000)
    for index in range(args.first, args.last):
        run_id = client.create_run(experiment).info.run_id
        if args.kind == "runs":
            client.log_batch(run_id, metrics=[Metric("acc", (index * 7919 % 10007) / 10007, now, 0), Metric("loss", 1.0, now, 0)],
                             params=[Param("optimizer", ("adam", "sgd")[index % 2]), Param("lr", repr(index * 1e-5))])
        else:
            for start in range(0, args.steps, 1000):
                client.log_batch(run_id, metrics=[Metric("loss", 1.0 / (1 + s) + index + (s % 7) * 1e-3, now + s, s)
                                                  for s in range(start, min(start + 1000, args.steps))])
        client.set_terminated(run_id)
    return {}


def role_mlflow_ingest(args: argparse.Namespace) -> dict[str, Any]:
    """MLflow's fastest logging path: ``log_batch`` of 100 steps x 10 scalars, for ``seconds``."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=args.store)
    experiment = client.get_experiment_by_name(args.project).experiment_id
    run_id = client.create_run(experiment).info.run_id
    now = int(time.time() * 1000)
    points, step = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        metrics = [Metric(key, s + i / 10, now + s, s) for s in range(step, step + 100) for i, key in enumerate(KEYS)]
        client.log_batch(run_id, metrics=metrics)
        points += len(metrics)
        step += 100
    elapsed = time.perf_counter() - started
    client.set_terminated(run_id)
    return {"points": points, "seconds": elapsed}


def role_mlflow_measure(args: argparse.Namespace) -> dict[str, Any]:
    """MLflow's runs query (first page of 100) and chart query (10 runs), through its server."""
    import requests
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=args.store)
    runs_exp = client.get_experiment_by_name(args.project + "-runs").experiment_id
    chart_exp = client.get_experiment_by_name(args.project + "-chart").experiment_id
    found: list[Any] = []

    def runs_query() -> None:
        found[:] = client.search_runs([runs_exp], filter_string="params.optimizer = 'adam'",
                                      order_by=["metrics.acc DESC"], max_results=100)

    chart_ids = [run.info.run_id for run in client.search_runs([chart_exp], max_results=100)]
    points: list[int] = []

    def chart_full() -> None:
        points[:] = [len(client.get_metric_history(run_id, "loss")) for run_id in chart_ids]

    sampled: list[int] = []

    def chart_sampled() -> None:  # what MLflow's UI calls for a chart: at most max_results points per run
        answer = requests.get(f"{args.store}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
                              params={"run_ids": chart_ids, "metric_key": "loss", "max_results": 1000}, timeout=300)
        answer.raise_for_status()
        sampled[:] = [len(answer.json().get("metrics", []))]

    out: dict[str, Any] = {"runs_query": _timed(runs_query, 3), "chart_full": _timed(chart_full, 3)}
    out["runs_query"]["page"] = len(found)
    out["chart_full"]["points"] = sum(points)
    try:
        out["chart_sampled"] = _timed(chart_sampled, 3)
        out["chart_sampled"]["points"] = sampled[0] if sampled else 0
    except Exception as error:  # an endpoint of MLflow's UI, not its public API: report, don't fail
        out["chart_sampled"] = {"error": f"{type(error).__name__}: {error}"[:200]}
    return out


ROLES = {"ingest-client": role_ingest_client, "paced-client": role_paced_client, "logcost-client": role_logcost_client,
         "load": role_load, "mlflow-build": role_mlflow_build, "mlflow-ingest": role_mlflow_ingest,
         "mlflow-measure": role_mlflow_measure}
