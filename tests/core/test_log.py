"""run.log: steps, merging, nested keys, value types, bad input, and the background writer."""

from __future__ import annotations

import math
import time

import pytest

import trackkit


def rows(run: trackkit.Run, keys: list[str] | None = None) -> list[dict]:
    return list(trackkit.Api().run(f"{run.project}/{run.id}").scan_history(keys))


def strip(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("_timestamp", "_runtime")}


def test_log_without_step_writes_one_row_per_call_and_advances() -> None:
    """Each step-less call is one row at the next step; run.step is the step of the next row."""
    with trackkit.init(project="p") as run:
        for i in range(3):
            run.log({"loss": 1.0 / (i + 1)})
        assert run.step == 3
    assert [strip(r) for r in rows(run)] == [
        {"loss": 1.0, "_step": 0}, {"loss": 0.5, "_step": 1}, {"loss": 1 / 3, "_step": 2}]


def test_every_row_keeps_its_step_and_wall_time() -> None:
    """Rows carry _step, _timestamp (wall time) and _runtime (seconds since init)."""
    before = time.time()
    with trackkit.init(project="p") as run:
        run.log({"x": 1})
    (row,) = rows(run)
    assert row["_step"] == 0 and before <= row["_timestamp"] <= time.time() and 0 <= row["_runtime"] < 60


def test_calls_for_the_same_explicit_step_merge_into_one_row() -> None:
    """Partial logs at one step (train step, then validation) become a single row."""
    with trackkit.init(project="p") as run:
        run.log({"train/loss": 0.9}, step=10)
        run.log({"val/loss": 1.1}, step=10)
        run.log({"train/loss": 0.8}, step=20)
        run.log({"val/loss": 1.0, "epoch": 1}, step=20)
    assert [strip(r) for r in rows(run)] == [
        {"train/loss": 0.9, "val/loss": 1.1, "_step": 10},
        {"train/loss": 0.8, "val/loss": 1.0, "epoch": 1, "_step": 20},
    ]


def test_commit_false_accumulates_until_the_next_commit() -> None:
    """commit=False adds to the current row; the next committing call writes it."""
    with trackkit.init(project="p") as run:
        run.log({"a": 1}, commit=False)
        run.log({"b": 2}, commit=False)
        run.log({"c": 3})
        run.log({"d": 4})
    assert [strip(r) for r in rows(run)] == [{"a": 1, "b": 2, "c": 3, "_step": 0}, {"d": 4, "_step": 1}]


def test_explicit_step_with_commit_true_writes_at_once() -> None:
    """log(..., step=s, commit=True) writes the row for s immediately (before finish)."""
    with trackkit.init(project="p") as run:
        run.log({"a": 1}, step=5, commit=True)
        assert run.flush()
        assert [strip(r) for r in rows(run)] == [{"a": 1, "_step": 5}]
        assert run.step == 6


def test_out_of_order_and_repeated_steps_are_kept() -> None:
    """Steps that go backwards or repeat are stored, never dropped (a restart re-logging old steps)."""
    with trackkit.init(project="p") as run:
        run.log({"loss": 1.0}, step=5)
        run.log({"loss": 2.0}, step=3)
        run.log({"loss": 3.0}, step=5)
        run.log({"loss": 4.0})
    assert [(r["_step"], r["loss"]) for r in rows(run)] == [(5, 1.0), (3, 2.0), (5, 3.0), (6, 4.0)]


def test_nested_dicts_are_flattened_with_slashes() -> None:
    """{"train": {"loss": x}} is logged as "train/loss"."""
    with trackkit.init(project="p") as run:
        run.log({"train": {"loss": 0.5, "acc": {"top1": 0.9}}, "lr": 0.1})
    assert strip(rows(run)[0]) == {"train/loss": 0.5, "train/acc/top1": 0.9, "lr": 0.1, "_step": 0}


def test_numpy_values_bools_strings_and_nan_are_logged() -> None:
    """numpy scalars become Python numbers; bools, strings, lists, NaN and inf round-trip."""
    np = pytest.importorskip("numpy")
    with trackkit.init(project="p") as run:
        run.log({"f": np.float32(0.25), "i": np.int64(3), "b": True, "s": "ok", "v": [1, 2],
                 "nan": float("nan"), "inf": -math.inf, "arr": np.array([1.5]), "none": None})
    row = rows(run)[0]
    assert row["f"] == 0.25 and type(row["f"]) is float and row["i"] == 3 and row["b"] is True
    assert row["s"] == "ok" and row["v"] == [1, 2] and math.isnan(row["nan"]) and row["inf"] == -math.inf
    assert row["arr"] == 1.5 and row["none"] is None


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ([("loss", 1)], trackkit.InvalidLogDataError, "takes a dict"),
        ({1: 0.5}, trackkit.InvalidLogDataError, "keys must be strings"),
        ({"nested": {2: 0.5}}, trackkit.InvalidLogDataError, "keys must be strings"),
        ({"obj": object()}, trackkit.InvalidLogDataError, "for key 'obj'"),
    ],
)
def test_bad_log_input_is_a_clear_error_at_the_call_site(data: object, error: type, message: str) -> None:
    """A non-dict, a non-string key or an unloggable value raises TypeError and logs nothing."""
    with trackkit.init(project="p") as run:
        with pytest.raises(error, match=message):
            run.log(data)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            run.log(data)  # type: ignore[arg-type]
        run.log({"ok": 1})
    assert [strip(r) for r in rows(run)] == [{"ok": 1, "_step": 0}]


@pytest.mark.parametrize("step", [1.5, "3", True])
def test_a_step_that_is_not_an_int_is_refused(step: object) -> None:
    """step must be an int (numpy ints are fine)."""
    with trackkit.init(project="p") as run:
        with pytest.raises(TypeError, match="step"):
            run.log({"a": 1}, step=step)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="negative"):
            run.log({"a": 1}, step=-1)


def test_log_after_finish_is_an_error() -> None:
    """Logging to a finished run raises RunFinishedError, which says how to continue."""
    run = trackkit.init(project="p", id="done")
    run.finish()
    with pytest.raises(trackkit.RunFinishedError, match="resume='allow'"):
        run.log({"a": 1})


def test_log_does_not_wait_for_the_disk_but_data_lands_within_the_flush_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows are written by the background writer within about a second, while the run goes on."""
    monkeypatch.setenv("TRACKKIT_FLUSH_INTERVAL", "0.2")
    with trackkit.init(project="p") as run:
        run.log({"a": 1})
        deadline = time.monotonic() + 5
        while not rows(run) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [strip(r) for r in rows(run)] == [{"a": 1, "_step": 0}]
        assert run.state == "running"


def test_the_callers_dict_is_copied() -> None:
    """Mutating a dict after logging it does not change what was logged."""
    metrics = {"loss": 1.0}
    with trackkit.init(project="p") as run:
        run.log(metrics)
        metrics["loss"] = 99.0
    assert rows(run)[0]["loss"] == 1.0


def test_many_rows_round_trip_in_order() -> None:
    """Thousands of rows come back complete and in order."""
    with trackkit.init(project="p") as run:
        for i in range(5000):
            run.log({"i": i, "sq": i * i})
    got = rows(run)
    assert [r["i"] for r in got] == list(range(5000)) and got[-1]["sq"] == 4999**2


def test_relogging_a_key_of_the_pending_row_keeps_both_values() -> None:
    """A second, different value for a key at the same step starts a new row instead of overwriting."""
    with trackkit.init(project="p") as run:
        run.log({"loss": 1.0, "epoch": 0}, step=3)
        run.log({"val_loss": 2.0, "epoch": 0}, step=3)  # same epoch value: merges
        run.log({"loss": 0.5}, step=3)  # a new loss value at step 3: a repeated step, kept
        run.log({"a": 1}, commit=False)
        run.log({"a": 2}, commit=False)
    assert [strip(r) for r in rows(run)] == [
        {"loss": 1.0, "epoch": 0, "val_loss": 2.0, "_step": 3},
        {"loss": 0.5, "a": 1, "_step": 3},  # a step-less call joins the pending row, as in W&B
        {"a": 2, "_step": 4},
    ]


def test_a_row_waiting_at_its_step_survives_kill_9(run_python) -> None:
    """A row left open by log(..., step=s) is saved once idle for a flush interval, so kill -9 cannot take it;
    values added to it later replace the saved copy instead of duplicating it."""
    run_python(
        """
        import os, signal, time, trackkit
        run = trackkit.init(project="p", id="epochs")
        run.log({"loss": 0.9, "epoch": 0}, step=0)
        run.log({"loss": 0.7, "epoch": 1}, step=1)
        time.sleep(0.6)                              # a long epoch: step 1 waits, idle
        run.log({"val_loss": 0.8, "epoch": 1}, step=1)  # more values for the same step
        time.sleep(0.6)
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        env={"TRACKKIT_FLUSH_INTERVAL": "0.2"},
        check=False,
    )
    stored = trackkit.Api().run("p/epochs")
    assert stored.state == "crashed"
    assert [strip(r) for r in stored.scan_history()] == [
        {"loss": 0.9, "epoch": 0, "_step": 0},
        {"loss": 0.7, "epoch": 1, "val_loss": 0.8, "_step": 1},
    ]


def test_a_checkpointed_row_is_written_once_when_completed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A row saved early and then completed reads back once, complete, in a live run and after finish."""
    monkeypatch.setenv("TRACKKIT_FLUSH_INTERVAL", "0.05")
    with trackkit.init(project="p") as run:
        run.log({"a": 1}, step=0)
        time.sleep(0.3)
        run.flush()
        assert [strip(r) for r in rows(run)] == [{"a": 1, "_step": 0}]
        run.log({"b": 2}, step=0)
        run.log({"a": 3}, step=1)
        run.flush()
        assert [strip(r) for r in rows(run)] == [{"a": 1, "b": 2, "_step": 0}]
    assert [strip(r) for r in rows(run)] == [{"a": 1, "b": 2, "_step": 0}, {"a": 3, "_step": 1}]


def test_an_empty_commit_writes_no_row_but_advances_the_step() -> None:
    """log({}, commit=True) with nothing pending writes nothing; the next row comes one step later."""
    with trackkit.init(project="p") as run:
        run.log({"a": 1})
        run.log({}, commit=True)
        run.log({"a": 2})
    assert [(r["_step"], r["a"]) for r in rows(run)] == [(0, 1), (2, 2)]


def test_run_store_lets_code_reopen_a_finished_run() -> None:
    """run.store is the store the run writes to, so a finished run can be resumed where it lives."""
    run = trackkit.init(project="p", dir="elsewhere")
    run.log({"a": 1})
    run.finish()
    with trackkit.init(project=run.project, id=run.id, store=run.store, resume="must") as again:
        again.log({"a": 2})
    assert [r["a"] for r in trackkit.Api("elsewhere").run(f"p/{run.id}").scan_history()] == [1, 2]
