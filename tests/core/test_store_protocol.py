"""The storage protocol: Run and Api work the same over the local store and the memory store."""

from __future__ import annotations

import pytest

import trackkit
from trackkit.testing import MemoryStore


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path) -> trackkit.Store:
    return trackkit.LocalStore(tmp_path / "s") if request.param == "local" else MemoryStore()


def test_a_run_round_trips_through_any_store(store: trackkit.Store) -> None:
    """Config, history, summary and state written through one store read back the same."""
    assert isinstance(store, trackkit.Store)
    with trackkit.init(project="p", id="r1", config={"a": {"b": 1}}, store=store) as run:
        run.log({"x": 1.5})
        run.log({"x": 2.5}, step=7)
        run.config["a.c"] = 2
    api_run = trackkit.Api(store=store).run("p/r1")
    assert api_run.config == {"a": {"b": 1, "c": 2}} and api_run.state == "finished"
    assert [(r["_step"], r["x"]) for r in api_run.scan_history()] == [(0, 1.5), (7, 2.5)]
    assert api_run.summary == {"x": 2.5}
    with trackkit.init(project="p", id="r1", resume="must", store=store) as run:
        assert run.step == 8
    with pytest.raises(trackkit.RunNotFoundError):
        trackkit.init(project="p", id="r2", resume="must", store=store)


def test_a_run_open_for_writing_cannot_be_opened_twice(store: trackkit.Store) -> None:
    """Two writers of one run id get a RunInUseError instead of corrupting it."""
    first = trackkit.init(project="p", id="busy", store=store, reinit="create_new")
    with pytest.raises(trackkit.RunInUseError):
        trackkit.init(project="p", id="busy", resume="allow", store=store, reinit="create_new")
    first.finish()
