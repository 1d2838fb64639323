"""trackkit.Api: projects, filtered and ordered runs, run paths, history, edits, deletion."""

from __future__ import annotations

import pytest

import trackkit


@pytest.fixture
def grid() -> list[trackkit.Run]:
    """Four finished runs of a small learning-rate grid, plus one failed run."""
    runs = []
    for i, lr in enumerate((0.001, 0.01, 0.1, 1.0)):
        with trackkit.init(project="grid", config={"optim": {"lr": lr}, "bs": 32 * (i % 2 + 1)},
                           tags=["sweep"] + (["best"] if lr == 0.1 else []), name=f"lr-{lr}") as run:
            for epoch in range(3):
                run.log({"val_loss": 1.0 / (epoch + 1) + lr, "val_acc": 0.5 + lr / 4})
            runs.append(run)
    with pytest.raises(KeyError), trackkit.init(project="grid", config={"optim": {"lr": 5.0}}, name="broken"):
        raise KeyError("bad batch")
    with trackkit.init(project="other"):
        pass
    return runs


def ids(runs: trackkit.Runs) -> list[str]:
    return [run.name for run in runs]


def test_projects_lists_every_project_with_its_run_count(grid: list) -> None:
    """Api().projects() names each project and how many runs it holds."""
    projects = {p.name: p.run_count for p in trackkit.Api().projects()}
    assert projects == {"grid": 5, "other": 1}


def test_runs_default_order_is_newest_first_and_the_sequence_is_lazy(grid: list) -> None:
    """runs() reads nothing until used, then behaves like a list, newest first."""
    runs = trackkit.Api().runs("grid")
    assert runs._fetched == [] and runs._total is None
    assert len(runs) == 5 and ids(runs)[0] == "broken" and ids(runs)[-1] == "lr-0.001"
    assert runs[1].name == "lr-1.0" and [r.name for r in runs[1:3]] == ["lr-1.0", "lr-0.1"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"config.optim.lr": {"$gt": 0.01}}, {"lr-0.1", "lr-1.0", "broken"}),
        ({"config.optim.lr": {"$gte": 0.01, "$lt": 1.0}}, {"lr-0.01", "lr-0.1"}),
        ({"summary.val_loss": {"$lt": 0.5}}, {"lr-0.001", "lr-0.01", "lr-0.1"}),
        ({"state": "failed"}, {"broken"}),
        ({"state": {"$ne": "failed"}, "bs": 64}, set()),
        ({"config.bs": 64}, {"lr-0.01", "lr-1.0"}),
        ({"tags": "best"}, {"lr-0.1"}),
        ({"tags": {"$in": ["best", "nope"]}}, {"lr-0.1"}),
        ({"tags": {"$nin": ["sweep"]}}, {"broken"}),
        ({"name": {"$regex": "^lr-0\\.0"}}, {"lr-0.001", "lr-0.01"}),
        ({"config.optim.lr": {"$in": [0.001, 1.0]}}, {"lr-0.001", "lr-1.0"}),
        ({"$or": [{"config.optim.lr": 0.001}, {"state": "failed"}]}, {"lr-0.001", "broken"}),
        ({"$and": [{"config.optim.lr": {"$gt": 0.001}}, {"config.bs": 32}]}, {"lr-0.1"}),
        ({"config.optim.lr.value": 0.1}, {"lr-0.1"}),
        ({"summary.val_acc": {"$exists": False}}, {"broken"}),
    ],
)
def test_mongo_style_filters(grid: list, filters: dict, expected: set) -> None:
    """Filters on config, summary, state, tags and name with the MongoDB operators W&B users know."""
    assert set(ids(trackkit.Api().runs("grid", filters=filters))) == expected


def test_order_by_summary_descending_puts_missing_values_last(grid: list) -> None:
    """order="-summary.val_acc" sorts best first; runs without the key come last."""
    names = ids(trackkit.Api().runs("grid", order="-summary.val_acc"))
    assert names == ["lr-1.0", "lr-0.1", "lr-0.01", "lr-0.001", "broken"]
    assert ids(trackkit.Api().runs("grid", order="+config.optim.lr"))[0] == "lr-0.001"


def test_unknown_operator_is_a_clear_error(grid: list) -> None:
    """A typo in an operator is a UsageError listing the known operators."""
    with pytest.raises(trackkit.UsageError, match=r"\$gt"):
        list(trackkit.Api().runs("grid", filters={"config.bs": {"$greater": 1}}))


def test_run_by_every_path_form(grid: list) -> None:
    """api.run takes project/id, entity/project/id, project:id and a bare id."""
    run = grid[0]
    api = trackkit.Api()
    for path in (f"grid/{run.id}", f"{run.entity}/grid/{run.id}", f"grid:{run.id}", run.id, run.path):
        found = api.run(path)
        assert (found.id, found.project, found.name) == (run.id, "grid", "lr-0.001")
    with pytest.raises(trackkit.RunNotFoundError):
        api.run("grid/nosuchid")
    with pytest.raises(LookupError):
        api.run("nosuchid")


def test_api_run_exposes_what_the_run_recorded(grid: list) -> None:
    """An API run has id, name, project, entity, state, config, summary, tags, notes and created_at."""
    run = trackkit.Api().run(f"grid/{grid[2].id}")
    assert (run.name, run.state, run.tags, run.notes) == ("lr-0.1", "finished", ["sweep", "best"], None)
    assert run.config == {"optim": {"lr": 0.1}, "bs": 32}
    assert run.summary["val_loss"] == pytest.approx(1 / 3 + 0.1)
    assert run.created_at.startswith("20") and run.entity == grid[2].entity


def test_history_and_scan_history(grid: list) -> None:
    """scan_history yields every row; keys= keeps rows with all keys; history samples and returns a DataFrame."""
    run = trackkit.Api().run(f"grid/{grid[0].id}")
    rows = list(run.scan_history())
    assert [r["_step"] for r in rows] == [0, 1, 2] and all("val_loss" in r for r in rows)
    assert list(run.scan_history(keys=["val_acc"]))[0].keys() == {"_step", "val_acc"}
    assert list(run.scan_history(keys=["missing"])) == []
    frame = run.history()
    assert list(frame["val_loss"]) == [r["val_loss"] for r in rows]
    assert len(run.history(samples=2, pandas=False)) == 2
    assert run.history(keys=["val_acc"], pandas=False)[0]["_step"] == 0


def test_update_persists_config_summary_tags_and_notes_edits(grid: list) -> None:
    """The seed's `api_run.config["bar"] = 32; api_run.update()` persists, with provenance "api"."""
    api = trackkit.Api()
    run = api.run(f"grid/{grid[1].id}")
    run.config["bar"] = 32
    run.config["optim"]["lr"] = 0.02
    del run.config["bs"]
    run.summary["note_score"] = 5
    run.tags.append("reviewed")
    run.notes = "checked by hand"
    run.update()
    again = trackkit.Api().run(f"grid/{grid[1].id}")
    assert again.config == {"optim": {"lr": 0.02}, "bar": 32}
    assert again.provenance["bar"] == "api" and again.provenance["optim.lr"] == "api"
    assert {c["key"] for c in again.config_changes} == {"optim.lr", "bs"}
    assert again.summary["note_score"] == 5 and again.tags[-1] == "reviewed" and again.notes == "checked by hand"
    assert len(trackkit.Api().runs("grid", filters={"config.bar": 32})) == 1


def test_delete_removes_the_run(grid: list) -> None:
    """delete() removes a run; it no longer appears in runs()."""
    api = trackkit.Api()
    api.run(f"grid/{grid[0].id}").delete()
    assert grid[0].id not in [r.id for r in api.runs("grid")]
    with pytest.raises(trackkit.RunNotFoundError):
        api.run(f"grid/{grid[0].id}")


def test_a_running_run_is_visible_while_it_logs() -> None:
    """The API reads a run that another part of the program is still writing."""
    with trackkit.init(project="live") as run:
        run.log({"x": 1})
        run.flush()
        live = trackkit.Api().run(f"live/{run.id}")
        assert live.state == "running" and [r["x"] for r in live.scan_history()] == [1]


def test_api_reads_a_store_given_by_dir(tmp_path) -> None:
    """Api(dir=...) reads another store than the default."""
    other = tmp_path / "other-store"
    with trackkit.init(project="p", dir=other) as run:
        run.log({"a": 1})
    assert trackkit.Api(other).run(f"p/{run.id}").summary == {"a": 1}
    assert len(trackkit.Api().runs("p")) == 0
