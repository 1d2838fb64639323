"""A real ``trackkit server`` process for the tests: started on a free port, waited for, killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """``python -m trackkit server --store <store> --port <port>`` as a child process."""

    def __init__(self, store: str | None, *, port: int | None = None, env: dict[str, str] | None = None,
                 log: Path | None = None, extra: tuple[str, ...] = ()) -> None:
        self.store = store
        self.port = port or free_port()
        self.env = {**os.environ, "TRACKKIT_SILENT": "1", **(env or {})}
        self.log = log
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        args = [sys.executable, "-m", "trackkit", "server", "--port", str(self.port), "--no-ui", *self.extra]
        if self.store:
            args += ["--store", self.store]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
        cwd = self.log.parent if self.log else None  # ./trackkit-files and the like land beside the log, not in the repo
        self.process = subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trackkit server exited with {self.process.returncode}"
                                   + (f"; see {self.log}: {self.log.read_text()[-2000:]}" if self.log else ""))
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"trackkit server did not answer on {self.url} within {timeout} s")

    def kill(self) -> None:
        """``kill -9``: no shutdown of any kind."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        try:
            return requests.get(self.url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False
