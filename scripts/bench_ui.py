"""Time the web UI in headless Chromium over a real ``trackkit ui`` process (figures, not tests).

    python scripts/bench_ui.py --runs 1000 --chart-runs 100 --steps 100000 [--store DIR] [--repeat 3]

Fills a throwaway store (RUNS short runs with a config sweep, CHART_RUNS runs of STEPS steps), then
measures: first paint of the runs table (fresh browser context, warm server), a sort, a filter, the
chart of CHART_RUNS runs fetched and drawn (a fresh browser context each time; the first one is the
server's cold read of the run indexes) and a zoom into a tenth of its x range (finer buckets fetched
and drawn). Prints one JSON line; chart and zoom figures are the median of ``--repeat`` tries.

The curves are written through the local store's own sink (``LocalStore.open_run`` /
``append_history``: the same files and history index that ``trackkit.log`` produces, 10 M points in a
few minutes instead of an hour), two processes at a time. ``--store DIR`` keeps the store for the next
measurement.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "ui"))


def fill(root: Path, runs: int, chart_runs: int, steps: int) -> list[str]:
    import trackkit

    for index in range(runs):
        run = trackkit.init(project="bench", dir=root, config={"lr": 10 ** -(1 + index % 5), "seed": index, "layers": index % 7})
        trackkit.log({"loss": 1.0 / (index + 1)})
        run.finish()
    ids = [f"c{index:04d}" for index in range(chart_runs)]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_curve, [root] * chart_runs, ids, range(chart_runs), [steps] * chart_runs))
    return ids


def _curve(root: Path, run_id: str, index: int, steps: int, batch: int = 10_000) -> None:
    """One run of the chart: ``steps`` rows of ``loss`` (a decay, a wiggle and one spike), written
    through the local store's sink as the run's writer would, history index included."""
    from trackkit._local_store import LocalStore

    sink, _ = LocalStore(str(root)).open_run("curves", run_id, resume=None)
    began = time.time()
    sink.write_meta({"id": run_id, "name": f"curve-{index}", "project": "curves", "state": "finished", "tags": [],
                     "notes": None, "group": None, "job_type": None, "created_at": began, "started_at": began,
                     "finished_at": began + steps * 0.01, "mode": "local", "writer_id": f"bench{index:011d}"})
    sink.write_config({"values": {"lr": 0.001 * (index + 1)}, "provenance": {"lr": "init"}, "changes": []})
    spike = (index * 7919) % steps
    last = 0.0
    for first in range(0, steps, batch):
        rows = []
        for step in range(first, min(first + batch, steps)):
            last = math.exp(-step / steps * (index + 1)) + 0.01 * math.sin(step) + (10.0 if step == spike else 0.0)
            rows.append({"loss": last, "_step": step, "_timestamp": began + step * 0.01, "_runtime": step * 0.01})
        sink.append_history(rows)
    sink.write_summary({"values": {"loss": last}, "explicit": [], "last_step": steps - 1})
    sink.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--chart-runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--store", help="reuse a store filled by an earlier run of this script (made if missing)")
    parser.add_argument("--repeat", type=int, default=3, help="charts and zooms measured this many times (median)")
    args = parser.parse_args()
    os.environ.setdefault("TRACKKIT_SILENT", "1")
    from playwright.sync_api import sync_playwright
    from ui_support import CHROMIUM, CHROMIUM_ARGS, UiServer

    root = Path(args.store or tempfile.mkdtemp(prefix="trackkit-ui-bench-"))
    started = time.perf_counter()
    if args.store and (root / "curves").exists():
        import trackkit

        ids = sorted(r.id for r in trackkit.Api(root).runs("curves"))
    else:
        ids = fill(root, args.runs, args.chart_runs, args.steps)
    fill_s = time.perf_counter() - started
    server = UiServer(root)
    total_runs = server.request("GET", "/api/v1/projects/bench/runs?limit=0")[2]["total"]
    figures: dict[str, Any] = {"runs": total_runs, "chart_runs": len(ids), "fill_s": round(fill_s, 1),
                                             "load_average": os.getloadavg()[0]}
    try:
        for order in ("", "config.seed"):  # warm the server (the store's caches), as a running UI is
            server.request("GET", f"/api/v1/projects/bench/runs?limit=50&order={order}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

            def zoom(page: Any, attempt: int) -> float:
                """Drag across a tenth of the chart (a different tenth each time): finer buckets fetched and drawn."""
                plot = page.locator(".chart-card[data-metric='loss'] .u-over")
                plot.scroll_into_view_if_needed()
                box = plot.bounding_box()
                left = box["x"] + box["width"] * (0.1 + 0.2 * (attempt % 4))
                y = box["y"] + box["height"] / 2
                page.evaluate("window.__trackkit.charts.loss.zoom = null")
                page.mouse.move(left, y)
                page.mouse.down()
                page.mouse.move(left + box["width"] * 0.1, y, steps=5)
                t0 = time.perf_counter()  # uPlot ends the selection (and the chart asks for buckets) on mouseup
                page.mouse.up()
                page.wait_for_function("() => window.__trackkit.charts.loss.zoom", timeout=120_000)
                return round((time.perf_counter() - t0) * 1000, 1)

            def timed(action, condition: str) -> float:
                t0 = time.perf_counter()
                action()
                page.wait_for_function(condition, timeout=120_000)
                return round((time.perf_counter() - t0) * 1000, 1)

            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            figures["table_first_paint_ms"] = timed(lambda: page.goto(server.url + "#/projects/bench?sel=-"),
                                                    "() => document.querySelectorAll('#runs-table tbody tr').length === 50")
            figures["sort_ms"] = timed(lambda: page.click("button.sort[data-field='config.seed']"),
                                       "() => location.hash.includes('order=config.seed') && document.querySelector("
                                       "\"#runs-table tbody td[data-column='config.seed']\")?.textContent === '0'")
            page.fill("#filter", "config.layers=3, config.lr<0.01")
            figures["filter_ms"] = timed(lambda: page.press("#filter", "Enter"),
                                         "() => document.querySelector('.pager .count').textContent.includes('of')"
                                         " && location.hash.includes('q=')")
            context.close()
            sel = ",".join(ids)
            charts: list[float] = []
            zooms: list[float] = []
            splits: list[dict[str, float]] = []  # the page's own split of each: fetch (request and JSON), draw
            zoom_splits: list[dict[str, float]] = []
            for attempt in range(max(args.repeat, 1)):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                charts.append(timed(lambda p=page: p.goto(server.url + f"#/projects/curves?sel={sel}"),
                                    f"() => window.__trackkit && window.__trackkit.charts.loss && "
                                    f"window.__trackkit.charts.loss.runs.length === {len(ids)}"))
                if attempt == 0:
                    figures["chart_cold_ms"] = charts[0]  # the server reads each run's index for the first time
                    figures["chart_points_drawn"] = page.evaluate("window.__trackkit.charts.loss.drawn")
                    figures["chart_points_total"] = page.evaluate("window.__trackkit.charts.loss.total")
                    for name in ("keys", "sample"):  # the server's share of chart_ms
                        figures[f"chart_{name}_request_ms"] = page.evaluate(
                            f"Math.round(performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/v1/{name}'))"
                            ".reduce((t, e) => t + e.duration, 0))")
                splits.append(page.evaluate("window.__trackkit.timing"))
                zooms.append(zoom(page, attempt))
                zoom_splits.append(page.evaluate("window.__trackkit.zoomTiming"))
                if attempt == 0:
                    figures["zoom_points_drawn"] = page.evaluate("window.__trackkit.charts.loss.zoom.drawn")
                    figures["zoom_sample_request_ms"] = page.evaluate(
                        "Math.round(performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/v1/sample'))"
                        ".slice(-1)[0].duration)")
                if attempt < args.repeat - 1:
                    context.close()
            figures["chart_ms"] = statistics.median(charts[1:] or charts)  # warm server, fresh browser
            figures["chart_ms_all"] = charts
            figures["zoom_ms"] = statistics.median(zooms)
            for name, parts in (("chart", splits[1:] or splits), ("zoom", zoom_splits)):
                for part in ("fetch", "draw"):
                    figures[f"{name}_{part}_ms"] = round(statistics.median(p[part] for p in parts), 1)
            figures["zoom_ms_all"] = zooms
            transferred = page.evaluate("performance.getEntriesByType('resource').filter(e => /\\.(js|css)$/.test(e.name))"
                                        ".reduce((n, e) => n + e.decodedBodySize, 0)")
            figures["ui_js_css_bytes"] = transferred
            context.close()
            browser.close()
    finally:
        server.stop()
    figures["store"] = str(root)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
