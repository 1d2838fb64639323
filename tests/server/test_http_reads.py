"""Reading a tracking server costs few requests: ``Api(store="http://...").runs(...)`` asks once per page
(not once per run), and a GET of something that did not change is answered 304 to a conditional request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from server_process import ServerProcess

import trackkit

RUNS = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real server over a local store holding ``RUNS`` finished runs and one still running."""
    root: Path = tmp_path_factory.mktemp("http-reads")
    store = root / "store"
    for index in range(RUNS):
        with trackkit.init(project="reads", dir=str(store), config={"lr": index / 100}) as run:
            run.log({"loss": 1.0 / (index + 1)})
    live = trackkit.init(project="live", id="live", dir=str(store))
    live.log({"loss": 1.0})
    live.flush()
    process = ServerProcess(str(store), log=root / "server.log", extra=("--files-dir", str(root / "files"))).start()
    yield process
    process.stop()
    live.finish()


@pytest.fixture
def requests_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the HTTP store's requests (counted on their way to the real server)."""
    from trackkit._http_store import HttpClient

    made: list[str] = []
    real = HttpClient.request

    def counted(self: HttpClient, method: str, path: str, **options: Any) -> Any:
        made.append(f"{method} {path}")
        return real(self, method, path, **options)

    monkeypatch.setattr(HttpClient, "request", counted)
    return made


def test_listing_runs_with_their_config_and_summary_is_one_request_per_page(server: ServerProcess,
                                                                            requests_made: list[str]) -> None:
    """Iterating ``Api().runs()`` and reading each run's name, state, config and summary asks for pages
    of runs only: one request for a page that holds them all, a few for small pages."""
    api = trackkit.Api(store=server.url)
    seen = [(run.name, run.state, run.config["lr"], run.summary["loss"]) for run in api.runs("reads")]
    assert len(seen) == RUNS and all(state == "finished" for _, state, _, _ in seen)
    assert requests_made == ["GET /projects/reads/runs"]
    requests_made.clear()
    assert len(list(api.runs("reads", per_page=4))) == RUNS  # pages grow: 4, then 32
    assert requests_made == ["GET /projects/reads/runs"] * 2


def test_an_unchanged_run_is_answered_304_to_a_conditional_request(server: ServerProcess) -> None:
    """What a live view polls (the run, its keys, the runs page) carries an ETag; asking again with it
    while nothing changed gets 304 and no body."""
    for path in ("/api/v1/projects/live/runs/live", "/api/v1/projects/live/runs/live/keys", "/api/v1/projects/live/runs"):
        first = requests.get(server.url + path, timeout=30)
        assert first.status_code == 200 and first.headers["etag"]
        again = requests.get(server.url + path, headers={"If-None-Match": first.headers["etag"]}, timeout=30)
        assert (again.status_code, again.content) == (304, b"")
