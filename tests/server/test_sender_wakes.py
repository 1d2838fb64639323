"""The sender ships rows when the run's writer has put them in the spool, not on a clock: with the
sender's interval set to an hour, rows logged to a live run still reach the server while it runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_process import ServerProcess

import trackkit


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root: Path = tmp_path_factory.mktemp("sender-wakes")
    process = ServerProcess(str(root / "store"), log=root / "server.log", extra=("--files-dir", str(root / "files"))).start()
    yield process
    process.stop()


def _rows_on_server(api: trackkit.Api, path: str) -> int:
    try:
        return len(list(api.run(path).scan_history(keys=["loss"])))
    except trackkit.RunNotFoundError:
        return 0


def test_rows_of_a_live_run_reach_the_server_without_waiting_for_the_senders_interval(
        server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each flush of the writer wakes the sender: the rows are on the server long before the sender's
    own interval (an hour here) would have sent them, and finish() leaves nothing behind."""
    monkeypatch.setenv("TRACKKIT_SYNC_INTERVAL", "3600")
    monkeypatch.setenv("TRACKKIT_SILENT", "1")
    api = trackkit.Api(store=server.url)
    run = trackkit.init(project="wakes", id="live", store=server.url, dir=str(tmp_path / "spool"))
    try:
        for step in range(3):
            run.log({"loss": 1.0 / (step + 1)})
        deadline = time.monotonic() + 120  # generous for a loaded machine, far below the interval
        while _rows_on_server(api, "wakes/live") < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _rows_on_server(api, "wakes/live") == 3
        assert api.run("wakes/live").state == "running"
        run.log({"loss": 0.1})
    finally:
        run.finish()
    assert [row["loss"] for row in api.run("wakes/live").scan_history(keys=["loss"])] == [1.0, 0.5, 1.0 / 3, 0.1]
    assert api.run("wakes/live").state == "finished"
