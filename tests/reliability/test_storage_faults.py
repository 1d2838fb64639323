"""Storage faults in the middle of a run: disk full, the run directory removed, a read-only store.
Training goes on, one warning is printed, rows wait in memory up to a bound and are written when the
store is back; whatever had to be dropped is counted and reported at finish."""

from __future__ import annotations

import errno
import os
import shutil
import warnings

import pytest

import trackkit
from trackkit._local_store import LocalRunSink


@pytest.fixture(autouse=True)
def fast_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKKIT_FLUSH_INTERVAL", "0.05")


class Fault:
    """Makes chosen ``LocalRunSink`` methods raise ``error`` while switched on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: OSError, methods: tuple[str, ...]) -> None:
        self.on = False
        self.calls = 0
        for name in methods:
            original = getattr(LocalRunSink, name)
            monkeypatch.setattr(LocalRunSink, name, self._wrap(original))
        self._error = error

    def _wrap(self, original):
        def method(sink, *args, **kwargs):
            if self.on:
                self.calls += 1
                raise self._error
            return original(sink, *args, **kwargs)

        return method


def _storage_warnings(caught: list[warnings.WarningMessage], text: str) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, trackkit.StorageWarning) and text in str(w.message)]


def test_disk_full_for_a_while_loses_nothing_and_warns_once(monkeypatch, capsys):
    """Disk full for a while: logging goes on, one warning (not one per step), and once space is
    back every row is written, in order."""
    fault = Fault(monkeypatch, OSError(errno.ENOSPC, "No space left on device"),
                  ("append_history", "write_summary", "write_meta", "write_config", "heartbeat"))
    run = trackkit.init(project="p", id="full", config={"lr": 0.1})
    with pytest.warns(trackkit.StorageWarning) as caught:
        for step in range(100):
            run.log({"step_value": step})
        run.flush()
        fault.on = True
        for step in range(100, 200):
            run.log({"step_value": step})
            if step % 20 == 0:
                run.flush()  # several write attempts fail while the disk is full
        run.config.update({"lr": 0.01})
        run.flush()
        fault.on = False
        for step in range(200, 300):
            run.log({"step_value": step})
        run.finish()
    assert fault.calls > 5
    assert len(_storage_warnings(caught.list, "No space left on device")) == 1
    assert len(caught.list) == 1
    assert "the store is writable again" in capsys.readouterr().err
    api_run = trackkit.Api().run("p/full")
    assert [row["step_value"] for row in api_run.scan_history()] == list(range(300))
    assert api_run.state == "finished"
    assert api_run.config == {"lr": 0.01}
    assert api_run.metadata["rows_dropped"] == 0


def test_rows_beyond_the_memory_bound_are_dropped_counted_and_reported(monkeypatch):
    """With TRACKKIT_MAX_BUFFERED_ROWS=50 and a long outage, the oldest rows are dropped; finish
    warns with the count and records it in metadata["rows_dropped"]."""
    monkeypatch.setenv("TRACKKIT_MAX_BUFFERED_ROWS", "50")
    fault = Fault(monkeypatch, OSError(errno.ENOSPC, "No space left on device"), ("append_history",))
    run = trackkit.init(project="p", id="bounded")
    with pytest.warns(trackkit.StorageWarning) as caught:
        fault.on = True
        for step in range(200):
            run.log({"x": step})
        run.flush()
        fault.on = False
        for step in range(200, 210):
            run.log({"x": step})
        run.finish()
    assert len(_storage_warnings(caught.list, "could not write")) == 1
    assert _storage_warnings(caught.list, "150 row(s) of run bounded were dropped")
    api_run = trackkit.Api().run("p/bounded")
    assert [row["x"] for row in api_run.scan_history()] == list(range(150, 210))
    assert api_run.metadata["rows_dropped"] == 150
    assert api_run.metadata["history_rows"] == 60


def test_rows_still_unsaved_at_finish_are_counted_as_dropped(monkeypatch):
    """If history cannot be written up to finish(), finish returns, warns how many rows were lost
    and records it in the run's metadata."""
    Fault(monkeypatch, OSError(errno.ENOSPC, "No space left on device"), ("append_history",)).on = True
    run = trackkit.init(project="p", id="never")
    with pytest.warns(trackkit.StorageWarning) as caught:
        for step in range(20):
            run.log({"x": step})
        run.finish()
    assert _storage_warnings(caught.list, "20 row(s) of run never were dropped")
    api_run = trackkit.Api().run("p/never")
    assert api_run.state == "finished"
    assert api_run.metadata["rows_dropped"] == 20
    assert list(api_run.scan_history()) == []


def test_run_directory_removed_and_restored(capsys):
    """The run directory vanishes mid-run (say, a cleanup script): training goes on with one warning,
    and when the directory is back the buffered rows and the run's files are written."""
    run = trackkit.init(project="p", id="vanishing", config={"batch": 32})
    run.log({"x": -1})
    run.flush()
    with pytest.warns(trackkit.StorageWarning) as caught:
        shutil.rmtree(run.dir)
        for step in range(100):
            run.log({"x": step})
            if step % 25 == 0:
                run.flush()
        os.makedirs(run.dir)
        for step in range(100, 150):
            run.log({"x": step})
        run.finish()
    assert len(caught.list) == 1
    assert "could not write" in str(caught.list[0].message)
    api_run = trackkit.Api().run("p/vanishing")
    assert [row["x"] for row in api_run.scan_history()] == list(range(150))  # all but what was deleted
    assert api_run.state == "finished"
    assert api_run.config == {"batch": 32}
    assert api_run.summary["x"] == 149


def test_run_directory_removed_for_good_does_not_hang_or_raise():
    """The run directory never comes back: finish() still returns and reports the rows it could not save."""
    run = trackkit.init(project="p", id="gone")
    with pytest.warns(trackkit.StorageWarning) as caught:
        shutil.rmtree(run.dir)
        for step in range(30):
            run.log({"x": step})
        run.finish()
    assert len(_storage_warnings(caught.list, "could not write")) == 1
    assert _storage_warnings(caught.list, "30 row(s) of run gone were dropped")
    assert run.state == "finished"


def test_read_only_store_keeps_config_and_rows_until_writable(monkeypatch):
    """A store that turns read-only (simulated: tests run as root, which chmod does not stop):
    config changes and rows wait in memory, one warning, and everything is saved when it is writable."""
    fault = Fault(monkeypatch, PermissionError(errno.EROFS, "Read-only file system"),
                  ("append_history", "write_summary", "write_meta", "write_config", "heartbeat"))
    run = trackkit.init(project="p", id="readonly", config={"lr": 0.1})
    with pytest.warns(trackkit.StorageWarning) as caught:
        fault.on = True
        run.config.update({"lr": 0.2, "warmup": 5})
        run.tags = ["ro"]
        for step in range(50):
            run.log({"x": step})
        run.flush()
        fault.on = False
        run.finish()
    assert len(caught.list) == 1
    assert "Read-only file system" in str(caught.list[0].message)
    api_run = trackkit.Api().run("p/readonly")
    assert api_run.config == {"lr": 0.2, "warmup": 5}
    assert api_run.tags == ["ro"]
    assert [row["x"] for row in api_run.scan_history()] == list(range(50))


def test_warnings_turned_into_errors_do_not_kill_the_writer(monkeypatch, capsys):
    """Under `-W error` (here pytest's filter makes StorageWarning an error) the writer thread
    survives a storage fault: it prints the warning and later writes every row."""
    fault = Fault(monkeypatch, OSError(errno.EIO, "Input/output error"), ("append_history",))
    run = trackkit.init(project="p", id="strict")
    fault.on = True
    for step in range(10):
        run.log({"x": step})
    run.flush()
    fault.on = False
    run.log({"x": 10})
    run.flush()
    assert run._writer._thread.is_alive()
    run.finish()
    assert "StorageWarning: trackkit could not write the run's history" in capsys.readouterr().err
    assert [row["x"] for row in trackkit.Api().run("p/strict").scan_history()] == list(range(11))


def test_partial_writes_on_a_full_disk_leave_no_torn_or_duplicate_rows(run_python):
    """A real short write (the file size limit is hit mid-batch, as on a full disk): the partial batch
    is rolled back, so after the limit is lifted every row is there once and the file is whole."""
    result = run_python(
        """
        import resource, signal, time, warnings, trackkit
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        run = trackkit.init(project="p", id="efbig")
        run.flush()
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))  # history can grow to 20 kB
        for i in range(3000):
            run.log({"i": i, "pad": "x" * 20})
            if i % 100 == 0:
                time.sleep(0.02)
        run.flush()
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        run.finish()
        warnings.simplefilter("error")  # reading must not find any damaged line
        rows = list(trackkit.Api().run("p/efbig").scan_history())
        assert [row["i"] for row in rows] == list(range(3000)), len(rows)
        """,
        env={"TRACKKIT_FLUSH_INTERVAL": "0.05"},
    )
    assert result.stderr.count("could not write") == 1
    assert "File too large" in result.stderr
    assert "the store is writable again" in result.stderr
