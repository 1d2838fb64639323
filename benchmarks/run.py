"""trackkit against its peers, side by side, in one run: ``tox -e bench`` (or ``python benchmarks/run.py``).

Every measurement runs in a fresh process (``worker.py``, ``training.py``), several times;
the report gives medians, min–max and the ratio to trackkit measured in the same run, then
checks the targets of issue 5. ``--quick`` takes under a minute, for development.

Writes ``benchmarks/results/latest.md`` and ``latest.json`` (``latest-quick.*`` with ``--quick``)
and prints the Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from adapters import ADAPTERS  # noqa: E402
from report import render, targets  # noqa: E402

RESULTS = os.path.join(HERE, "results")
ORDER = ("trackkit", "floor", "wandb", "mlflow", "trackio", "tensorboardX")


def _worker_env(extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TRACKKIT_", "WANDB_", "MLFLOW_"))}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env.update(extra)
    return env


def _last_json(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON result line")


def _run(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        raise RuntimeError(f"{' '.join(cmd[1:4])} failed ({proc.returncode}):\n  " + "\n  ".join(tail))
    return _last_json(proc.stdout), wall


def _disk_bytes(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def available(tracker: str) -> tuple[bool, str]:
    """Whether the tracker imports in a fresh process here (and the first error line if not)."""
    adapter = ADAPTERS[tracker]()
    workdir = tempfile.mkdtemp(prefix=f"bench-probe-{tracker}-")
    try:
        proc = subprocess.run([sys.executable, "-c", f"import {adapter.module}"], env=_worker_env(adapter.env(workdir)),
                              capture_output=True, text=True, timeout=120, cwd=workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if proc.returncode == 0:
        return True, ""
    lines = proc.stderr.strip().splitlines()
    return False, lines[-1] if lines else "import failed"


def measure_tracker(tracker: str, steps: int, budget: float, timeout: float) -> dict[str, Any]:
    """One write run and one read run, each in a fresh process, in a fresh working directory."""
    adapter = ADAPTERS[tracker]()
    workdir = tempfile.mkdtemp(prefix=f"bench-{tracker}-")
    try:
        env = _worker_env(adapter.env(workdir))
        worker = os.path.join(HERE, "worker.py")
        result, wall = _run([sys.executable, worker, "write", tracker, "--steps", str(steps), "--workdir", workdir,
                             "--budget", str(budget)], env, timeout)
        result["wall_s"] = wall
        result["disk_mb"] = _disk_bytes(workdir) / 1e6
        read, _ = _run([sys.executable, worker, "read", tracker, "--workdir", workdir,
                        "--info", json.dumps(result["info"])], env, timeout)
        result["read_s"] = read["read_s"]
        result["points"] = read["points"]
        result["points_expected"] = result["steps"] * 10
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure_training(framework: str, loggers: list[str], rounds: int, batches: int, timeout: float) -> dict[str, Any]:
    """One process fitting one epoch per logger per round, interleaved (see ``training.py``)."""
    workdir = tempfile.mkdtemp(prefix=f"bench-{framework}-")
    try:
        env = _worker_env({**ADAPTERS["wandb"]().env(workdir), "KERAS_BACKEND": "torch",
                           "KERAS_HOME": os.path.join(workdir, "keras"), "TRACKKIT_SILENT": "1"})
        result, wall = _run([sys.executable, os.path.join(HERE, "training.py"), framework, "--loggers", ",".join(loggers),
                             "--rounds", str(rounds), "--batches", str(batches), "--workdir", workdir], env, timeout)
        result["wall_s"] = wall
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure_store(runs: int, steps: int, rows: int, reps: int, timeout: float) -> dict[str, Any]:
    """trackkit's store targets (``store_bench.py``): build through the protocol, then measure in a fresh process."""
    workdir = tempfile.mkdtemp(prefix="bench-store-")
    try:
        env = _worker_env({"TRACKKIT_SILENT": "1"})
        script = os.path.join(HERE, "store_bench.py")
        info, build_wall = _run([sys.executable, script, "build", "--workdir", workdir, "--runs", str(runs),
                                 "--steps", str(steps), "--rows", str(rows)], env, timeout)
        result, _ = _run([sys.executable, script, "measure", "--workdir", workdir, "--reps", str(reps),
                          "--info", json.dumps(info)], env, timeout)
        result["build"] = {**info, "wall_s": build_wall}
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure_store_peer(tracker: str, timeout: float) -> dict[str, Any]:
    """The runs query (1,000 runs) and the chart query (10 x 10,000 steps) of one tracker (``store_peers.py``)."""
    workdir = tempfile.mkdtemp(prefix=f"bench-peers-{tracker}-")
    try:
        env = _worker_env({**ADAPTERS[tracker]().env(workdir), "TRACKKIT_SILENT": "1"})
        script = os.path.join(HERE, "store_peers.py")
        info, _ = _run([sys.executable, script, "build", tracker, "--workdir", workdir], env, timeout)
        result, _ = _run([sys.executable, script, "measure", tracker, "--workdir", workdir, "--info", json.dumps(info)],
                         env, timeout)
        result["build"] = info
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram_gb = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal"):
                    ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions: dict[str, str] = {}
    for name in ("trackkit", "wandb", "mlflow", "mlflow-skinny", "trackio", "tensorboardX", "tensorboard", "torch",
                 "lightning", "keras", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": ram_gb, "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions}


def _summary(values: list[float]) -> dict[str, float] | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


METRICS = ("import_ms", "init_ms", "log_median_us", "log_p99_us", "finish_ms", "wall_s", "peak_rss_mb", "disk_mb",
           "read_s", "backpressure_waits", "backpressure_wait_ms")


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per tracker: startup figures over every run, the rest per step count."""
    out: dict[str, Any] = {}
    for tracker in ORDER:
        mine = [r for r in runs if r["tracker"] == tracker]
        if not mine:
            continue
        entry: dict[str, Any] = {
            "import_ms": _summary([r["import_ms"] for r in mine]),
            "init_ms": _summary([r["init_ms"] for r in mine]),
            "heavy_modules_after_import": sorted({m for r in mine for m in r["heavy_modules_after_import"]}),
            "by_steps": {},
        }
        for steps in sorted({r["steps_requested"] for r in mine}):
            group = [r for r in mine if r["steps_requested"] == steps]
            figures = {m: _summary([r.get(m) for r in group]) for m in METRICS[2:]}
            figures["steps_done"] = min(r["steps"] for r in group)
            figures["points_ok"] = all(r["points"] == r["points_expected"] for r in group if r["points"] is not None)
            figures["points"] = [r["points"] for r in group]
            figures["points_expected"] = [r["points_expected"] for r in group]
            figures["has_reader"] = any(r["points"] is not None for r in group)
            entry["by_steps"][str(steps)] = figures
        out[tracker] = entry
    return out


def _quartiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    if len(values) == 1:
        return {"median": values[0], "p25": values[0], "p75": values[0], "n": 1}
    q = statistics.quantiles(values, n=4)
    return {"median": statistics.median(values), "p25": q[0], "p75": q[2], "n": len(values)}


def aggregate_training(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per framework and logger: epoch wall and CPU times, and the slowdown versus no logger in CPU
    time, paired per round (each logger's epoch against the no-logger epoch of the same round),
    median and quartiles."""
    out: dict[str, Any] = {}
    for framework in dict.fromkeys(r["framework"] for r in runs):
        group = [r for r in runs if r["framework"] == framework]
        loggers: dict[str, Any] = {}
        for run in group:
            for spec, reason in run.get("unavailable", {}).items():
                loggers[spec] = {"unavailable": reason}
        specs = dict.fromkeys(spec for r in group for spec in r.get("epoch_s", {}))
        for spec in specs:
            cpu = [r.get("epoch_cpu_s", {}) for r in group]
            slowdowns = [100 * (t / base - 1) for c in cpu if "none" in c for t, base in zip(c.get(spec, []), c["none"])]
            loggers[spec] = {
                "epoch_s": _summary([t for r in group for t in r["epoch_s"].get(spec, [])]),
                "epoch_cpu_s": _summary([t for c in cpu for t in c.get(spec, [])]),
                "slowdown_pct": None if spec == "none" else _quartiles(slowdowns),
            }
        out[framework] = loggers
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a development run, under a minute")
    parser.add_argument("--trackers", default=",".join(ORDER), help="comma-separated subset of " + ",".join(ORDER))
    parser.add_argument("--steps", default=None, help="comma-separated step counts (default 10000,100000)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per tracker and step count")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds after which a slow tracker stops logging (its per-call figures stay valid)")
    parser.add_argument("--no-training", action="store_true", help="skip the Lightning/Keras overhead runs")
    parser.add_argument("--training-reps", type=int, default=None)
    parser.add_argument("--no-store", action="store_true", help="skip trackkit's store queries (scan, sample, query, init)")
    parser.add_argument("--store-only", action="store_true", help="only trackkit's store queries (no write runs, no training)")
    parser.add_argument("--store-runs", type=int, default=None, help="runs in the query/init project (default 10000)")
    parser.add_argument("--server", action="store_true", help="also the tracking server section (benchmarks/server_bench.py: "
                        "PostgreSQL at 127.0.0.1:5432 or TRACKKIT_BENCH_PG, MLflow's server beside it)")
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args()

    quick = args.quick
    if args.store_only:  # the write runs are skipped below; MLflow, if wanted and installed, still reads
        args.no_training = True
    steps_list = [int(s) for s in args.steps.split(",")] if args.steps else ([2_000] if quick else [10_000, 100_000])
    reps = args.reps or (2 if quick else 3)
    budget = args.budget or (1.0 if quick else 15.0)
    training_reps = args.training_reps or (1 if quick else 2)
    rounds, batches = (2, 100) if quick else (10, 400)
    wanted = [t for t in args.trackers.split(",") if t]
    unknown = [t for t in wanted if t not in ADAPTERS]
    if unknown:
        parser.error(f"unknown tracker(s) {unknown}; choose from {', '.join(ORDER)}")
    command = "tox -e bench" + (" -- " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    started = time.time()

    status: dict[str, str] = {}
    trackers: list[str] = []
    for tracker in [t for t in ORDER if t in wanted]:
        ok, why = available(tracker)
        status[tracker] = "ok" if ok else f"not installed ({why})"
        if ok:
            trackers.append(tracker)
        print(f"[bench] {tracker}: {status[tracker]}", file=sys.stderr, flush=True)
    if "trackkit" not in trackers:
        sys.exit("trackkit itself does not import; install it first (pip install -e .)")

    runs: list[dict[str, Any]] = []
    failures: list[str] = []
    for rep in range(0 if args.store_only else reps):
        for steps in steps_list:
            rotated = trackers[rep % len(trackers):] + trackers[: rep % len(trackers)]
            for tracker in rotated:
                print(f"[bench] rep {rep + 1}/{reps}  {steps:>7,} steps  {tracker} ...", file=sys.stderr, flush=True)
                try:
                    result = measure_tracker(tracker, steps, budget, timeout=600)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as error:
                    failures.append(f"{tracker} ({steps} steps, rep {rep + 1}): {error}")
                    print(f"[bench]   FAILED: {error}", file=sys.stderr, flush=True)
                    continue
                result["rep"] = rep
                runs.append(result)

    training: list[dict[str, Any]] = []
    if not args.no_training:
        plan = [("lightning", ["none", "trackkit"] if quick else ["none", "trackkit", "csv", "trackkit@1", "csv@1"]),
                ("keras", ["none", "trackkit"] if quick else ["none", "trackkit", "csv", "trackkit@1"])]
        if "wandb" in trackers and not quick:  # wandb's service threads get a process (and a baseline) of their own
            plan.insert(1, ("lightning", ["none", "wandb"]))
        for rep in range(training_reps):
            for framework, loggers in plan:
                print(f"[bench] training rep {rep + 1}/{training_reps}  {framework}: {', '.join(loggers)} ...",
                      file=sys.stderr, flush=True)
                try:
                    result = measure_training(framework, loggers, rounds, batches, timeout=900)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as error:
                    message = str(error)
                    if "No module named" in message:
                        result = {"epoch_s": {}, "unavailable": {spec: f"{framework} not installed" for spec in loggers}}
                    else:
                        failures.append(f"{framework} (rep {rep + 1}): {error}")
                        print(f"[bench]   FAILED: {error}", file=sys.stderr, flush=True)
                        continue
                result.update(framework=framework, rep=rep)
                training.append(result)

    store: dict[str, Any] = {}
    if not args.no_store:
        sizes = (args.store_runs or (1_000 if quick else 10_000), 10_000 if quick else 100_000, 100_000 if quick else 1_000_000)
        print(f"[bench] store: {sizes[0]:,} runs, {sizes[1]:,} x 10 scan, {sizes[2]:,}-row sample ...", file=sys.stderr, flush=True)
        try:
            store = measure_store(*sizes, reps=5, timeout=1800)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as error:
            failures.append(f"store queries: {error}")
            print(f"[bench]   FAILED: {error}", file=sys.stderr, flush=True)

    store_peers: dict[str, Any] = {}
    if not args.no_store:
        peers = ["trackkit"] + [t for t in ("mlflow",) if t in wanted and (t in trackers or available(t)[0])]
        for tracker in peers:
            print(f"[bench] read side against peers: {tracker} ...", file=sys.stderr, flush=True)
            try:
                store_peers[tracker] = measure_store_peer(tracker, timeout=900)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as error:
                failures.append(f"read side, {tracker}: {error}")
                print(f"[bench]   FAILED: {error}", file=sys.stderr, flush=True)

    server: dict[str, Any] = {}
    server_markdown = ""
    if args.server:
        print("[bench] tracking server (benchmarks/server_bench.py) ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, os.path.join(HERE, "server_bench.py"), "--out", args.out] + (["--quick"] if quick else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            failures.append(f"server section: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
        else:
            with open(os.path.join(args.out, "server-latest-quick.json" if quick else "server-latest.json")) as handle:
                server = json.load(handle)
            server_markdown = proc.stdout.strip()

    document: dict[str, Any] = {
        "command": command,
        "mode": "quick" if quick else "full",
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "duration_s": None,
        "machine": machine(),
        "settings": {"steps": steps_list, "reps": reps, "budget_s": budget, "training_reps": training_reps,
                     "rounds": rounds, "batches": batches, "batch_size": 8},
        "status": status,
        "failures": failures,
        "trackers": aggregate(runs),
        "training": aggregate_training(training) if training else {},
        "store": store,
        "store_peers": store_peers,
        "server": server,
        "runs": runs,
        "training_runs": training,
    }
    previous = None
    stem = "latest-quick" if quick else "latest"  # a quick run never replaces the published full table
    latest_json = os.path.join(args.out, stem + ".json")
    if os.path.exists(latest_json):
        try:
            with open(latest_json) as handle:
                previous = json.load(handle)
        except (OSError, ValueError):
            previous = None
    document["targets"] = targets(document, previous)
    document["duration_s"] = round(time.time() - started, 1)
    markdown = render(document) + ("\n\n" + server_markdown + "\n" if server_markdown else "")
    os.makedirs(args.out, exist_ok=True)
    with open(latest_json, "w") as handle:
        json.dump(document, handle, indent=1)
    with open(os.path.join(args.out, stem + ".md"), "w") as handle:
        handle.write(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
