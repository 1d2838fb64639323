"""Time the runs table of the web UI alone, repeated, in headless Chromium (figures, not tests).

    python scripts/bench_runs_table.py --runs 10000 --repeat 5
    python scripts/bench_runs_table.py --store /tmp/filled-store --repeat 5
    python scripts/bench_runs_table.py --store postgresql://postgres@127.0.0.1/db --repeat 5

Fills a throwaway store with RUNS short runs of project ``bench`` (a config sweep: lr, seed, layers;
one summary key) unless ``--store`` names one filled before (a folder or a PostgreSQL URL), serves it
with a real ``trackkit ui`` process, warms the server, then REPEAT times in a fresh browser context:
first paint of the table, a sort by ``config.seed`` (ascending, then descending) and a filter. Prints
one JSON line with the median and the minimum of each (wall time around Playwright's action, and
in-page time from the user's event, or from navigation start for the first paint), the HTTP requests
the first paint made, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "ui"))

#: The tracking server's app over PostgreSQL, as ``trackkit server --store postgresql://...`` serves it (one worker).
SERVE_POSTGRES = """
import sys, tempfile, uvicorn
from trackkit.server.app import create_app
from trackkit.server.postgres_store import PostgresStore
app = create_app(PostgresStore(sys.argv[1], files_dir=tempfile.mkdtemp()))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""
FIRST_PAINT = "() => document.querySelectorAll('#runs-table tbody tr').length > 0"
# a sort is done when the rows are: the header's arrow is drawn with the new rows, and a descending sort by
# seed puts the last run first (the first run is first already in the default order)
SORTED = "() => document.querySelector(\"button.sort[data-field='config.seed']\")?.textContent.includes('▲')"
SORTED_DOWN = ("() => document.querySelector(\"button.sort[data-field='config.seed']\")?.textContent.includes('▼') && "
               "document.querySelector(\"#runs-table tbody td[data-column='config.seed']\")?.textContent === '{last}'")
FILTERED = ("() => location.hash.includes('q=') && document.querySelector('.pager .count')?.textContent.includes(' of ')"
            " && !document.querySelector('.pager .count').textContent.includes(' of {total} ')")


def fill(root: Path, runs: int) -> None:
    import trackkit

    for index in range(runs):
        run = trackkit.init(project="bench", dir=root, config={"lr": 10 ** -(1 + index % 5), "seed": index, "layers": index % 7})
        trackkit.log({"loss": 1.0 / (index + 1)})
        run.finish()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--store", help="a store filled before (folder or URL)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("TRACKKIT_SILENT", "1")
    from playwright.sync_api import sync_playwright
    from ui_support import CHROMIUM, CHROMIUM_ARGS, UiServer

    store = args.store or tempfile.mkdtemp(prefix="trackkit-table-bench-")
    if not args.store:
        fill(Path(store), args.runs)
    postgres = store.startswith(("postgresql://", "postgres://"))
    server = UiServer(store, script=SERVE_POSTGRES if postgres else None)  # type: ignore[arg-type]
    total = server.request("GET", "/api/v1/projects/bench/runs?limit=0")[2]["total"]
    names = ("first_paint_ms", "sort_ms", "sort_descending_ms", "filter_ms")
    times: dict[str, list[float]] = {key: [] for name in names for key in (name, name + "_in_page")}
    requests: list[str] = []
    load = [os.getloadavg()[0]]
    try:
        for order in ("", "config.seed", ""):  # warm the server (the store's caches), as a running UI is
            server.request("GET", f"/api/v1/projects/bench/runs?limit=50&order={order}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for attempt in range(args.repeat):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                seen: list[str] = []
                page.on("request", lambda r, seen=seen: seen.append(r.method + " " + r.url.split("/", 3)[-1]))

                def timed(page: Any, name: str, action: str, argument: str, condition: str) -> None:
                    """Wall time from Playwright's action (its own checks included, as bench_ui.py measures)
                    and in-page time from the user's event (first paint: from navigation start)."""
                    if action != "goto":
                        page.evaluate("() => { for (const kind of ['click', 'keydown']) document.addEventListener(kind, "
                                      "() => { window.__event = performance.now(); }, { capture: true, once: true }); }")
                    t0 = time.perf_counter()
                    getattr(page, action)(*argument.split(" ", 1)) if action == "press" else getattr(page, action)(argument)
                    page.wait_for_function(condition, timeout=120_000, polling="raf")
                    times[name].append(round((time.perf_counter() - t0) * 1000, 1))
                    since = "performance.now()" if action == "goto" else "performance.now() - window.__event"
                    times[name + "_in_page"].append(round(page.evaluate(since), 1))

                timed(page, "first_paint_ms", "goto", server.url + "#/projects/bench?sel=-", FIRST_PAINT)
                if attempt == 0:
                    requests = list(seen)
                timed(page, "sort_ms", "click", "button.sort[data-field='config.seed']", SORTED)
                timed(page, "sort_descending_ms", "click", "button.sort[data-field='config.seed']",
                      SORTED_DOWN.replace("{last}", str(total - 1)))
                page.fill("#filter", "config.layers=3, config.lr<0.01")
                timed(page, "filter_ms", "press", "#filter Enter", FILTERED.replace("{total}", str(total)))
                page.fill("#filter", "")
                page.press("#filter", "Enter")
                page.wait_for_function("() => !location.hash.includes('q=')")
                context.close()
                load.append(os.getloadavg()[0])
            browser.close()
    finally:
        server.stop()
    figures: dict[str, object] = {"runs": total, "repeat": args.repeat}
    for name, values in times.items():
        figures[name] = {"median": round(statistics.median(values), 1), "min": min(values), "all": values}
    figures["first_paint_requests"] = requests
    figures["load_average"] = [round(min(load), 2), round(max(load), 2)]
    figures["store"] = store
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
