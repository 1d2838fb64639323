"""Choosing a store by path or URL: store= > dir= > TRACKKIT_STORE > TRACKKIT_DIR > ./trackkit-runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import trackkit
from trackkit._stores import DEFAULT_DIR_NAME, open_store, register_scheme, resolve_store


def test_a_path_and_a_file_url_open_the_same_local_store(tmp_path: Path) -> None:
    """store="/path" and store="file:///path" write to the same directory, and Api reads it by either."""
    with trackkit.init(project="p", id="a", store=str(tmp_path / "s")) as run:
        run.log({"x": 1.0})
    with trackkit.init(project="p", id="b", store=(tmp_path / "s").as_uri()) as run:
        run.log({"x": 2.0})
    assert sorted(r.id for r in trackkit.Api(store=(tmp_path / "s").as_uri()).runs("p")) == ["a", "b"]
    assert sorted(r.id for r in trackkit.Api(tmp_path / "s").runs("p")) == ["a", "b"]


def test_memory_urls_name_one_store_per_process() -> None:
    """memory://name is the same MemoryStore wherever it is named; another name is another store."""
    with trackkit.init(project="p", id="m1", store="memory://test-urls-one") as run:
        run.log({"loss": 0.5})
    assert trackkit.Api(store="memory://test-urls-one").run("p/m1").summary["loss"] == 0.5
    assert open_store("memory://test-urls-one") is open_store("memory://test-urls-one")
    assert len(trackkit.Api(store="memory://test-urls-other").runs("p")) == 0


def test_precedence_store_then_dir_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """store= wins over dir=, dir= over TRACKKIT_STORE, TRACKKIT_STORE over TRACKKIT_DIR."""
    monkeypatch.setenv("TRACKKIT_DIR", str(tmp_path / "from-dir-env"))
    assert resolve_store().location == str(tmp_path / "from-dir-env")
    monkeypatch.setenv("TRACKKIT_STORE", str(tmp_path / "from-store-env"))
    assert resolve_store().location == str(tmp_path / "from-store-env")
    assert resolve_store(dir=tmp_path / "arg-dir").location == str(tmp_path / "arg-dir")
    assert resolve_store(store=str(tmp_path / "arg-store"), dir=tmp_path / "arg-dir").location == str(tmp_path / "arg-store")
    with trackkit.init(project="p", id="env") as run:
        pass
    assert Path(run.dir).is_relative_to(tmp_path / "from-store-env")


def test_an_unknown_scheme_is_a_usage_error_naming_the_accepted_ones() -> None:
    """A typo in a URL fails at once with what would have worked."""
    with pytest.raises(trackkit.UsageError, match=r"unknown scheme 'htp'.*memory://.*http\(s\)://"):
        trackkit.init(project="p", store="htp://localhost:8080")


def test_a_server_url_without_its_client_names_the_server_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL whose client module is not installed points at `pip install 'trackkit[server]'`."""
    from trackkit import _stores

    monkeypatch.setitem(_stores._PROVIDERS, "tkmissing", "trackkit._no_such_client")
    with pytest.raises(trackkit.UsageError, match=r"pip install 'trackkit\[server\]'"):
        open_store("tkmissing://host:1")


def test_a_registered_scheme_opens_its_store_with_the_spool_dir(tmp_path: Path) -> None:
    """The server package plugs a scheme in with register_scheme; dir= reaches it as the local spool."""
    seen: list[tuple[str, str | None]] = []

    def opener(url: str, spool: str | None) -> trackkit.Store:
        seen.append((url, spool))
        return open_store("memory://registered-scheme")

    register_scheme("tktest", opener)
    try:
        with trackkit.init(project="p", id="r", store="tktest://host:1", dir=tmp_path / "spool") as run:
            run.log({"x": 1.0})
    finally:
        from trackkit import _stores

        _stores._OPENERS.pop("tktest")
    assert seen == [("tktest://host:1", str(tmp_path / "spool"))]
    assert trackkit.Api(store="memory://registered-scheme").run("p/r").summary["x"] == 1.0


def test_the_default_folder_cannot_be_imported_and_an_old_trackkit_folder_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without any setting runs go to ./trackkit-runs; an existing ./trackkit store is read and written."""
    monkeypatch.delenv("TRACKKIT_DIR")
    assert not DEFAULT_DIR_NAME.isidentifier()
    with trackkit.init(project="p", id="new") as run:
        pass
    assert Path(run.dir).parent.parent == Path.cwd() / DEFAULT_DIR_NAME

    old = tmp_path / "old"
    (old / "trackkit" / "p" / "r0").mkdir(parents=True)
    (old / "trackkit" / "p" / "r0" / "run.json").write_text('{"id": "r0", "state": "finished"}')
    monkeypatch.chdir(old)
    with trackkit.init(project="p", id="r1") as run:
        pass
    assert Path(run.dir).parent.parent == old / "trackkit"
    assert sorted(r.id for r in trackkit.Api().runs("p")) == ["r0", "r1"]


def test_the_old_folder_note_says_how_to_rename_it_once(tmp_path: Path) -> None:
    """A user with ./trackkit/ is told once per process how to move to the new name (-P: the folder itself
    would shadow the package, which is why it is renamed)."""
    (tmp_path / "trackkit" / "p" / "r0").mkdir(parents=True)
    (tmp_path / "trackkit" / "p" / "r0" / "run.json").write_text('{"id": "r0", "state": "finished"}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKKIT_")}
    code = (
        "import trackkit\nfor i in range(2):\n    trackkit.init(project='p').finish(quiet=True)\n"
        "print(len(trackkit.Api().runs('p')))"
    )
    result = subprocess.run([sys.executable, "-P", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
    assert result.stderr.count("mv trackkit trackkit-runs") == 1


def test_a_directory_named_trackkit_that_is_a_package_is_not_taken_for_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source checkout's ./trackkit package is never written into."""
    monkeypatch.delenv("TRACKKIT_DIR")
    (tmp_path / "trackkit" / "p" / "r0").mkdir(parents=True)
    (tmp_path / "trackkit" / "__init__.py").write_text("")
    (tmp_path / "trackkit" / "p" / "r0" / "run.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert resolve_store().location == str(tmp_path / DEFAULT_DIR_NAME)


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_generated_names_count_up_without_listing_the_project(kind: str, tmp_path: Path) -> None:
    """Unnamed runs are numbered 1, 2, 3 in each project; named and resumed runs take no number."""
    store = trackkit.LocalStore(tmp_path / "s") if kind == "local" else open_store(f"memory://numbers-{tmp_path.name}")
    names = []
    for _ in range(3):
        with trackkit.init(project="p", store=store) as run:
            names.append(run.name)
    with trackkit.init(project="p", name="mine", store=store):
        pass
    with trackkit.init(project="p", id=run.id, resume="allow", store=store) as resumed:
        assert resumed.name == names[-1]
    with trackkit.init(project="q", store=store) as other:
        pass
    assert [name.rsplit("-", 1)[1] for name in names] == ["1", "2", "3"]
    assert other.name.endswith("-1")
    with trackkit.init(project="p", store=store) as fourth:
        pass
    assert fourth.name.endswith("-4")


def test_the_counter_starts_from_the_runs_already_in_a_project(tmp_path: Path) -> None:
    """A project written before the counter existed continues its numbering."""
    store = trackkit.LocalStore(tmp_path / "s")
    for index in range(2):
        trackkit.init(project="p", id=f"old{index}", name=f"old-{index}", store=store).finish()
    assert not (tmp_path / "s" / "p" / ".run-counter").exists()  # named runs take no number
    with trackkit.init(project="p", store=store) as run:
        pass
    assert run.name.endswith("-3")
