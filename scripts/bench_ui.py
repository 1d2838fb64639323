"""Time the web UI in headless Chromium over a real ``trackkit ui`` process (figures, not tests).

    python scripts/bench_ui.py --runs 1000 --chart-runs 20 --steps 100000

Fills a throwaway store (RUNS short runs with a config sweep, CHART_RUNS runs of STEPS steps), then
measures: first paint of the runs table (fresh browser context, warm server), a sort, a filter, and
the charts of CHART_RUNS runs fetched and drawn. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "ui"))


def fill(root: Path, runs: int, chart_runs: int, steps: int) -> list[str]:
    import trackkit

    for index in range(runs):
        run = trackkit.init(project="bench", dir=root, config={"lr": 10 ** -(1 + index % 5), "seed": index, "layers": index % 7})
        trackkit.log({"loss": 1.0 / (index + 1)})
        run.finish()
    ids = []
    for index in range(chart_runs):
        run = trackkit.init(project="curves", dir=root, config={"lr": 0.001 * (index + 1)})
        for step in range(steps):
            trackkit.log({"loss": math.exp(-step / steps * (index + 1)) + 0.01 * math.sin(step)})
        run.finish()
        ids.append(run.id)
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--chart-runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--store", help="reuse a store filled by an earlier run of this script")
    args = parser.parse_args()
    os.environ.setdefault("TRACKKIT_SILENT", "1")
    from playwright.sync_api import sync_playwright
    from ui_support import CHROMIUM, CHROMIUM_ARGS, UiServer

    root = Path(args.store or tempfile.mkdtemp(prefix="trackkit-ui-bench-"))
    started = time.perf_counter()
    if args.store and (root / "curves").exists():
        import trackkit

        ids = [r.id for r in trackkit.Api(root).runs("curves")]
    else:
        ids = fill(root, args.runs, args.chart_runs, args.steps)
    fill_s = time.perf_counter() - started
    server = UiServer(root)
    total_runs = server.request("GET", "/api/v1/projects/bench/runs?limit=0")[2]["total"]
    figures: dict[str, float | int | str] = {"runs": total_runs, "chart_runs": len(ids), "fill_s": round(fill_s, 1),
                                             "load_average": os.getloadavg()[0]}
    try:
        for order in ("", "config.seed"):  # warm the server (the store's caches), as a running UI is
            server.request("GET", f"/api/v1/projects/bench/runs?limit=50&order={order}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

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
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            sel = ",".join(ids)
            figures["chart_ms"] = timed(lambda: page.goto(server.url + f"#/projects/curves?sel={sel}"),
                                        f"() => window.__trackkit && window.__trackkit.charts.loss && "
                                        f"window.__trackkit.charts.loss.runs.length === {len(ids)}")
            figures["chart_points_drawn"] = page.evaluate("window.__trackkit.charts.loss.drawn")
            figures["chart_points_total"] = page.evaluate("window.__trackkit.charts.loss.total")
            for name in ("keys", "sample"):  # the server's share of chart_ms
                figures[f"chart_{name}_request_ms"] = page.evaluate(
                    f"Math.round(performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/v1/{name}'))"
                    ".reduce((t, e) => t + e.duration, 0))")
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
