"""PostgreSQL gone for 20 s in the middle of a run: restarted (a private cluster of the test's own,
initdb + pg_ctl from Debian's packages) or unreachable (a TCP proxy in front of the shared server at
127.0.0.1:5432, cut and restored). The shared server itself is never stopped.

In both cases training goes on at its pace, /readyz answers 503 while the database is away, and once
it is back every row logged is in PostgreSQL exactly once, in order, and the run ends finished."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fault_proxy import TcpProxy
from faults_common import finish_training, pg_losses, pg_url, start_training
from server_process import ServerProcess, free_port

import trackkit

OUTAGE_S = 20.0
STEPS, RATE = 3_000, 100.0  # 30 s of training at 100 steps/s: the outage falls in the middle


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


class PrivateCluster:
    """A PostgreSQL cluster in a temporary directory on a free port, owned by the test (initdb refuses
    root: as root it runs as the ``postgres`` system user Debian's packages create)."""

    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="trackkit-pg-")
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "postgres.log")
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(self.root, self.user)
        os.chmod(self.root, 0o700)

    def _run(self, *args: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            log = Path(self.log).read_text()[-2000:] if os.path.exists(self.log) else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stdout}{done.stderr}{log}")

    def init(self) -> PrivateCluster:
        self._run(f"{self.bindir}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        return self.start()

    def start(self) -> PrivateCluster:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        self._run(f"{self.bindir}/pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(f"{self.bindir}/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)


class Outage:
    """How the database goes away and comes back; ``conninfo`` reaches it directly, ``server_url``
    is what ``trackkit server --store`` gets."""

    conninfo: str
    server_url: str

    def down(self) -> None:
        raise NotImplementedError

    def up(self) -> None:
        raise NotImplementedError


class Restart(Outage):
    def __init__(self, cluster: PrivateCluster, conninfo: str) -> None:
        self.cluster, self.conninfo, self.server_url = cluster, conninfo, pg_url(conninfo)

    def down(self) -> None:
        self.cluster.stop("fast")

    def up(self) -> None:
        self.cluster.start()


class Cut(Outage):
    def __init__(self, proxy: TcpProxy, conninfo: str) -> None:
        self.proxy, self.conninfo, self.server_url = proxy, conninfo, pg_url(conninfo, proxy.port)

    def down(self) -> None:
        self.proxy.cut()

    def up(self) -> None:
        self.proxy.restore()


@pytest.fixture(params=["restart", "unreachable"])
def outage(request: pytest.FixtureRequest, make_database) -> Iterator[Outage]:
    """"restart": a private cluster stopped and started again; "unreachable": a proxy to 5432 cut."""
    from trackkit.server.migrate import migrate

    if request.param == "unreachable":
        conninfo = make_database()
        migrate(conninfo)
        proxy = TcpProxy(("127.0.0.1", 5432)).start()
        yield Cut(proxy, conninfo)
        proxy.stop()
        return
    bindir = _pg_bin()
    if bindir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        reason = "PostgreSQL's server binaries (initdb, pg_ctl: Debian's postgresql package) are not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true: this test must not skip.", pytrace=False)
        pytest.skip(reason)
    cluster = PrivateCluster(bindir).init()
    try:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE trackkit_faults")
        conninfo = f"host=127.0.0.1 port={cluster.port} user=postgres dbname=trackkit_faults"
        migrate(conninfo)
        yield Restart(cluster, conninfo)
    finally:
        cluster.remove()


def _readyz(url: str) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = requests.get(url + "/readyz", timeout=15).status_code
    except requests.RequestException:
        status = 0
    return status, time.monotonic() - started


def test_the_database_away_for_20_s_mid_run_loses_slows_and_duplicates_nothing(
        outage: Outage, project: str, tmp_path: Path) -> None:
    """Training logs at 100 steps/s for 30 s; 5 s in, PostgreSQL goes away for 20 s. The loop keeps
    its pace (no log() call waits), /readyz says 503 while the database is away and 200 after, and
    every row reaches PostgreSQL once, in order; config, summary and state are right."""
    server = ServerProcess(outage.server_url, log=tmp_path / "server.log").start()
    try:
        assert _readyz(server.url)[0] == 200
        training = start_training(tmp_path, project, "outage", server.url, str(STEPS), str(RATE))
        time.sleep(5)
        outage.down()
        went_down = time.monotonic()
        while_down: list[tuple[int, float]] = []
        while time.monotonic() - went_down < OUTAGE_S - 4:  # leave room for a probe's answer
            while_down.append(_readyz(server.url))
            time.sleep(0.5)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - went_down)))
        outage.up()
        figures, err = finish_training(training)
        deadline = time.monotonic() + 30
        while _readyz(server.url)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        ready_after = _readyz(server.url)[0]
        api = trackkit.Api(store=server.url)
        remote: Any = api.run(f"{project}/outage")
        keys = api.store.history_keys(project, "outage")
    finally:
        server.stop()
    assert while_down and all(status == 503 for status, _ in while_down), while_down
    assert ready_after == 200
    assert figures["slowest_log_s"] < 1.0, figures  # the database's absence never reaches log()
    assert figures["loop_s"] < figures["nominal_s"] + 3.0, figures
    assert "not sent" not in err, err  # finish() saw the sender catch up
    assert pg_losses(outage.conninfo, project, "outage") == [float(step) for step in range(STEPS)]
    assert remote.state == "finished"
    assert remote.config == {"lr": 0.1, "steps": STEPS}
    assert remote.summary["loss"] == float(STEPS - 1) and remote.summary["done"] is True
    assert keys["loss"]["count"] == STEPS
