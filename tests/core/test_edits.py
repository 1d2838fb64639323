"""Edits of a run: ``ApiRun.update()`` while it trains or after it finished, and changes on the run
object after ``finish()``. Only what was edited changes; nothing the run wrote is rolled back."""

from __future__ import annotations

import math
import threading

import pytest

import trackkit
from trackkit.testing import MemoryStore


@pytest.fixture(params=["local", "memory"])
def store(request):
    """The local store (None: the default) and the memory store, which must agree."""
    return MemoryStore() if request.param == "memory" else None


def _api(store) -> trackkit.Api:
    return trackkit.Api(store=store) if store is not None else trackkit.Api()


def test_a_stale_update_does_not_roll_back_a_finished_run(store) -> None:
    """Loaded while the run trains, updated after it finished: the run stays finished with its final
    summary, and only the tags change."""
    run = trackkit.init(project="p", id="r", store=store)
    run.log({"loss": 0.9})
    run.flush()
    stale = _api(store).run("p/r")
    assert stale.state == "running"
    run.log({"loss": 0.1})
    run.finish()
    stale.tags = ["best"]
    stale.update()
    fresh = _api(store).run("p/r")
    assert fresh.state == "finished"
    assert fresh.summary["loss"] == 0.1
    assert fresh.tags == ["best"]
    assert stale.state == "finished"  # update() reloads


def test_edits_of_a_live_run_survive_its_finish(store) -> None:
    """Tags, notes, config and summary edited through the Api while the run trains are merged by the
    run's writer, seen by the run itself, and kept when it finishes."""
    run = trackkit.init(project="p", id="r", store=store, config={"lr": 0.1, "drop": 0.5}, tags=["a"])
    run.log({"loss": 0.9})
    run.flush()
    edited = _api(store).run("p/r")
    edited.tags = ["a", "keep"]
    edited.notes = "looks good"
    edited.config["lr"] = 0.2
    del edited.config["drop"]
    edited.summary["test_acc"] = 0.93
    edited.update()
    assert _api(store).run("p/r").tags == ["a", "keep"]  # visible at once, before the writer merged it
    run.flush()
    assert run.tags == ("a", "keep")
    assert run.config.lr == 0.2 and "drop" not in run.config
    assert run.summary["test_acc"] == 0.93
    run.log({"loss": 0.5})
    run.finish()
    final = _api(store).run("p/r")
    assert (final.tags, final.notes, final.state) == (["a", "keep"], "looks good", "finished")
    assert final.config == {"lr": 0.2}
    assert final.summary["test_acc"] == 0.93 and final.summary["loss"] == 0.5
    changes = [(c["key"], c["old"], c["new"], c["source"]) for c in final.config_changes]
    assert changes == [("drop", 0.5, None, "api"), ("lr", 0.1, 0.2, "api")]


def test_summary_and_tags_set_after_finish_persist(store) -> None:
    """W&B allows summary updates after a run ends: they are saved as edits, as are tags and notes."""
    with trackkit.init(project="p", id="r", store=store) as run:
        run.log({"loss": 0.2, "tmp": None})
    run.summary["test_acc"] = 0.93
    run.summary.update({"test_loss": 0.3, "test_f1": 0.8})
    del run.summary["tmp"]
    run.tags = ["final"]
    run.notes = "done"
    saved = _api(store).run("p/r")
    assert saved.summary == {"loss": 0.2, "test_acc": 0.93, "test_loss": 0.3, "test_f1": 0.8}
    assert (saved.tags, saved.notes, saved.state) == (["final"], "done", "finished")


def test_an_unchanged_nan_summary_is_not_made_explicit(store) -> None:
    """update() after editing only the tags leaves a logged NaN a logged value, so a resumed run
    that logs again replaces it."""
    with trackkit.init(project="p", id="r", store=store) as run:
        run.log({"loss": math.nan})
    loaded = _api(store).run("p/r")
    loaded.tags = ["nan"]
    loaded.update()
    with trackkit.init(project="p", id="r", store=store, resume="allow") as run:
        run.log({"loss": 0.5})
    assert _api(store).run("p/r").summary["loss"] == 0.5


def test_updates_while_the_writer_writes_never_collide() -> None:
    """Many Api updates in the process whose writer thread keeps writing: no error, no torn read,
    and the last edit wins."""
    run = trackkit.init(project="p", id="r")
    stop = threading.Event()

    def train() -> None:
        step = 0
        while not stop.is_set():
            run.log({"loss": 1 / (step + 1)})
            run.summary["seen"] = step
            step += 1

    trainer = threading.Thread(target=train)
    trainer.start()
    try:
        loaded = trackkit.Api().run("p/r")
        for i in range(100):
            loaded.summary["edited"] = i
            loaded.update()
    finally:
        stop.set()
        trainer.join()
    run.finish()
    assert trackkit.Api().run("p/r").summary["edited"] == 99


def test_only_editable_run_fields_can_be_edited() -> None:
    """edit_run refuses the state (the writer's) with a message naming what can be edited."""
    with trackkit.init(project="p", id="r"):
        pass
    with pytest.raises(trackkit.UsageError, match="editable fields"):
        trackkit.Api().store.edit_run("p", "r", meta={"state": "finished"})
