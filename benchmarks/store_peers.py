"""The read side against MLflow, through each tracker's own API, at a scale MLflow loads in under a minute
(the round-2 decisions): a runs query over 1,000 runs, and a chart query over 10 runs x 10,000 steps.

    python benchmarks/store_peers.py build trackkit --workdir /tmp/x
    python benchmarks/store_peers.py measure trackkit --workdir /tmp/x

Runs query: runs of one project whose config/params say ``optimizer = "adam"`` (half of them), sorted
by the ``acc`` summary/metric, descending. Chart query: one metric of 10 runs, as a chart needs it:
trackkit's ``sample_history`` at 1,000 buckets (and, for reference, its whole ``scan_history``);
MLflow's ``get_metric_history`` (MLflow's client has no sampled read; its server's bulk-interval
endpoint is not part of the local client). Both are built through the tracker's batch calls
(trackkit's run sink, MLflow's ``log_batch``), then measured in a fresh process: the first call and
the median of 3 more. Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

RUNS_PROJECT = "peer-runs"
CHART_PROJECT = "peer-chart"


def _timed(call: Any, reps: int = 3) -> dict[str, float]:
    start = time.perf_counter()
    call()
    cold = (time.perf_counter() - start) * 1e3
    warm = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        warm.append((time.perf_counter() - start) * 1e3)
    return {"cold_ms": cold, "warm_ms": statistics.median(warm)}


def _acc(index: int) -> float:
    return (index * 7919 % 10007) / 10007


# -- trackkit -------------------------------------------------------------------------------------
def build_trackkit(workdir: str, runs: int, chart_runs: int, chart_steps: int) -> dict[str, Any]:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from store_bench import _store, _write_run

    store = _store(workdir)
    for index in range(runs):
        _write_run(store, RUNS_PROJECT, f"r{index:05d}", {"optimizer": ("adam", "sgd")[index % 2], "lr": index * 1e-5},
                   {"acc": _acc(index), "loss": 1.0})
    t0 = time.time()
    for index in range(chart_runs):
        rows = ({"loss": 1.0 / (1 + step) + index, "_step": step, "_timestamp": t0 + step, "_runtime": float(step)}
                for step in range(chart_steps))
        _write_run(store, CHART_PROJECT, f"c{index:02d}", {"i": index}, {"loss": 0.0}, rows)
    return {}


def measure_trackkit(workdir: str) -> dict[str, Any]:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from store_bench import _store

    store = _store(workdir)
    matched = []

    def runs_query() -> None:
        page = store.query_runs(RUNS_PROJECT, filters={"config.optimizer": "adam"}, order="-summary.acc")
        matched[:] = [run["id"] for run in page["runs"]]

    chart_ids = sorted(run["id"] for run in store.query_runs(CHART_PROJECT)["runs"])
    points = []

    def chart_sampled() -> None:
        series = [store.sample_history(CHART_PROJECT, run_id, ["loss"], samples=1000)["loss"] for run_id in chart_ids]
        points[:] = [s["total"] for s in series]

    def chart_full() -> None:
        for run_id in chart_ids:
            list(store.scan_history(CHART_PROJECT, run_id, keys=["loss"]))

    out = {"runs_query": _timed(runs_query), "chart_sampled": _timed(chart_sampled), "chart_full": _timed(chart_full)}
    out["runs_query"]["matched"] = len(matched)
    out["chart_sampled"]["points"] = sum(points)
    return out


# -- MLflow ---------------------------------------------------------------------------------------
def _mlflow_client(workdir: str) -> Any:
    os.chdir(workdir)
    import mlflow
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=mlflow.get_tracking_uri())  # the default local store, as in adapters.py


def build_mlflow(workdir: str, runs: int, chart_runs: int, chart_steps: int) -> dict[str, Any]:
    from mlflow.entities import Metric, Param

    client = _mlflow_client(workdir)
    runs_exp = client.create_experiment(RUNS_PROJECT)
    now = int(time.time() * 1000)
    for index in range(runs):
        run_id = client.create_run(runs_exp).info.run_id
        client.log_batch(run_id, metrics=[Metric("acc", _acc(index), now, 0), Metric("loss", 1.0, now, 0)],
                         params=[Param("optimizer", ("adam", "sgd")[index % 2]), Param("lr", repr(index * 1e-5))])
        client.set_terminated(run_id)
    chart_exp = client.create_experiment(CHART_PROJECT)
    for index in range(chart_runs):
        run_id = client.create_run(chart_exp).info.run_id
        for start in range(0, chart_steps, 1000):  # log_batch takes at most 1,000 metrics per call
            client.log_batch(run_id, metrics=[Metric("loss", 1.0 / (1 + step) + index, now + step, step)
                                              for step in range(start, min(start + 1000, chart_steps))])
        client.set_terminated(run_id)
    return {"runs_experiment": runs_exp, "chart_experiment": chart_exp}


def measure_mlflow(workdir: str, info: dict[str, Any]) -> dict[str, Any]:
    client = _mlflow_client(workdir)
    matched = []

    def runs_query() -> None:
        found = client.search_runs([info["runs_experiment"]], filter_string="params.optimizer = 'adam'",
                                   order_by=["metrics.acc DESC"], max_results=50_000)
        matched[:] = [run.info.run_id for run in found]

    chart_ids = [run.info.run_id for run in client.search_runs([info["chart_experiment"]], max_results=1000)]
    points = []

    def chart_full() -> None:
        points[:] = [len(client.get_metric_history(run_id, "loss")) for run_id in chart_ids]

    out = {"runs_query": _timed(runs_query), "chart_full": _timed(chart_full)}
    out["runs_query"]["matched"] = len(matched)
    out["chart_full"]["points"] = sum(points)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=("build", "measure"))
    parser.add_argument("tracker", choices=("trackkit", "mlflow"))
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--runs", type=int, default=1_000)
    parser.add_argument("--chart-runs", type=int, default=10)
    parser.add_argument("--chart-steps", type=int, default=10_000)
    parser.add_argument("--info", default="{}")
    args = parser.parse_args()
    os.environ.setdefault("TRACKKIT_SILENT", "1")
    if args.phase == "build":
        build = build_trackkit if args.tracker == "trackkit" else build_mlflow
        started = time.perf_counter()
        result = build(args.workdir, args.runs, args.chart_runs, args.chart_steps)
        result.update(build_s=time.perf_counter() - started, runs=args.runs, chart_runs=args.chart_runs,
                      chart_steps=args.chart_steps)
    elif args.tracker == "trackkit":
        result = measure_trackkit(args.workdir)
    else:
        result = measure_mlflow(args.workdir, json.loads(args.info))
    sys.stdout.flush()
    print("\n" + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
