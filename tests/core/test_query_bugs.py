"""Issue 8's query and CLI bugs, each as the user who found it: NaN in order=, filters on text fields,
$regex, diff of 1 and 1.0, a project named "runs" or ".hidden", and `trackkit ... | head`."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trackkit
from trackkit._cli import main, parse_filter
from trackkit._regex import check_regex, compile_regex


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def losses(runs: trackkit.Runs) -> list[float | None]:
    return [run.summary.get("val_loss") for run in runs]


def same(got: list, expected: list) -> bool:
    """Lists equal, NaN equal to NaN."""
    return len(got) == len(expected) and all(
        (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b
        for a, b in zip(got, expected))


@pytest.fixture
def nan_sweep() -> None:
    """Five runs with val_loss 0.5, 0.2, NaN, 0.9, 0.1, and one that never logged it."""
    for loss in (0.5, 0.2, float("nan"), 0.9, 0.1):
        with trackkit.init(project="sweep", name=f"loss-{loss}") as run:
            run.log({"val_loss": loss})
    with trackkit.init(project="sweep", name="no-loss") as run:
        run.log({"other": 1})


# -- item 7: NaN sorts last, in both directions ---------------------------------------------------
def test_one_nan_run_does_not_break_order_ascending_or_descending(nan_sweep: None) -> None:
    """order="summary.val_loss" gives 0.1 0.2 0.5 0.9, then NaN and the missing one; "-" gives 0.9 first."""
    nan = float("nan")
    api = trackkit.Api()
    assert same(losses(api.runs("sweep", order="summary.val_loss")), [0.1, 0.2, 0.5, 0.9, nan, None])
    assert same(losses(api.runs("sweep", order="-summary.val_loss")), [0.9, 0.5, 0.2, 0.1, nan, None])
    assert [r.name for r in api.runs("sweep", order="-summary.val_loss")][-2:] == ["loss-nan", "no-loss"]


def test_cli_sort_puts_nan_last_both_ways(nan_sweep: None, capsys) -> None:
    """`trackkit runs --sort summary.val_loss` (and `-summary.val_loss`) list NaN and missing last."""
    names = [r["name"] for r in json.loads(cli(capsys, "runs", "sweep", "--sort", "summary.val_loss", "--json"))]
    assert names == ["loss-0.1", "loss-0.2", "loss-0.5", "loss-0.9", "loss-nan", "no-loss"]
    names = [r["name"] for r in json.loads(cli(capsys, "runs", "sweep", "--sort", "-summary.val_loss", "--json"))]
    assert names == ["loss-0.9", "loss-0.5", "loss-0.2", "loss-0.1", "loss-nan", "no-loss"]
    table = cli(capsys, "runs", "sweep", "--sort", "-summary.val_loss", "--columns", "summary.val_loss").splitlines()
    assert "loss-0.9" in table[2] and "loss-nan" in table[-2] and "no-loss" in table[-1]


def test_mixed_types_order_numbers_then_strings_then_booleans(capsys) -> None:
    """Numbers by value, then strings, then booleans; missing last; descending reverses inside each kind."""
    for i, value in enumerate([3, "b", True, -math.inf, "a", False, None, 2.5]):
        with trackkit.init(project="mixed", name=f"r{i}", config={"v": value}):
            pass
    with trackkit.init(project="mixed", name="none", config={"other": 1}):
        pass

    def values(order: str) -> list:
        return [r.config.get("v", "<missing>") for r in trackkit.Api().runs("mixed", order=order)]

    assert values("config.v")[:7] == [-math.inf, 2.5, 3, "a", "b", False, True]
    assert values("-config.v")[:7] == [3, 2.5, -math.inf, "b", "a", True, False]
    assert sorted(values("-config.v")[7:], key=str) == ["<missing>", None]


def test_several_order_keys_and_ties_by_creation_time() -> None:
    """order=["config.group", "-summary.acc"] sorts by group, then best first; equal keys keep creation order."""
    for name, group, acc in [("a", "x", 0.5), ("b", "y", 0.9), ("c", "x", 0.7), ("d", "x", 0.7)]:
        with trackkit.init(project="multi", name=name, config={"group": group}) as run:
            run.log({"acc": acc})
    runs = trackkit.Api().runs("multi", order=["config.group", "-summary.acc"])
    assert [r.name for r in runs] == ["c", "d", "a", "b"]
    assert [r.name for r in trackkit.Api().runs("multi", order="config.group")] == ["a", "c", "d", "b"]


# -- --filter on text fields, $regex ----------------------------------------------------------------
def test_filter_by_a_numeric_looking_id_or_name_finds_the_run(capsys) -> None:
    """`trackkit runs --filter id=4242` and `--filter name=2024` find the run: ids and names are text."""
    with trackkit.init(project="nums", id="4242", name="2024", config={"year": "2024", "seed": 7}):
        pass
    with trackkit.init(project="nums", id="other", name="other", config={"year": 2023, "seed": 8}):
        pass
    for condition in ("id=4242", "name=2024", "name==2024", "config.year=2024", 'config.year="2024"', "config.seed=7"):
        found = json.loads(cli(capsys, "runs", "nums", "--filter", condition, "--json"))
        assert [r["id"] for r in found] == ["4242"], condition
    found = json.loads(cli(capsys, "runs", "nums", "--filter", "name!=2024", "--json"))
    assert [r["id"] for r in found] == ["other"]


def test_a_bad_regex_is_a_clear_error_not_a_traceback(capsys) -> None:
    """`--filter 'name~('` prints one line naming the pattern and exits 2; the Api raises UsageError."""
    with trackkit.init(project="re"):
        pass
    assert main(["runs", "re", "--filter", "name~("]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trackkit: $regex '('") and "Traceback" not in err and len(err.splitlines()) == 1
    with pytest.raises(trackkit.UsageError, match="regex"):
        trackkit.Api().runs("nothing-here", filters={"name": {"$regex": "("}})


def test_a_regex_with_a_comma_is_one_condition(capsys) -> None:
    """`--filter 'name~^run-[0-9]{1,3}$, state=finished'` is two conditions, not three."""
    for name in ("run-7", "run-1234", "walk-5"):
        with trackkit.init(project="comma", name=name):
            pass
    assert parse_filter("name~^run-[0-9]{1,3}$, state=finished") == {
        "$and": [{"name": {"$regex": "^run-[0-9]{1,3}$"}}, {"state": {"$eq": "finished"}}]}
    found = json.loads(cli(capsys, "runs", "comma", "--filter", "name~^run-[0-9]{1,3}$, state=finished", "--json"))
    assert [r["name"] for r in found] == ["run-7"]
    assert parse_filter("name~a,b and tags=x") == {"$and": [{"name": {"$regex": "a,b"}}, {"tags": {"$eq": "x"}}]}
    assert parse_filter("name!~^tmp") == {"name": {"$not": {"$regex": "^tmp"}}}


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(?=a)b", "look-around"),
        ("(?<!a)b", "look-around"),
        (r"(a)\1", "back-reference"),
        ("(?P<x>a)", "named group"),
        (r"\bword", "word boundary"),
        ("[[:alpha:]]", "POSIX class"),
        ("a*+", "possessive"),
        ("a{1,300}", "255"),
        ("x{", "\\{"),
        (r"\x41", "not portable"),
        ("a(?i)", "leading (?i)"),
    ],
)
def test_regex_outside_the_portable_subset_is_refused(pattern: str, why: str) -> None:
    """A construct Python and PostgreSQL read differently is a UsageError saying what to write instead."""
    with pytest.raises(trackkit.UsageError, match=f"(?i){__import__('re').escape(why)}"):
        compile_regex(pattern)


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        (r"^lr-0\.0", "lr-0.01", True),
        ("^run-[0-9]{1,3}$", "run-1234", False),
        ("(?i)^RES(net)?", "resnet50", True),
        (r"\d+\s\w+", "12 epochs", True),
        ("[^a-z]", "abc", False),
        ("a.c", "a\nc", True),  # PostgreSQL's . matches a newline
        ("abc$", "abc\n", False),  # PostgreSQL's $ is the very end
        ("(?:ab|cd)e*?", "cd", True),
        ("[]a]", "]", True),
    ],
)
def test_portable_regex_matches_as_postgresql_would(pattern: str, text: str, found: bool) -> None:
    """Patterns in the subset give the answer PostgreSQL's ~ gives, and pass unchanged to SQL."""
    assert (compile_regex(pattern).search(text) is not None) is found
    assert check_regex(pattern) == pattern


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("ab.^$|()[]{}*+?\\-,:=!<>Pi0123dwsbAZxn ")), max_size=12))
def test_any_pattern_compiles_or_is_a_usage_error(pattern: str) -> None:
    """Whatever a user types as a $regex, the answer is a pattern or a UsageError, never re.error."""
    try:
        compile_regex(pattern)
    except trackkit.UsageError:
        pass


# -- diff ---------------------------------------------------------------------------------------------
def test_diff_shows_1_and_1_0_and_none_and_missing_as_different(capsys) -> None:
    """`trackkit diff` prints 1 vs 1.0 and None vs (missing); --json keeps the types and leaves missing keys out."""
    with trackkit.init(project="d", config={"bs": 1, "warmup": None, "opt": "1"}) as a:
        pass
    with trackkit.init(project="d", config={"bs": 1.0, "opt": 1}) as b:
        pass
    rows = {line.split()[0]: line.split()[1:] for line in cli(capsys, "diff", f"d/{a.id}", f"d/{b.id}").splitlines()[2:]}
    assert rows == {"bs": ["1", "1.0"], "opt": ["'1'", "1"], "warmup": ["None", "(missing)"]}
    data = json.loads(cli(capsys, "diff", f"d/{a.id}", f"d/{b.id}", "--json"))
    assert type(data["bs"][a.id]) is int and type(data["bs"][b.id]) is float
    assert data["warmup"] == {a.id: None} and data["opt"] == {a.id: "1", b.id: 1}


# -- run paths and projects -----------------------------------------------------------------------------
def test_a_project_named_runs_is_found_by_its_path(capsys) -> None:
    """`trackkit show runs/zz` shows run zz of project "runs", even when another project has a zz."""
    with trackkit.init(project="runs", id="zz", name="in-runs"):
        pass
    with trackkit.init(project="other", id="zz", name="in-other"):
        pass
    assert json.loads(cli(capsys, "show", "runs/zz", "--json"))["name"] == "in-runs"
    api = trackkit.Api()
    assert api.run("local/runs/zz").name == "in-runs"
    assert api.run("other/runs/zz").name == "in-other"  # W&B's project/runs/id: "other" is no entity of runs/zz
    assert api.run("local/other/runs/zz").name == "in-other"


def test_a_project_starting_with_a_dot_is_listed_and_other_dot_folders_are_not(isolated_store: Path, capsys) -> None:
    """A ".hidden" project shows in projects() and runs(); .git or .ipynb_checkpoints in the store do not."""
    with trackkit.init(project=".hidden", name="dotted"):
        pass
    with trackkit.init(project="plain", name="plain"):
        pass
    for folder in (".git/objects/ab", ".ipynb_checkpoints", ".trackkit/cache"):
        (isolated_store / folder).mkdir(parents=True)
    api = trackkit.Api()
    assert [p.name for p in api.projects()] == [".hidden", "plain"]
    assert sorted(r.name for r in api.runs()) == ["dotted", "plain"]
    assert [p["name"] for p in json.loads(cli(capsys, "projects", "--json"))] == [".hidden", "plain"]


# -- a closed pipe ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["show", "runs", "diff"])
def test_output_into_head_ends_without_a_traceback(command: str, isolated_store: Path) -> None:
    """`trackkit show ... | head` (and runs, diff) stop quietly when the reader goes away."""
    with trackkit.init(project="big", config={f"key_{i:05d}": "x" * 40 for i in range(3000)}) as run:
        pass
    args = {"show": ["show", f"big/{run.id}"], "runs": ["runs", "big", "--json"], "diff": ["diff", run.id, "--all"]}
    process = subprocess.Popen([sys.executable, "-m", "trackkit", *args[command]], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, "TRACKKIT_DIR": str(isolated_store)})
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()  # what `head -1` does
    err = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
