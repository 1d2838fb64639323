"""trackkit's store-side targets (issue 9), through the ``Store`` protocol only, in fresh processes.

    python benchmarks/store_bench.py build --workdir /tmp/x --runs 10000 --steps 100000 --rows 1000000
    python benchmarks/store_bench.py measure --workdir /tmp/x --reps 5

``build`` writes, through ``store.open_run`` and the run sink (not ``run.log``, to save time):
a project of ``--runs`` runs with a 20-key config and a summary, one run of ``--steps`` rows x 10
scalars (the ``scan_history`` target: 100,000 x 10 = 1,000,000 points) and one run of ``--rows``
rows of one key with a spike (the ``sample_history`` target). ``measure`` runs in a fresh process:
the first call of each query (cold: nothing cached in the process) and the median of the next
``--reps`` calls (warm). Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from typing import Any

PROJECT = "bench-store"
RUNS_PROJECT = "bench-runs"
SCAN_RUN = "scan"
SAMPLE_RUN = "sample"
FILTER = {"config.lr": {"$lt": 0.005}}  # about half of the runs
ORDER = "-summary.acc"


def _store(workdir: str) -> Any:
    import trackkit

    return trackkit.open_store(os.path.join(workdir, "store"))


def _write_run(store: Any, project: str, run_id: str, config: dict[str, Any], summary: dict[str, Any],
               rows: Any = None, batch: int = 10_000) -> None:
    sink, _ = store.open_run(project, run_id, resume=None)
    now = time.time()
    sink.write_meta({"id": run_id, "name": run_id, "project": project, "entity": "bench", "state": "finished",
                     "tags": [], "notes": None, "group": None, "job_type": None, "created_at": now,
                     "started_at": now, "finished_at": now, "runtime": 1.0, "exit_code": 0, "host": "bench",
                     "pid": os.getpid(), "metrics": []})
    sink.write_config({"values": config, "provenance": {}, "changes": []})
    written = 0
    if rows is not None:
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == batch:
                sink.append_history(chunk)
                written += len(chunk)
                chunk = []
        if chunk:
            sink.append_history(chunk)
            written += len(chunk)
    sink.write_summary({"values": summary})
    sink.close()


def build(workdir: str, runs: int, steps: int, sample_rows: int) -> dict[str, Any]:
    store = _store(workdir)
    started = time.perf_counter()
    t0 = time.time()

    def scan_rows() -> Any:
        for i in range(steps):
            x = i * 1e-3
            yield {"metric_0": x, "metric_1": x + 1.0, "metric_2": x + 2.0, "metric_3": x + 3.0, "metric_4": x + 4.0,
                   "metric_5": x + 5.0, "metric_6": x + 6.0, "metric_7": x + 7.0, "metric_8": x + 8.0,
                   "metric_9": x + 9.0, "_step": i, "_timestamp": t0 + x, "_runtime": x}

    spike = sample_rows // 3 + 7

    def sample_history_rows() -> Any:
        for i in range(sample_rows):
            loss = 1.0 / (1 + i * 1e-4) + (1e-3 * math.sin(i)) + (100.0 if i == spike else 0.0)
            yield {"loss": loss, "_step": i, "_timestamp": t0 + i * 1e-3, "_runtime": i * 1e-3}

    _write_run(store, PROJECT, SCAN_RUN, {"lr": 0.001}, {"metric_0": (steps - 1) * 1e-3}, scan_rows())
    _write_run(store, PROJECT, SAMPLE_RUN, {"lr": 0.001}, {"loss": 0.5}, sample_history_rows())
    history_s = time.perf_counter() - started
    started = time.perf_counter()
    store.next_run_number(RUNS_PROJECT)  # as if trackkit.init had made the project: its name counter exists
    for index in range(runs):
        config = {"lr": (index % 100) * 1e-4, "batch_size": 32 << (index % 3), "optimizer": ("adam", "sgd")[index % 2],
                  "model": {"layers": index % 7, "width": 128}, "seed": index}
        _write_run(store, RUNS_PROJECT, f"run{index:05d}", config, {"acc": (index * 7919 % 10007) / 10007, "loss": 1.0})
    return {"history_build_s": history_s, "runs_build_s": time.perf_counter() - started, "spike_step": spike,
            "runs": runs, "steps": steps, "sample_rows": sample_rows}


def _timed(call: Any, reps: int) -> tuple[float, float, Any]:
    """The first call (cold) and the median of ``reps`` more (warm), in ms, and the last result."""
    start = time.perf_counter()
    result = call()
    cold = (time.perf_counter() - start) * 1e3
    warm: list[float] = []
    for _ in range(reps):
        start = time.perf_counter()
        result = call()
        warm.append((time.perf_counter() - start) * 1e3)
    return cold, statistics.median(warm) if warm else cold, result


def measure(workdir: str, reps: int, info: dict[str, Any]) -> dict[str, Any]:
    import trackkit

    store = _store(workdir)
    out: dict[str, Any] = {}

    cold, warm, rows = _timed(lambda: list(store.scan_history(PROJECT, SCAN_RUN)), reps)
    points = sum(len(row) for row in rows) - 3 * len(rows)
    out["scan"] = {"cold_ms": cold, "warm_ms": warm, "points": points, "points_expected": info["steps"] * 10}
    del rows

    cold, warm, series = _timed(lambda: store.sample_history(PROJECT, SAMPLE_RUN, ["loss"], samples=1000), reps)
    loss = series.get("loss") or {}
    counts = loss.get("count") or []
    spike_kept = bool(loss) and max(v for v in loss["max"] if v is not None) >= 100.0
    out["sample"] = {"cold_ms": cold, "warm_ms": warm, "buckets": len(counts), "total": loss.get("total"),
                     "counts_sum": sum(counts), "spike_kept": spike_kept, "rows": info["sample_rows"]}

    def query() -> Any:
        return store.query_runs(RUNS_PROJECT, filters=FILTER, order=ORDER)

    cold, warm, page = _timed(query, reps)
    out["query"] = {"cold_ms": cold, "warm_ms": warm, "matched": page["total"], "runs": info["runs"]}
    cold_api, warm_api, api_runs = _timed(lambda: list(trackkit.Api(store=store).runs(RUNS_PROJECT, FILTER, ORDER)), reps)
    out["query"]["api_cold_ms"], out["query"]["api_warm_ms"] = cold_api, warm_api

    out["init"] = {}
    for label, project in (("empty", "bench-init-empty"), ("full", RUNS_PROJECT)):
        times = []
        for _ in range(reps + 1):
            start = time.perf_counter()
            run = trackkit.init(project=project, store=os.path.join(workdir, "store"), reinit="create_new")
            times.append((time.perf_counter() - start) * 1e3)
            run.finish(quiet=True)
        out["init"][label] = {"first_ms": times[0], "median_ms": statistics.median(times[1:])}
    out["init"]["runs_in_full_project"] = info["runs"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=("build", "measure"))
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--info", default="{}")
    args = parser.parse_args()
    os.environ.setdefault("TRACKKIT_SILENT", "1")
    if args.phase == "build":
        result = build(args.workdir, args.runs, args.steps, args.rows)
    else:
        result = measure(args.workdir, args.reps, json.loads(args.info))
    sys.stdout.flush()
    print("\n" + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
