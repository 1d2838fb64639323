"""Rewinding a run to a step (``init(resume_from_step=N)``, W&B's ``resume_from``), in one process
and on every store, and the reading rule other stores share (``resolve_history``)."""

from __future__ import annotations

import pytest

import trackkit
from trackkit._store import resolve_history
from trackkit.testing import MemoryStore


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_rewind_continues_from_the_step_after(kind) -> None:
    """Resuming from step 2 of a run that reached step 4: steps 3-4 are superseded, logging goes on at 3."""
    store = MemoryStore() if kind == "memory" else None
    with trackkit.init(project="p", id="r", store=store) as run:
        for step in range(5):
            run.log({"x": step})
    with trackkit.init(project="p", id="r", store=store, resume="allow", resume_from_step=2) as run:
        assert run.step == 3
        run.log({"x": 30})
    api = trackkit.Api(store=store) if store is not None else trackkit.Api()
    history = api.run("p/r")
    assert [(row["_step"], row["x"]) for row in history.scan_history()] == [(0, 0), (1, 1), (2, 2), (3, 30)]
    assert history.summary["x"] == 30
    assert len(list(history.scan_history(include_superseded=True))) == 6


def test_rewind_of_a_new_run_starts_after_the_step() -> None:
    """A run that does not exist yet (a checkpoint from elsewhere) starts at step N + 1."""
    with trackkit.init(project="p", id="fresh", resume_from_step=9) as run:
        run.log({"x": 1})
    assert [row["_step"] for row in trackkit.Api().run("p/fresh").scan_history()] == [10]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resume_from": "r?step=3"}, "'<run id>\\?_step=<N>'"),
        ({"resume_from": "r?_step=3", "id": "other"}, "names run 'r'"),
        ({"resume_from_step": -1}, "int >= 0"),
        ({"resume_from_step": 2, "resume": "never"}, "resume='never'"),
    ],
)
def test_bad_rewind_arguments_say_what_to_pass(kwargs, message) -> None:
    """A malformed resume_from or step is a UsageError that shows the expected form."""
    with pytest.raises(trackkit.UsageError, match=message):
        trackkit.init(project="p", **kwargs)
    assert trackkit.run is None


def test_resume_from_needs_the_run_to_exist() -> None:
    """resume_from='<id>?_step=N' means resume='must': a typo in the id is an error, not a new run."""
    with pytest.raises(trackkit.RunNotFoundError):
        trackkit.init(project="p", resume_from="nope?_step=3")


def test_resolve_history_applies_each_marker_to_the_rows_before_it() -> None:
    """Two rewinds: each supersedes the earlier rows past its step; rows after a marker stay."""
    rows = [
        {"_step": 0}, {"_step": 1}, {"_step": 2}, {"_step": 3},
        {"_rewind": 1, "_writer": "a", "_timestamp": 0.0},
        {"_step": 2, "k": "b"}, {"_step": 3, "k": "b"},
        {"_rewind": 2, "_writer": "b", "_timestamp": 1.0},
        {"_step": 3, "k": "c"},
    ]
    assert resolve_history(rows) == [{"_step": 0}, {"_step": 1}, {"_step": 2, "k": "b"}, {"_step": 3, "k": "c"}]
    flagged = [(row["_step"], row.get("k"), row.get("_superseded", False)) for row in resolve_history(rows, True)]
    assert flagged == [
        (0, None, False), (1, None, False), (2, None, True), (3, None, True),
        (2, "b", False), (3, "b", True), (3, "c", False),
    ]
