"""One measurement in a fresh process: ``write`` (import, init, log N steps, finish) or ``read``.

Prints one JSON object on the last line of stdout. Only the standard library is imported
before the tracker, so import times and the modules a tracker pulls in are its own.

    python benchmarks/worker.py write trackkit --steps 10000 --workdir /tmp/x
    python benchmarks/worker.py read trackkit --workdir /tmp/x --info '{"id": "..."}'
"""

from __future__ import annotations

# The tracker is imported first, before anything but the built-in sys and time, so that its
# import time includes the standard-library modules it pulls in, as in a user's script.
import sys
import time

_TRACKER_MODULES = {"trackkit": "trackkit", "floor": "json", "wandb": "wandb", "mlflow": "mlflow",
                    "trackio": "trackio", "tensorboardX": "tensorboardX"}
_IMPORT_NS = None
if len(sys.argv) > 2 and sys.argv[1] == "write" and sys.argv[2] in _TRACKER_MODULES:
    _start = time.perf_counter_ns()
    try:
        __import__(_TRACKER_MODULES[sys.argv[2]])
    except ImportError:
        pass  # reported by the adapter below
    else:
        _IMPORT_NS = time.perf_counter_ns() - _start
_MODULES_AFTER_IMPORT = set(sys.modules)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
from array import array  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adapters import ADAPTERS, CONFIG, METRIC_KEYS  # noqa: E402

HEAVY_MODULES = ("numpy", "pandas", "torch", "tensorflow", "keras", "jax", "lightning", "transformers", "absl")


def _peak_rss_mb() -> float:
    """Peak resident set size of this process and of its waited-for children, in MiB (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def write(tracker: str, steps: int, workdir: str, budget: float) -> dict[str, object]:
    adapter = ADAPTERS[tracker]()
    pc = time.perf_counter_ns
    t0 = pc()
    adapter.import_()
    t1 = pc()
    import_ns = _IMPORT_NS if _IMPORT_NS is not None else t1 - t0
    heavy = sorted(name for name in HEAVY_MODULES if name in _MODULES_AFTER_IMPORT)
    adapter.init(workdir, dict(CONFIG))
    t2 = pc()
    log = adapter.logger()
    latencies = array("q", bytes(8 * steps))
    keys = METRIC_KEYS
    deadline = pc() + int(budget * 1e9)
    done = steps
    loop_start = pc()
    for i in range(steps):
        x = i * 1e-3
        data = {keys[0]: x, keys[1]: x + 1.0, keys[2]: x + 2.0, keys[3]: x + 3.0, keys[4]: x + 4.0,
                keys[5]: x + 5.0, keys[6]: x + 6.0, keys[7]: x + 7.0, keys[8]: x + 8.0, keys[9]: x + 9.0}
        t = pc()
        log(data, i)
        latencies[i] = pc() - t
        if not i & 255 and t > deadline:
            done = i + 1
            break
    loop_end = pc()
    adapter.finish()
    t3 = pc()
    used = sorted(latencies[:done])
    return {
        "tracker": tracker,
        "steps": done,
        "steps_requested": steps,
        "import_ms": import_ns / 1e6,
        "heavy_modules_after_import": heavy,
        "init_ms": (t2 - t1) / 1e6,
        "log_median_us": used[len(used) // 2] / 1e3,
        "log_p99_us": used[min(len(used) - 1, int(0.99 * len(used)))] / 1e3,
        "log_mean_us": sum(used) / len(used) / 1e3,
        "loop_s": (loop_end - loop_start) / 1e9,
        "finish_ms": (t3 - loop_end) / 1e6,
        "peak_rss_mb": _peak_rss_mb(),
        "info": adapter.info(),
        **adapter.extra(),
    }


def read(tracker: str, workdir: str, info: dict[str, object]) -> dict[str, object]:
    adapter = ADAPTERS[tracker]()
    if not adapter.has_reader:
        return {"tracker": tracker, "read_s": None, "points": None}
    adapter.import_()
    start = time.perf_counter()
    points = adapter.read(workdir, info)
    return {"tracker": tracker, "read_s": time.perf_counter() - start if points is not None else None, "points": points}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=("write", "read"))
    parser.add_argument("tracker", choices=sorted(ADAPTERS))
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--budget", type=float, default=1e9, help="stop logging after this many seconds")
    parser.add_argument("--info", default="{}")
    args = parser.parse_args()
    os.chdir(args.workdir)
    if args.phase == "write":
        result = write(args.tracker, args.steps, args.workdir, args.budget)
    else:
        result = read(args.tracker, args.workdir, json.loads(args.info))
    sys.stdout.flush()
    print("\n" + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
