"""Helpers of the browser tests: the store they look at, the ``trackkit ui`` process, waiting for views."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("UI_ARTIFACTS") or Path(__file__).resolve().parents[2] / "build" / "ui-artifacts")
XSS_NAME = "<img src=x onerror=alert(1)>"
SPIKE = 1000.0
STEPS = 3000
LRS = [0.1, 0.03, 0.01, 0.003]
SWEEP_RUNS = 12


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fill_store(root: Path) -> dict[str, Any]:
    """Log real runs: four learning rates (one with a loss spike at step 1234), a run named like an
    HTML tag, and a run whose last loss is NaN. Returns what the tests check against."""
    import trackkit

    runs: dict[str, Any] = {}
    for index, lr in enumerate(LRS):
        run = trackkit.init(project="demo", dir=root, name=f"lr-{lr}", config={"lr": lr, "batch": 32, "optim": {"name": "adam"}},
                            tags=["sweep"])
        for step in range(STEPS):
            loss = math.exp(-step * lr / 10) + (SPIKE if index == 0 and step == 1234 else 0.0)
            trackkit.log({"loss": loss, "score": math.sin(step / 100), "epoch": step // 1000})
        run.finish()
        runs[run.name] = {"id": run.id, "lr": lr}
    run = trackkit.init(project="demo", dir=root, name=XSS_NAME, config={"lr": 0.5, "batch": 32}, tags=["<b>bold</b>"],
                        notes="<script>alert(2)</script>")
    trackkit.log({"loss": 2.0})
    run.finish()
    runs[XSS_NAME] = {"id": run.id, "lr": 0.5}
    run = trackkit.init(project="demo", dir=root, name="diverged", config={"lr": 3.0, "batch": 32})
    trackkit.log({"loss": 1.0})
    trackkit.log({"loss": float("nan")})
    run.finish()
    runs["diverged"] = {"id": run.id, "lr": 3.0}
    for index in range(SWEEP_RUNS):  # a sweep big enough for parameter importance: loss follows lr only
        lr = 10 ** -(1 + index / 3)
        run = trackkit.init(project="sweep", dir=root, config={"lr": lr, "seed": index * 5 % SWEEP_RUNS,
                                                                     "dropout": (index * 7 % 5) / 10})
        trackkit.log({"loss": -math.log10(lr) + 0.01 * (index % 3)})
        run.finish()
    return runs


class UiServer:
    """A ``trackkit ui`` process (or, with ``script``, a Python script serving the app on ``sys.argv[2]``)."""

    def __init__(self, store: Path, *extra: str, script: str | None = None) -> None:
        self.port = _free_port()
        env = {**os.environ, "TRACKKIT_SILENT": "1"}
        env.pop("TRACKKIT_DIR", None)
        ui = [sys.executable, "-m", "trackkit", "ui", "--store", str(store), "--no-browser", "--port", str(self.port), *extra]
        command = [sys.executable, "-c", script, str(store), str(self.port)] if script else ui
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self.process.stdout is not None
        if script:
            self.url = f"http://127.0.0.1:{self.port}/"
        else:
            line = self.process.stdout.readline()
            if "http://127.0.0.1:" not in line:
                self.process.kill()
                error = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"trackkit ui did not print its URL: {line!r} {error}")
            self.url = line.strip().rsplit(" ", 1)[-1]
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(self.url + "healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.process.kill()
                    raise
                time.sleep(0.1)

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
                token: str | None = None) -> tuple[int, dict[str, str], Any]:
        """A JSON request to the server: (status, headers, decoded body)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                status, headers, text = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, headers, text = error.code, dict(error.headers), error.read()
        return status, {k.lower(): v for k, v in headers.items()}, json.loads(text) if text else None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()



def open_view(pg: Any, hash_: str) -> None:
    """Go to a view and wait until it has rendered."""
    pg.goto(pg.base + hash_)
    pg.wait_for_selector("body[data-ready='1']")


def wait_charts(pg: Any, metric: str = "loss") -> dict[str, Any]:
    """Wait for a chart of ``metric`` and return what it was given."""
    pg.wait_for_function(f"() => window.__trackkit && window.__trackkit.charts[{json.dumps(metric)}]")
    return pg.evaluate(f"window.__trackkit.charts[{json.dumps(metric)}]")


def screenshot(pg: Any, name: str) -> Path:
    """Keep a screenshot of a passing test too (the README's pictures come from here)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
