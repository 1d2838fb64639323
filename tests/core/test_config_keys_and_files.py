"""Config keys are kept as given, and a bad config file fails ``init`` before a run exists."""

from __future__ import annotations

import pytest

import trackkit


def test_config_keys_keep_leading_and_trailing_dashes() -> None:
    """Integer keys such as -1 and flag-like keys such as "--lr" are kept as given: no value is lost."""
    with trackkit.init(project="p", id="dash", config={"class_weight": {-1: 1.0, 1: 5.0}, "--lr": 0.1}) as run:
        run.config["-"] = "dash"
        run.config.update({"tail-": 2})
    config = trackkit.Api().run("p/dash").config
    assert config == {"class_weight": {"-1": 1.0, "1": 5.0}, "--lr": 0.1, "-": "dash", "tail-": 2}


def test_a_key_of_only_dots_says_so() -> None:
    """A key like "." names no key: the message says that, not that the key is empty."""
    with trackkit.init(project="p") as run, pytest.raises(trackkit.UsageError, match="between the dots"):
        run.config.update({".": 1})


@pytest.mark.parametrize("source", ["defaults", "configs"])
def test_a_bad_config_file_leaves_no_run_and_a_retry_works(tmp_path, monkeypatch, source) -> None:
    """A malformed config-defaults.yaml or a missing --configs file raises ConfigFileError before
    anything is written; once fixed, init(id=..., resume="allow") in the same process succeeds."""
    work = tmp_path / "work"
    if source == "defaults":
        (work / "config-defaults.yaml").write_text("lr: [0.1\n")
    else:
        monkeypatch.setenv("TRACKKIT_CONFIG_PATHS", "missing.yaml")
    with pytest.raises(trackkit.ConfigFileError):
        trackkit.init(project="p", id="job", resume="allow")
    assert trackkit.run is None
    assert list(trackkit.Api().runs("p")) == []
    if source == "defaults":
        (work / "config-defaults.yaml").write_text("lr: 0.1\n")
    else:
        (work / "missing.yaml").write_text("lr: 0.1\n")
    with trackkit.init(project="p", id="job", resume="allow") as run:
        assert run.config.lr == 0.1
        assert not run.resumed
    assert trackkit.Api().run("p/job").state == "finished"
