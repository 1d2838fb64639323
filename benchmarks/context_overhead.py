"""What the run context costs (issue 10 §3): the system-metrics sampler's CPU as a share of one core,
and what capturing the context adds to ``trackkit.init()``.

    python benchmarks/context_overhead.py            # about 30 s
    python benchmarks/context_overhead.py --quick    # about 10 s

Figures:
- **sample cost**: CPU seconds of one system-metrics sample (psutil: process, CPU, memory, disk, network;
  NVML when a GPU is present), on the sampler thread, median of many.
- **sampler overhead**: a live run sampling every 0.1 s while the main thread sleeps, measured as the
  whole process's CPU time (sampler, writer and store write of each row) per sample, minus the same
  run with system metrics off; then scaled to the default interval of 10 s, as % of one core.
- **init**: median wall time of ``trackkit.init()`` with every part of the context on (system metrics,
  console, git, environment, requirements) and with every part off, in a git checkout, alternating.
- **facts ready**: how long after ``init`` returns the helper thread has the git and package facts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ALL_OFF = {"console": "off", "disable_system_metrics": True, "disable_git": True, "disable_meta": True,
           "disable_requirements": True}


def sample_cost(samples: int) -> float:
    """Median CPU seconds of one sample."""
    from trackkit._system_metrics import SystemMonitor

    monitor = SystemMonitor(lambda rows: None, interval=3600.0, quiet=True)
    monitor.sample()  # prime psutil and NVML
    costs = []
    for _ in range(samples):
        before = monitor.cpu_seconds
        monitor.sample()
        costs.append(monitor.cpu_seconds - before)
        time.sleep(0.001)
    monitor.stop()
    return statistics.median(costs)


def live_cpu(seconds: float, system_metrics: bool) -> tuple[float, int]:
    """Process CPU seconds of a run that sleeps for ``seconds``, and its system samples."""
    import trackkit

    settings = {**ALL_OFF, "disable_system_metrics": not system_metrics, "system_interval": 0.1}
    run = trackkit.init(project="bench-context", settings=settings)
    start = time.process_time()
    time.sleep(seconds)
    used = time.process_time() - start
    monitor = run._context._monitor if run._context is not None else None
    samples = monitor.samples if monitor is not None else 0
    run.finish()
    return used, samples


def init_times(rounds: int) -> dict[str, list[float]]:
    """Wall seconds of init() with the whole context on and off, alternating; and facts-ready times."""
    import trackkit

    times: dict[str, list[float]] = {"on": [], "off": [], "facts_ready": []}
    for _ in range(rounds):
        for mode in ("on", "off"):
            start = time.perf_counter()
            run = trackkit.init(project="bench-context", settings=None if mode == "on" else ALL_OFF)
            elapsed = time.perf_counter() - start
            times[mode].append(elapsed)
            if mode == "on":
                run._context.facts_ready.wait(10)
                times["facts_ready"].append(time.perf_counter() - start)
            run.finish()
    return times


def _git_checkout(path: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b", "GIT_CONFIG_GLOBAL": os.devnull}
    for args in (["init", "-q"], ["add", "train.py"], ["commit", "-q", "-m", "x"]):
        if args[0] == "add":
            with open(os.path.join(path, "train.py"), "w") as handle:
                handle.write("lr = 0.1\n")
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    with open(os.path.join(path, "train.py"), "a") as handle:
        handle.write("epochs = 3\n")  # dirty: the diff is read and stored too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    live_seconds, rounds, samples = (2.0, 10, 100) if args.quick else (6.0, 30, 500)
    with tempfile.TemporaryDirectory() as work:
        os.environ["TRACKKIT_DIR"] = os.path.join(work, "store")
        os.environ["TRACKKIT_SILENT"] = "1"
        os.chdir(work)
        _git_checkout(work)
        per_sample = sample_cost(samples)
        on_cpu, on_samples = live_cpu(live_seconds, True)
        off_cpu, _ = live_cpu(live_seconds, False)
        live_per_sample = max(0.0, on_cpu - off_cpu) / max(1, on_samples)
        times = init_times(rounds)
    interval = 10.0
    result = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "sample_cpu_ms": per_sample * 1000,
        "live_cpu_ms_per_sample": live_per_sample * 1000,
        "live_samples": on_samples,
        "overhead_percent_of_one_core_at_10s": 100 * live_per_sample / interval,
        "init_ms_context_on": statistics.median(times["on"]) * 1000,
        "init_ms_context_off": statistics.median(times["off"]) * 1000,
        "init_ms_added": (statistics.median(times["on"]) - statistics.median(times["off"])) * 1000,
        "facts_ready_ms_after_init_start": statistics.median(times["facts_ready"]) * 1000,
    }
    print(json.dumps(result, indent=2))
    print()
    print(f"system metrics: {result['sample_cpu_ms']:.2f} ms CPU per sample; live {result['live_cpu_ms_per_sample']:.2f} ms "
          f"per sample with its store write -> {result['overhead_percent_of_one_core_at_10s']:.4f} % of one core at the "
          f"default 10 s interval (target <= 0.5 %)")
    print(f"init: {result['init_ms_context_on']:.2f} ms with the context, {result['init_ms_context_off']:.2f} ms without "
          f"(+{result['init_ms_added']:.2f} ms; target <= 20 ms); git and package facts ready "
          f"{result['facts_ready_ms_after_init_start']:.0f} ms after init started, on the helper thread")


if __name__ == "__main__":
    main()
