"""The trackkit command: projects, runs, show, diff, each with --json."""

from __future__ import annotations

import json

import pytest

import trackkit
from trackkit._cli import main, parse_filter


@pytest.fixture
def two_runs() -> list[trackkit.Run]:
    runs = []
    for lr in (0.01, 0.1):
        with trackkit.init(project="cli", config={"optim": {"lr": lr, "momentum": 0.9}, "seed": 1}, name=f"lr{lr}") as run:
            run.config["seed"] = 2
            run.log({"loss": lr * 10})
            runs.append(run)
    return runs


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_projects_table_and_json(two_runs: list, capsys: pytest.CaptureFixture[str]) -> None:
    """`trackkit projects` lists projects with run counts."""
    assert "cli" in cli(capsys, "projects")
    assert json.loads(cli(capsys, "projects", "--json")) == [{"name": "cli", "runs": 2}]


def test_runs_table_shows_differing_config_and_summary_columns(two_runs: list, capsys) -> None:
    """`trackkit runs` shows config keys that differ between runs, and summary metrics."""
    out = cli(capsys, "runs", "cli")
    header = out.splitlines()[0]
    assert "config.optim.lr" in header and "summary.loss" in header and "config.optim.momentum" not in header
    assert "lr0.01" in out and "lr0.1" in out


def test_runs_filter_sort_columns_and_json(two_runs: list, capsys) -> None:
    """--filter, --sort and --columns select and arrange runs; --json gives full records."""
    out = cli(capsys, "runs", "cli", "--filter", "config.optim.lr>0.05", "--columns", "config.optim.lr,summary.loss")
    assert "lr0.1" in out and "lr0.01" not in out
    ordered = cli(capsys, "runs", "cli", "--sort", "-summary.loss", "--json")
    assert [r["name"] for r in json.loads(ordered)] == ["lr0.1", "lr0.01"]
    as_json = cli(capsys, "runs", "--filter", '{"config.optim.lr": {"$lt": 0.05}}', "--json")
    assert [r["config"]["optim"]["lr"] for r in json.loads(as_json)] == [0.01]


def test_show_gives_config_with_provenance_summary_state_and_history_size(two_runs: list, capsys) -> None:
    """`trackkit show` prints each config key with its source, the changes, summary, state and history size."""
    run = two_runs[0]
    out = cli(capsys, "show", f"cli/{run.id}")
    assert "finished" in out and "optim.lr" in out and "init" in out and "1 rows" in out
    data = json.loads(cli(capsys, "show", run.id, "--json"))
    assert data["provenance"]["seed"] == "set" and data["config_changes"][0]["old"] == 1
    assert data["history"] == {"rows": 1, "keys": ["loss"]} and data["state"] == "finished"


def test_diff_shows_only_differing_keys_by_default(two_runs: list, capsys) -> None:
    """`trackkit diff` lists the keys whose values differ; --all lists every key."""
    a, b = two_runs
    data = json.loads(cli(capsys, "diff", f"cli/{a.id}", f"cli/{b.id}", "--json"))
    assert data == {"optim.lr": {a.id: 0.01, b.id: 0.1}}
    assert "optim.momentum" in cli(capsys, "diff", a.id, b.id, "--all")


def test_unknown_run_is_an_error_message_not_a_traceback(capsys) -> None:
    """A missing run prints a one-line error and exits with status 2."""
    assert main(["show", "nope/nothing"]) == 2
    assert "no run" in capsys.readouterr().err


def test_simple_filter_expressions() -> None:
    """Filters can be written as key-op-value conditions joined by commas or 'and'."""
    assert parse_filter("config.lr>=0.1, state=finished") == {
        "$and": [{"config.lr": {"$gte": 0.1}}, {"state": {"$eq": "finished"}}]}
    assert parse_filter("name~^lr and tags=best") == {"$and": [{"name": {"$regex": "^lr"}}, {"tags": {"$eq": "best"}}]}
    with pytest.raises(trackkit.UsageError):
        parse_filter("nonsense")
