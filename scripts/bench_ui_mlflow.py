"""Time trackkit's web UI beside MLflow's UI on the same data, in headless Chromium (figures, not tests).

    python scripts/bench_ui_mlflow.py             # 1,000 runs + 10 runs x 10,000 steps, 3 timed repeats (~8 min)
    python scripts/bench_ui_mlflow.py --quick     # 200 runs + 10 runs x 2,000 steps, 1 timed repeat (~4 min)

Needs a Python with trackkit's ``server`` extra, Playwright for Python and ``mlflow`` (the dev venv plus
``pip install mlflow==3.17.2``), and Chromium at /usr/bin/chromium. The times above are on 2 loaded cores;
most of them is filling MLflow through its client and waiting for its server to start.

Fills the same runs into a throwaway trackkit local store (``trackkit.init`` / ``log``) and into MLflow
(its client's ``create_run`` / ``log_batch`` into SQLite, in a child process at the same time), at the
scale the round-2 decisions set for comparisons with MLflow: RUNS runs of a 3-key config sweep
(``lr``, ``seed``, ``layers``) with a ``loss`` summary metric, and CHART_RUNS runs of STEPS steps of
``loss``. Then starts ``trackkit ui --no-browser`` and ``mlflow server --workers 1`` (SQLite backend) as
real processes and, for each view, loads it in a fresh browser context (cold browser: no cache, no
storage) against the warm server; the first load of each view is a warm-up that also counts the bytes,
the next REPEATS loads are timed, trackkit and MLflow interleaved.

- **runs table**: from navigation until the first row of the UI's default order is visible
  (trackkit ``#/projects/bench``, oldest first: ``sweep-00000``; MLflow's experiment page in its
  "model training" mode, newest first: the last run).
- **chart**: until the chart of the CHART_RUNS runs' ``loss`` is drawn (trackkit: the project view with
  those runs selected, the chart's data in ``window.__trackkit`` and its canvas in the page; MLflow: the
  experiment's chart mode, a Plotly chart whose traces hold points of every run and whose SVG lines are
  drawn), plus one animation frame. MLflow draws at most 10 runs there by default and samples each run
  to 320 points (``get-history-bulk-interval``); trackkit draws its min/max buckets. Both are reported.
- **MLflow's metric page** (``#/metric``, its only per-metric chart page): also timed; it fetches every
  point of every run (``get-history``) and still draws 320 per run.
- **bytes**: every response body the page received, by Chromium's resource type (uncompressed); "JS+CSS"
  is ``script`` + ``stylesheet``.

Prints one JSON line: the figures (median and min of the repeats, ms), the ratios MLflow / trackkit and
the load average before and after. Without MLflow installed (``pip install mlflow==3.17.2``, the pin of
tox's bench env) only trackkit is measured and ``mlflow.status`` says why.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "ui"))

VIEWPORT = {"width": 1280, "height": 900}
NEXT_FRAME = "() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(0))))"
MLFLOW_PIN = "mlflow==3.17.2"
MLFLOW_CHART_MAX_RUNS = 10  # MLflow's chart mode shows the first 10 runs unless the user picks others


# -- the data, the same for both ------------------------------------------------------------------
def sweep(index: int) -> tuple[str, dict[str, Any], float]:
    """Name, config and summary loss of the index-th run of the sweep."""
    return f"sweep-{index:05d}", {"lr": 10 ** -(1 + index % 5), "seed": index, "layers": index % 7}, 1.0 / (index + 1)


def curve(index: int, step: int, steps: int) -> float:
    return math.exp(-step / steps * (index + 1)) + 0.01 * math.sin(step)


def fill_trackkit(root: Path, runs: int, chart_runs: int, steps: int) -> list[str]:
    """The runs through trackkit's public API; returns the ids of the chart runs."""
    import trackkit

    for index in range(runs):
        name, config, loss = sweep(index)
        run = trackkit.init(project="bench", dir=root, name=name, config=config)
        trackkit.log({"loss": loss})
        run.finish()
    ids = []
    for index in range(chart_runs):
        run = trackkit.init(project="curves", dir=root, name=f"curve-{index:02d}", config={"lr": 0.001 * (index + 1)})
        for step in range(steps):
            trackkit.log({"loss": curve(index, step, steps)})
        run.finish()
        ids.append(run.id)
    return ids


def fill_mlflow(uri: str, artifacts: str, runs: int, chart_runs: int, steps: int) -> dict[str, Any]:
    """The same runs through MLflow's client (one ``log_batch`` per run, 1,000 points per batch, its limit)."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    bench = client.create_experiment("bench", artifact_location=artifacts)
    now = int(time.time() * 1000)
    for index in range(runs):
        name, config, loss = sweep(index)
        run_id = client.create_run(bench, run_name=name).info.run_id
        client.log_batch(run_id, metrics=[Metric("loss", loss, now, 0)], params=[Param(k, repr(v)) for k, v in config.items()])
        client.set_terminated(run_id)
    curves = client.create_experiment("curves", artifact_location=artifacts)
    ids = []
    for index in range(chart_runs):
        run_id = client.create_run(curves, run_name=f"curve-{index:02d}").info.run_id
        client.log_batch(run_id, params=[Param("lr", repr(0.001 * (index + 1)))])
        for start in range(0, steps, 1000):
            client.log_batch(run_id, metrics=[Metric("loss", curve(index, step, steps), now + step, step)
                                              for step in range(start, min(start + 1000, steps))])
        client.set_terminated(run_id)
        ids.append(run_id)
    import mlflow

    return {"bench": bench, "curves": curves, "ids": ids, "version": mlflow.__version__}


# -- MLflow's server ------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MlflowUi:
    """``mlflow server`` (its UI and REST API) over a SQLite file, one worker, in its own process group."""

    def __init__(self, uri: str, artifacts: str, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log.open("wb")
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.process = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
                                         "--default-artifact-root", artifacts, "--host", "127.0.0.1",
                                         "--port", str(self.port), "--workers", "1"],
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(self.url + "health", timeout=2).read()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"mlflow server did not start; see {log}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the server and the uvicorn process it spawns
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


# -- the browser ----------------------------------------------------------------------------------
def _trackkit_chart_ready(runs: int) -> str:
    return ("() => { const c = window.__trackkit && window.__trackkit.charts.loss;"
            f" return !!c && c.runs.length === {runs} && !!document.querySelector(\".chart-card[data-metric='loss'] canvas\"); }}")


def _plotly_ready(runs: int) -> str:
    """A Plotly chart with points of ``runs`` runs in its data and as many non-empty SVG lines."""
    return ("() => [...document.querySelectorAll('.js-plotly-plot')].some((gd) => {"
            " const names = new Set((gd.data || []).filter((t) => (t.x || []).length > 0).map((t) => t.name));"
            " const lines = [...gd.querySelectorAll('.scatterlayer .trace path.js-line')]"
            "   .filter((p) => (p.getAttribute('d') || '').length > 10).length;"
            f" return names.size >= {runs} && lines >= {runs}; }})")


PLOTLY_POINTS = ("() => { const gd = document.querySelector('.js-plotly-plot'); const seen = new Map();"
                 " for (const t of gd.data || []) if (!seen.has(t.name)) seen.set(t.name, (t.x || []).length);"
                 " return [...seen.values()].reduce((a, b) => a + b, 0); }")


def _request_ms(part: str) -> str:
    """From the start of the first to the end of the last of the page's requests whose URL contains ``part``
    (the data requests of a chart, which may run in parallel): the server's share of the view."""
    return (f"(() => {{ const e = performance.getEntriesByType('resource').filter((e) => e.name.includes({json.dumps(part)}));"
            " return e.length ? Math.round(Math.max(...e.map((x) => x.responseEnd)) - Math.min(...e.map((x) => x.startTime)))"
            " : null; })()")


def visit(browser: Any, url: str, ready: Callable[[Any], None], probes: dict[str, str] | None = None,
          count_bytes: bool = False) -> dict[str, Any]:
    """Load ``url`` in a fresh context; ms from navigation until ``ready`` returns and a frame has passed."""
    from playwright.sync_api import Error

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    responses: list[Any] = []
    page.on("response", lambda response: responses.append(response))
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    ready(page)
    page.evaluate(NEXT_FRAME)
    out: dict[str, Any] = {"ms": round((time.perf_counter() - started) * 1000, 1)}
    for name, expression in (probes or {}).items():
        out[name] = page.evaluate(expression)
    if count_bytes:
        try:  # lazily loaded chunks that follow the first paint count too
            page.wait_for_load_state("networkidle", timeout=15_000)
        except Error:
            pass
        sizes: dict[str, int] = {}
        for response in responses:
            try:
                body = response.body()
            except Error:  # redirects and aborted requests have no body
                continue
            kind = response.request.resource_type
            sizes[kind] = sizes.get(kind, 0) + len(body)
        out["bytes"] = dict(sorted(sizes.items()))
        out["js_css_bytes"] = sizes.get("script", 0) + sizes.get("stylesheet", 0)
    context.close()
    return out


def _text_visible(name: str) -> Callable[[Any], None]:
    return lambda page: page.get_by_text(name, exact=True).first.wait_for(state="visible", timeout=180_000)


def _function(expression: str) -> Callable[[Any], None]:
    return lambda page: page.wait_for_function(expression, timeout=180_000, polling="raf")


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "min": min(values)} if values else {}


def measure(views: dict[str, dict[str, tuple[str, Callable[[Any], None], dict[str, str]]]], repeats: int) -> dict[str, Any]:
    """views[ui][view] = (url, ready, probes). A warm-up load of each (bytes counted), then ``repeats``
    timed loads of each, the UIs interleaved."""
    from playwright.sync_api import sync_playwright
    from ui_support import CHROMIUM, CHROMIUM_ARGS

    results: dict[str, dict[str, Any]] = {ui: {} for ui in views}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for ui, by_view in views.items():
                for view, (url, ready, probes) in by_view.items():
                    warm = visit(browser, url, ready, probes, count_bytes=True)
                    results[ui][view] = {"warmup_ms": warm.pop("ms"), **warm, "ms": []}
            for _ in range(repeats):
                for ui, by_view in views.items():
                    for view, (url, ready, probes) in by_view.items():
                        timed = visit(browser, url, ready, probes)
                        results[ui][view]["ms"].append(timed.pop("ms"))
                        results[ui][view].update(timed)  # the probes of the last load
        finally:
            browser.close()
    for figures_by_view in results.values():
        for figures in figures_by_view.values():
            figures["ms"] = {**_summary(figures["ms"]), "all": figures["ms"]}
    return results


# -- the plan -------------------------------------------------------------------------------------
def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _mlflow_child(args: argparse.Namespace, workdir: Path) -> subprocess.Popen[str] | str:
    """The MLflow fill in a child process (it runs while trackkit's fill runs here), or why not."""
    probe = subprocess.run([sys.executable, "-c", "import mlflow"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"not installed (pip install {MLFLOW_PIN})"
    command = [sys.executable, __file__, "--fill-mlflow", str(workdir), "--runs", str(args.runs),
               "--chart-runs", str(args.chart_runs), "--steps", str(args.steps)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from ui_support import UiServer

    load_before = os.getloadavg()
    started = time.perf_counter()
    child = _mlflow_child(args, workdir)
    ids = fill_trackkit(workdir / "trackkit", args.runs, args.chart_runs, args.steps)
    fill = {"trackkit": round(time.perf_counter() - started, 1)}
    mlflow_info: dict[str, Any] = {"status": child} if isinstance(child, str) else {}
    if not isinstance(child, str):
        stdout, stderr = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"the MLflow fill failed:\n{stderr[-3000:]}")
        mlflow_info = json.loads(stdout.strip().splitlines()[-1])
        fill["mlflow"] = round(time.perf_counter() - started, 1)

    first, last = sweep(0)[0], sweep(args.runs - 1)[0]
    trackkit_ui = UiServer(workdir / "trackkit")
    servers: list[Any] = [trackkit_ui]
    try:
        views: dict[str, dict[str, tuple[str, Callable[[Any], None], dict[str, str]]]] = {"trackkit": {
            "table": (trackkit_ui.url + "#/projects/bench", _text_visible(first), {}),
            "chart": (trackkit_ui.url + "#/projects/curves?sel=" + ",".join(ids), _function(_trackkit_chart_ready(len(ids))),
                      {"points_drawn": "window.__trackkit.charts.loss.drawn", "points_total": "window.__trackkit.charts.loss.total",
                       "data_requests_ms": _request_ms("/api/v1/sample")}),
        }}
        if mlflow_info.get("ids"):
            mlflow_ui = MlflowUi(f"sqlite:///{workdir / 'mlflow.db'}", (workdir / "mlartifacts").as_uri(),
                                 workdir / "mlflow-server.log")
            servers.append(mlflow_ui)
            shown = min(len(mlflow_info["ids"]), MLFLOW_CHART_MAX_RUNS)
            runs_page = f"{mlflow_ui.url}#/experiments/%s/runs?workflowType=machine_learning"
            metric_query = urllib.parse.urlencode({"runs": json.dumps(mlflow_info["ids"]), "metric": '"loss"',
                                                   "experiments": json.dumps([mlflow_info["curves"]]),
                                                   "plot_metric_keys": '["loss"]', "x_axis": "step", "line_smoothness": "0"})
            views["mlflow"] = {
                "table": (runs_page % mlflow_info["bench"], _text_visible(last), {}),
                "chart": (runs_page % mlflow_info["curves"] + "&compareRunsMode=CHART", _function(_plotly_ready(shown)),
                          {"points_drawn": PLOTLY_POINTS, "data_requests_ms": _request_ms("get-history-bulk-interval")}),
                "metric_page": (f"{mlflow_ui.url}#/metric?{metric_query}", _function(_plotly_ready(len(mlflow_info["ids"]))),
                                {"points_drawn": PLOTLY_POINTS, "data_requests_ms": _request_ms("metrics/get-history")}),
            }
        trackkit_ui.request("GET", "/api/v1/projects/bench/runs?limit=50")  # a warm server, as the UI's user has
        results = measure(views, args.repeats)
    finally:
        for server in servers:
            server.stop()

    tk, ml = results["trackkit"], results.get("mlflow", {})
    out: dict[str, Any] = {
        "runs": args.runs, "chart_runs": args.chart_runs, "steps": args.steps, "repeats": args.repeats, "fill_s": fill,
        "trackkit": tk, "mlflow": {**{k: v for k, v in mlflow_info.items() if k in ("version", "status")}, **ml},
    }
    if ml:
        out["mlflow"]["chart_runs_shown"] = shown
        out["ratios_mlflow_over_trackkit"] = {
            "table_first_paint": _ratio(ml["table"]["ms"]["median"], tk["table"]["ms"]["median"]),
            "chart": _ratio(ml["chart"]["ms"]["median"], tk["chart"]["ms"]["median"]),
            "chart_vs_metric_page": _ratio(ml["metric_page"]["ms"]["median"], tk["chart"]["ms"]["median"]),
            "js_css_bytes_table": _ratio(ml["table"]["js_css_bytes"], tk["table"]["js_css_bytes"]),
            "js_css_bytes_chart": _ratio(ml["chart"]["js_css_bytes"], tk["chart"]["js_css_bytes"]),
        }
    out["load_average"] = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    out["command"] = " ".join(["python", "scripts/bench_ui_mlflow.py", *sys.argv[1:]])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="runs of the sweep (default 1,000; 200 with --quick)")
    parser.add_argument("--chart-runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=None, help="steps of each chart run (default 10,000; 2,000 with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timed loads of each view (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a small run for development, a few minutes")
    parser.add_argument("--workdir", help="fill here (an empty folder) and keep it; default: a temporary folder, removed")
    parser.add_argument("--fill-mlflow", metavar="WORKDIR", help=argparse.SUPPRESS)  # the child that fills MLflow
    args = parser.parse_args()
    args.runs = args.runs or (200 if args.quick else 1000)
    args.steps = args.steps or (2000 if args.quick else 10_000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    os.environ.setdefault("TRACKKIT_SILENT", "1")
    if args.fill_mlflow:
        workdir = Path(args.fill_mlflow)
        info = fill_mlflow(f"sqlite:///{workdir / 'mlflow.db'}", (workdir / "mlartifacts").as_uri(),
                           args.runs, args.chart_runs, args.steps)
        print(json.dumps(info))
        return 0
    # /dev/shm when there is one: filling is not what is measured, and SQLite's per-commit fsync would
    # make MLflow's fill several times slower on a disk; the UIs read from the page cache either way.
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="trackkit-ui-mlflow-", dir=shm))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(json.dumps(run(args, workdir)))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
