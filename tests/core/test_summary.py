"""run.summary: last values, define_metric aggregates, explicit values."""

from __future__ import annotations

import pytest

import trackkit


def stored(run: trackkit.Run) -> trackkit.ApiRun:
    return trackkit.Api().run(f"{run.project}/{run.id}")


def test_summary_holds_the_last_value_of_each_metric() -> None:
    """By default the summary is the last logged value per key."""
    with trackkit.init(project="p") as run:
        for loss in (3.0, 1.0, 2.0):
            run.log({"loss": loss})
        assert run.summary["loss"] == 2.0 and run.summary.loss == 2.0
        assert "loss" in run.summary and list(run.summary.keys()) == ["loss"]
    assert stored(run).summary == {"loss": 2.0}


@pytest.mark.parametrize(("op", "expected"), [("min", 1.0), ("max", 3.0), ("mean", 2.0), ("first", 3.0), ("last", 2.0)])
def test_define_metric_summary_ops(op: str, expected: float) -> None:
    """define_metric(summary=op) makes the summary the min, max, mean, first or last value."""
    with trackkit.init(project="p") as run:
        run.define_metric("val_loss", summary=op)
        for loss in (3.0, 1.0, 2.0):
            run.log({"val_loss": loss})
    assert stored(run).summary["val_loss"] == pytest.approx(expected)


def test_several_ops_give_a_dict_and_none_hides_the_metric() -> None:
    """summary="min,max" stores both; summary="none" leaves the key out."""
    with trackkit.init(project="p") as run:
        run.define_metric("acc", summary="min,max")
        run.define_metric("noise", summary="none")
        for acc in (0.5, 0.9, 0.7):
            run.log({"acc": acc, "noise": acc})
    summary = stored(run).summary
    assert summary["acc"] == {"min": 0.5, "max": 0.9}
    assert "noise" not in summary


def test_glob_metric_definitions_match_prefixes() -> None:
    """define_metric("val/*", summary="max") applies to every val/ key."""
    with trackkit.init(project="p") as run:
        run.define_metric("val/*", summary="max")
        run.log({"val/acc": 0.9, "val/f1": 0.5, "train/acc": 0.95})
        run.log({"val/acc": 0.8, "val/f1": 0.6, "train/acc": 0.96})
    summary = stored(run).summary
    assert (summary["val/acc"], summary["val/f1"], summary["train/acc"]) == (0.9, 0.6, 0.96)


def test_step_metric_is_filled_into_rows_that_lack_it() -> None:
    """With step_metric="epoch", a row with the metric but no epoch gets the last epoch."""
    with trackkit.init(project="p") as run:
        run.define_metric("val_acc", step_metric="epoch")
        run.log({"epoch": 1})
        run.log({"val_acc": 0.5})
    rows = list(stored(run).scan_history())
    assert rows[1]["epoch"] == 1 and rows[1]["val_acc"] == 0.5
    assert stored(run).metadata["metrics"] == [{"name": "val_acc", "summary": [], "step_metric": "epoch"}]


def test_explicit_summary_values_are_kept() -> None:
    """run.summary[k] = v survives later logs of k, and summary.update sets several keys."""
    with trackkit.init(project="p") as run:
        run.log({"acc": 0.1})
        run.summary["acc"] = 0.99
        run.summary.update({"best_epoch": 7})
        run.log({"acc": 0.2})
        assert run.summary["acc"] == 0.99
    assert stored(run).summary == {"acc": 0.99, "best_epoch": 7}


def test_goal_is_shorthand_for_min_or_max() -> None:
    """define_metric(goal="maximize") keeps the best (max) value."""
    with trackkit.init(project="p") as run:
        run.define_metric("acc", goal="maximize")
        for acc in (0.2, 0.8, 0.5):
            run.log({"acc": acc})
    assert stored(run).summary["acc"] == 0.8


@pytest.mark.parametrize(("kwargs", "message"), [({"summary": "best"}, "summary"), ({"goal": "up"}, "goal")])
def test_bad_define_metric_arguments_are_errors(kwargs: dict, message: str) -> None:
    """Unknown summary ops or goals raise a UsageError that lists the valid ones."""
    with trackkit.init(project="p") as run:
        with pytest.raises(trackkit.UsageError, match=message):
            run.define_metric("loss", **kwargs)
        with pytest.raises(trackkit.UsageError, match=r"\*"):
            run.define_metric("a*b")
