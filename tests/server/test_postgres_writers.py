"""One writer per run on PostgreSQL: a lease taken at open_run, renewed by every write, released by
close() or lost after the heartbeat timeout; batches all or nothing; resume and naming rules."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from trackkit import RunInUseError, RunNotFoundError, UsageError
from trackkit.server.postgres_store import PostgresStore


def _start(store: Any, project: str, run_id: str, resume: str | None = None) -> Any:
    sink, state = store.open_run(project, run_id, resume=resume)
    sink.write_meta({"id": run_id, "state": "running", "created_at": time.time()})
    return sink, state


@pytest.fixture
def short_lease(pg_database: str) -> Any:
    """A store whose writers' leases last half a second without a write."""
    store = PostgresStore(pg_database, heartbeat_timeout=0.5, min_size=1, max_size=2)
    yield store
    store.close()


def test_a_second_writer_is_refused_while_the_first_holds_the_run(pg_store: Any, project: str) -> None:
    """open_run on a run another writer holds raises RunInUseError; after close() it opens, resumed."""
    sink, _ = _start(pg_store, project, "r")
    sink.append_history([{"_step": 0, "loss": 1.0}, {"_step": 1, "loss": 0.5}])
    with pytest.raises(RunInUseError, match="another live process"):
        pg_store.open_run(project, "r", resume="allow")
    sink.close()
    again, state = pg_store.open_run(project, "r", resume="allow")
    assert state is not None and state["last_step"] == 1 and state["history_rows"] == 2
    assert [row["loss"] for row in state["rows"]] == [1.0, 0.5]
    again.close()


def test_an_expired_lease_is_taken_over_and_the_old_writer_stopped(short_lease: Any, project: str) -> None:
    """A writer silent past the timeout reads as crashed; a new writer takes the run; the old one's
    next batch raises RunInUseError and leaves nothing behind; its close() does not free the new lease."""
    old, _ = _start(short_lease, project, "r")
    old.append_history([{"_step": 0, "loss": 1.0}])
    time.sleep(0.8)
    assert short_lease.read_run(project, "r")["meta"]["state"] == "crashed"
    new, state = short_lease.open_run(project, "r", resume="allow")
    assert state is not None and state["history_rows"] == 1
    with pytest.raises(RunInUseError, match="taken over"):
        old.append_history([{"_step": 1, "loss": 99.0}])
    with pytest.raises(RunInUseError):
        old.write_summary({"values": {"loss": 99.0}})
    old.close()
    with pytest.raises(RunInUseError):
        short_lease.open_run(project, "r", resume="allow")
    new.append_history([{"_step": 1, "loss": 0.5}])
    new.close()
    assert [row["loss"] for row in short_lease.scan_history(project, "r")] == [1.0, 0.5]


def test_heartbeats_keep_the_lease(short_lease: Any, project: str) -> None:
    """A writer that heartbeats within the timeout keeps its run, and reads as running."""
    sink, _ = _start(short_lease, project, "r")
    for _ in range(4):
        time.sleep(0.25)
        sink.heartbeat()
    assert short_lease.read_run(project, "r")["meta"]["state"] == "running"
    assert short_lease.query_runs(project)["runs"][0]["state"] == "running"
    with pytest.raises(RunInUseError):
        short_lease.open_run(project, "r", resume="allow")
    sink.close()
    assert short_lease.read_run(project, "r")["meta"]["state"] == "crashed"  # closed while still "running"


def test_two_processes_creating_one_id_at_once(pg_store: Any, project: str) -> None:
    """Of writers racing to create one new run id, exactly one gets it."""
    barrier = threading.Barrier(4)
    outcomes: list[Any] = []

    def create() -> None:
        barrier.wait()
        try:
            sink, _ = pg_store.open_run(project, "race", resume=None)
            outcomes.append(sink)
        except (UsageError, RunInUseError) as error:
            outcomes.append(error)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    sinks = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(outcomes) == 4 and len(sinks) == 1
    sinks[0].close()


def test_a_failed_batch_leaves_nothing_and_a_retry_lands_once(pg_store: Any, project: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """append_history is all or nothing: a failure after the rows were sent rolls them back."""
    import trackkit.server._pg_history as history

    sink, _ = _start(pg_store, project, "r")
    sink.append_history([{"_step": 0, "a": 1.0}])
    real = history._drop_checkpoints

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("connection lost mid-batch")

    monkeypatch.setattr(history, "_drop_checkpoints", boom)
    batch = [{"_step": 1, "a": 2.0, "b": "new key"}, {"_step": 2, "a": 3.0, "_partial": "w-1"}]
    with pytest.raises(OSError):
        sink.append_history(batch)
    assert [row["_step"] for row in pg_store.scan_history(project, "r")] == [0]
    assert set(pg_store.history_keys(project, "r")) == {"a"}
    monkeypatch.setattr(history, "_drop_checkpoints", real)
    sink.append_history(batch)
    sink.close()
    assert [row["_step"] for row in pg_store.scan_history(project, "r")] == [0, 1, 2]
    assert pg_store.history_keys(project, "r")["b"]["count"] == 1


def test_resume_modes(pg_store: Any, project: str) -> None:
    """resume=None or 'never' refuses an existing run, 'must' a missing one; a run opened but never
    given metadata does not exist for readers."""
    with pytest.raises(RunNotFoundError):
        pg_store.open_run(project, "missing", resume="must")
    sink, state = _start(pg_store, project, "r")
    assert state is None
    sink.close()
    for resume in (None, "never"):
        with pytest.raises(UsageError, match="already exists"):
            pg_store.open_run(project, "r", resume=resume)
    half, _ = pg_store.open_run(project, "half", resume=None)  # no write_meta yet
    assert pg_store.run_ids(project) == ["r"]
    with pytest.raises(RunNotFoundError):
        pg_store.read_run(project, "half")
    half.close()


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".", "x" * 129, "a\\b", "a:b"])
def test_names_that_cannot_be_a_run_are_refused(pg_store: Any, name: str) -> None:
    """Project names and run ids follow the same rule as the local store's directories."""
    with pytest.raises(UsageError):
        pg_store.open_run(name, "r", resume=None)
    with pytest.raises(UsageError):
        pg_store.open_run("p", name, resume=None)


def test_run_numbers_count_up_per_project(pg_store: Any, project: str) -> None:
    """next_run_number starts after the runs already there and never repeats."""
    for run_id in ("a", "b"):
        _start(pg_store, project, run_id)[0].close()
    assert [pg_store.next_run_number(project) for _ in range(3)] == [3, 4, 5]
    assert pg_store.next_run_number(project + "-other") == 1


def test_delete_removes_rows_and_files(pg_store: Any, project: str) -> None:
    """delete_run takes the history, the keys and the files with it; the run is gone for readers."""
    sink, _ = _start(pg_store, project, "r")
    sink.append_history([{"_step": 0, "loss": 1.0}])
    sink.put_file("model.ckpt", b"weights")
    sink.close()
    pg_store.delete_run(project, "r")
    with pytest.raises(RunNotFoundError):
        pg_store.read_run(project, "r")
    with pytest.raises(RunNotFoundError):
        pg_store.delete_run(project, "r")
    with pg_store.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM history_rows h LEFT JOIN runs r ON r.pk = h.run_pk "
                            "WHERE r.pk IS NULL").fetchone()[0] == 0
    assert not os.path.exists(os.path.join(pg_store.files.location, project, "r"))


def test_connections_cut_by_the_database_are_replaced(pg_database: str, project: str) -> None:
    """When PostgreSQL drops the pool's connections (a restart, a failover), the next call gets a fresh one."""
    import psycopg

    store = PostgresStore(pg_database, min_size=2, max_size=2)
    try:
        _start(store, project, "r")[0].close()
        with psycopg.connect(pg_database, autocommit=True) as admin:
            cut = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert cut >= 1
        assert store.run_ids(project) == ["r"]
        assert store.query_runs(project)["total"] == 1
    finally:
        store.close()
