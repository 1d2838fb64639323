"""Live charts in headless Chromium: a poll fetches samples again only for runs that logged since the
last draw (one request for all of them); a finished run, or a running one that is paused, is not
sampled again, and the running run still gains points without a reload."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from ui_support import open_view, wait_charts

SCRIPT = textwrap.dedent("""
    import os, sys, time, trackkit
    root, flags, project = sys.argv[1], sys.argv[2], sys.argv[3]
    run = trackkit.init(project=project, dir=root, name="live-run")
    for step in range(30):
        trackkit.log({"loss": 1.0 / (step + 1)})
    print(run.id, flush=True)
    while not os.path.exists(os.path.join(flags, "go")):  # paused: alive, no new rows
        time.sleep(0.05)
    for step in range(30, 60):
        trackkit.log({"loss": 1.0 / (step + 1)})
    while not os.path.exists(os.path.join(flags, "stop")):
        time.sleep(0.05)
    run.finish()
""")


def _summary_loss(root: Path, run_id: str, project: str = "live-poll") -> Any:
    from trackkit._local_store import LocalStore

    return LocalStore(str(root)).read_run(project, run_id)["summary"].get("values", {}).get("loss")


def _wait(pg: Any, until: Any, polls: list[str], what: str) -> None:
    """Let the page run until `until()` holds (checked between Chromium's own turns)."""
    for _ in range(600):
        if until():
            return
        pg.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}; polls seen: {len(polls)}")


def test_live_charts_sample_only_the_runs_that_logged(page: Any, store: Any, tmp_path: Path) -> None:
    import trackkit

    root, _ = store
    done = trackkit.init(project="live-poll", dir=root, name="done-run")
    trackkit.log({"loss": 5.0})
    trackkit.log({"loss": 4.0})
    done.finish()
    env = {**os.environ, "TRACKKIT_SILENT": "1", "TRACKKIT_FLUSH_INTERVAL": "0.2"}
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(root), str(tmp_path), "live-poll"], stdout=subprocess.PIPE, text=True, env=env
    )
    sampled: list[list[str]] = []  # the runs of each POST /sample, in order
    keyed: list[list[str]] = []
    polls: list[str] = []

    def on_request(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/api/v1/sample"):
            sampled.append(["/".join(r) for r in request.post_data_json["runs"]])
        elif request.method == "POST" and request.url.endswith("/api/v1/keys"):
            keyed.append(["/".join(r) for r in request.post_data_json["runs"]])
        elif request.method == "GET" and "/api/v1/projects/live-poll/runs" in request.url:
            polls.append(request.url)

    try:
        assert process.stdout is not None
        run_id = process.stdout.readline().strip()
        live, finished = f"live-poll/{run_id}", f"live-poll/{done.id}"
        # the 30 rows are on disk before the page opens, so the first draw has them all
        _wait(page, lambda: _summary_loss(root, run_id) == 1.0 / 30, polls, "the run's first rows on disk")
        page.on("request", on_request)
        open_view(page, f"#/projects/live-poll?sel={run_id},{done.id}")
        first = wait_charts(page, "loss")["total"]
        assert first == 32
        assert sampled == [[live, finished]]  # the first draw: one request for both runs
        page.evaluate("window.__notReloaded = true")

        # paused: several polls of the table, no sample or keys request at all
        start = len(polls)
        _wait(page, lambda: len(polls) >= start + 3, polls, "three polls while paused")
        assert sampled == [[live, finished]], sampled
        assert keyed == [[live, finished]], keyed

        # logging again: the running run gains its points; only it is sampled, once per poll at most
        (tmp_path / "go").touch()
        page.wait_for_function("() => window.__trackkit.charts.loss && window.__trackkit.charts.loss.total === 62", timeout=30_000)
        assert page.evaluate("window.__notReloaded") is True
        assert len(sampled) >= 2
        assert all(runs == [live] for runs in sampled[1:]), sampled
        assert page.locator(".chart-card[data-metric='loss'] canvas").count() == 1

        # paused again once its rows are drawn: the polls that follow sample nothing more
        _wait(page, lambda: _summary_loss(root, run_id) == 1.0 / 60, polls, "the rows on disk")
        settled = len(polls)
        _wait(page, lambda: len(polls) >= settled + 2, polls, "two polls")
        count = len(sampled)
        start = len(polls)
        _wait(page, lambda: len(polls) >= start + 3, polls, "three more polls while paused")
        assert len(sampled) == count, sampled[count:]

        # finished: the last poll draws its final state once, and the polling stops
        (tmp_path / "stop").touch()
        page.wait_for_function(
            f"() => document.querySelector(\"tr[data-run='{run_id}'] .state\").textContent === 'finished'", timeout=30_000
        )
        print(f"\nsample requests: {len(sampled)} over {len(polls)} polls of the table: {sampled}")
    finally:
        (tmp_path / "go").touch()
        (tmp_path / "stop").touch()
        process.wait(30)


def test_the_run_page_samples_a_paused_run_no_more(page: Any, store: Any, tmp_path: Path) -> None:
    """The run page polls its run document: while the run logs nothing, no sample request is made;
    once it logs, its chart gains the points without a reload."""
    root, _ = store
    env = {**os.environ, "TRACKKIT_SILENT": "1", "TRACKKIT_FLUSH_INTERVAL": "0.2"}
    cmd = [sys.executable, "-c", SCRIPT, str(root), str(tmp_path), "live-page"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    sampled: list[list[str]] = []
    polls: list[str] = []

    def on_request(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/api/v1/sample"):
            sampled.append(["/".join(r) for r in request.post_data_json["runs"]])
        elif request.method == "GET" and request.url.endswith(f"/api/v1/projects/live-page/runs/{run_id}"):
            polls.append(request.url)

    try:
        assert process.stdout is not None
        run_id = process.stdout.readline().strip()
        _wait(page, lambda: _summary_loss(root, run_id, "live-page") == 1.0 / 30, polls, "the run's first rows on disk")
        page.on("request", on_request)
        open_view(page, f"#/projects/live-page/runs/{run_id}")
        assert wait_charts(page, "loss")["total"] == 30
        page.evaluate("window.__notReloaded = true")
        start = len(polls)
        _wait(page, lambda: len(polls) >= start + 3, polls, "three polls while paused")
        assert sampled == [[f"live-page/{run_id}"]]
        (tmp_path / "go").touch()
        page.wait_for_function("() => window.__trackkit.charts.loss.total === 60", timeout=30_000)
        assert page.evaluate("window.__notReloaded") is True
        assert all(runs == [f"live-page/{run_id}"] for runs in sampled)
    finally:
        (tmp_path / "go").touch()
        (tmp_path / "stop").touch()
        process.wait(30)
