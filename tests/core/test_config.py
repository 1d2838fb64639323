"""run.config: dict-like access, one nested tree, JSON-safe values, changes, strictness, provenance."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import enum
import math
from pathlib import Path

import pytest

import trackkit


def stored_config(run: trackkit.Run) -> trackkit.ApiRun:
    return trackkit.Api().run(f"{run.project}/{run.id}")


def test_config_is_dict_like_and_attribute_accessible() -> None:
    """Item, attribute, get, in, keys/items/values, len, iteration and as_dict all work."""
    with trackkit.init(project="p", config={"lr": 0.1, "optim": {"name": "sgd", "momentum": 0.9}}) as run:
        config = run.config
        assert config["lr"] == 0.1 and config.lr == 0.1
        assert config.get("missing", 5) == 5 and config.get("lr") == 0.1
        assert "lr" in config and "nope" not in config
        assert sorted(config.keys()) == ["lr", "optim"] and len(config) == 2
        assert sorted(iter(config)) == ["lr", "optim"]
        assert dict(config.items())["lr"] == 0.1
        assert config.as_dict() == {"lr": 0.1, "optim": {"name": "sgd", "momentum": 0.9}}
        assert config == {"lr": 0.1, "optim": {"name": "sgd", "momentum": 0.9}}
        with pytest.raises(KeyError):
            config["missing"]
        with pytest.raises(AttributeError):
            config.missing


def test_nested_values_are_reachable_by_attribute_item_and_dotted_name() -> None:
    """config.optim.lr, config["optim"]["lr"] and config["optim.lr"] address the same leaf."""
    with trackkit.init(project="p", config={"optim": {"lr": 0.1}}) as run:
        assert run.config.optim.lr == run.config["optim"]["lr"] == run.config["optim.lr"] == 0.1
        assert "optim.lr" in run.config
        run.config.optim.lr = 0.2
        assert run.config["optim.lr"] == 0.2
        run.config["optim"]["wd"] = 0.01
        assert run.config.as_dict() == {"optim": {"lr": 0.2, "wd": 0.01}}


def test_dotted_names_build_one_canonical_nested_tree() -> None:
    """{"optim.lr": x} and config["optim.lr"] = x are stored nested, never as a flat dotted key."""
    with trackkit.init(project="p", config={"optim.lr": 0.1, "model": {"layers.n": 2}}) as run:
        run.config["data.path"] = "/tmp/d"
    assert stored_config(run).config == {"optim": {"lr": 0.1}, "model": {"layers": {"n": 2}}, "data": {"path": "/tmp/d"}}


def test_nested_update_merges_leaf_by_leaf() -> None:
    """Updating one nested leaf keeps its siblings (W&B replaces the whole dict)."""
    with trackkit.init(project="p", config={"optim": {"lr": 0.1, "momentum": 0.9}}) as run:
        run.config.update({"optim": {"lr": 0.2}})
        assert run.config.as_dict() == {"optim": {"lr": 0.2, "momentum": 0.9}}


class Color(enum.Enum):
    RED = 1


class Net:
    pass


def relu(x: float) -> float:
    return x


@dataclasses.dataclass
class Optim:
    lr: float = 0.1
    betas: tuple = (0.9, 0.999)


class Exploding:
    def __call__(self) -> None:
        raise AssertionError("config must never call user objects")

    def __repr__(self) -> str:
        return "Exploding()"


def test_values_are_made_json_safe_when_set_and_setting_never_raises() -> None:
    """Tuples, sets, paths, enums, datetimes, classes, functions, dataclasses and odd objects become JSON values."""
    np = pytest.importorskip("numpy")
    odd = object()
    config = {
        "tuple": (1, 2),
        "set": {3, 1, 2},
        "path": Path("/data/x"),
        "enum": Color.RED,
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
        "cls": Net,
        "fn": relu,
        "lambda": lambda x: x,
        "dc": Optim(),
        "np_float": np.float32(0.5),
        "np_int": np.int64(7),
        "np_array": np.arange(3),
        "callable_obj": Exploding(),
        "odd": odd,
        "nan": float("nan"),
        "inf": float("inf"),
        "bytes": b"abc",
    }
    with trackkit.init(project="p", config=config) as run:
        live = run.config.as_dict()
    stored = stored_config(run).config
    for values in (live, stored):
        assert values["tuple"] == [1, 2] and values["set"] == [1, 2, 3]
        assert values["path"] == "/data/x" and values["enum"] == "RED"
        assert values["when"] == "2026-01-02T03:04:05"
        assert values["cls"] == f"{__name__}.Net" and values["fn"] == f"{__name__}.relu"
        assert values["lambda"].endswith("<lambda>")
        assert values["dc"] == {"lr": 0.1, "betas": [0.9, 0.999]}
        assert values["np_float"] == 0.5 and type(values["np_float"]) is float
        assert values["np_int"] == 7 and type(values["np_int"]) is int
        assert values["np_array"] == [0, 1, 2]
        assert values["callable_obj"] == "Exploding()"
        assert values["odd"] == repr(odd)
        assert math.isnan(values["nan"]) and values["inf"] == math.inf
        assert values["bytes"] == "abc"


def test_changing_a_value_is_allowed_and_recorded() -> None:
    """As in the seed, a value set at init can change; the change keeps old, new, time, step and source."""
    with trackkit.init(project="p", config={"dropout": 0.5}) as run:
        run.log({"loss": 1.0})
        run.config["dropout"] = 0.2
    stored = stored_config(run)
    assert stored.config["dropout"] == 0.2
    (change,) = stored.config_changes
    assert (change["key"], change["old"], change["new"], change["step"], change["source"]) == ("dropout", 0.5, 0.2, 1, "set")
    assert change["time"] > 0


def test_strict_config_refuses_changes_without_allow_val_change() -> None:
    """Under strict_config a change raises ConfigChangeError and changes nothing; allow_val_change permits it."""
    with trackkit.init(project="p", config={"lr": 0.1, "bs": 32}, strict_config=True) as run:
        with pytest.raises(trackkit.ConfigChangeError, match="allow_val_change=True"):
            run.config["lr"] = 0.2
        with pytest.raises(trackkit.ConfigChangeError):
            run.config.update({"bs": 64, "new_key": 1})
        assert run.config.as_dict() == {"lr": 0.1, "bs": 32}  # nothing half-applied
        run.config["lr"] = 0.1  # re-setting an equal value is never an error
        run.config.update({"lr": 0.1, "bs": 32.0})
        run.config.update({"lr": 0.3}, allow_val_change=True)
        run.config["extra"] = 1  # new keys are fine
        assert run.config.lr == 0.3


def test_setdefaults_only_fills_missing_keys() -> None:
    """setdefaults never overrides and never raises, even under strict_config."""
    with trackkit.init(project="p", config={"lr": 0.1}, strict_config=True) as run:
        run.config.setdefaults({"lr": 0.5, "epochs": 3})
        assert run.config.as_dict() == {"lr": 0.1, "epochs": 3}


def test_provenance_says_where_each_key_came_from() -> None:
    """Each leaf remembers its source: init, update, set, or a named integration."""
    with trackkit.init(project="p", config={"lr": 0.1}) as run:
        run.config.update({"epochs": 3})
        run.config["seed"] = 1
        run.config.update({"trainer": {"devices": 1}}, source="lightning")
        assert run.config.provenance == {"lr": "init", "epochs": "update", "seed": "set", "trainer.devices": "lightning"}
    assert stored_config(run).provenance["trainer.devices"] == "lightning"


def test_argparse_namespace_dataclass_and_plain_object_configs() -> None:
    """Namespaces, dataclasses and objects with attributes are read as configs."""

    class Hparams:
        def __init__(self) -> None:
            self.width = 64
            self._private = "hidden"

    namespace = argparse.Namespace(batch_size=32, learning_rate=0.001)
    with trackkit.init(project="p", config=namespace) as run:
        run.config.update(Optim())
        run.config.update(Hparams())
    assert stored_config(run).config == {"batch_size": 32, "learning_rate": 0.001, "lr": 0.1,
                                          "betas": [0.9, 0.999], "width": 64}


def test_pydantic_and_omegaconf_configs_are_resolved() -> None:
    """A pydantic model gives its fields; an OmegaConf config is resolved (interpolations filled)."""
    pydantic = pytest.importorskip("pydantic")
    omegaconf = pytest.importorskip("omegaconf")

    class Model(pydantic.BaseModel):
        hidden: int = 128
        act: str = "relu"

    cfg = omegaconf.OmegaConf.create({"data": {"root": "/data", "train": "${data.root}/train"}, "epochs": 5})
    with trackkit.init(project="p", config=Model()) as run:
        run.config.update(cfg)
    assert stored_config(run).config == {"hidden": 128, "act": "relu", "epochs": 5,
                                         "data": {"root": "/data", "train": "/data/train"}}


def test_absl_flags_keep_only_the_users_flags_before_and_after_parsing() -> None:
    """absl FlagValues give the user's flags (not absl's own), defaults before parsing, parsed values after."""
    flags = pytest.importorskip("absl.flags")
    values = flags.FlagValues()
    flags.DEFINE_string("model", None, "model to run", flag_values=values)
    flags.DEFINE_integer("batch_size", 32, "batch size", flag_values=values)
    with trackkit.init(project="p") as run:
        run.config.update(values)
        assert run.config.as_dict() == {"batch_size": 32, "model": None}
        values(["prog", "--model=resnet", "--batch_size=64"])
        run.config.update(values)
        assert run.config.as_dict() == {"batch_size": 64, "model": "resnet"}
    assert stored_config(run).provenance["model"] == "update"


def test_a_yaml_path_is_a_config(tmp_path: Path) -> None:
    """init(config="file.yaml") and config.update(Path) read YAML, in W&B's desc/value form or plain."""
    wandb_style = tmp_path / "a.yaml"
    wandb_style.write_text("wandb_version: 1\nbatch_size:\n  desc: Size of each mini-batch\n  value: 32\n")
    plain = tmp_path / "b.yaml"
    plain.write_text("optim:\n  lr: 0.01\nlayers: [1, 2]\n")
    with trackkit.init(project="p", config=str(wandb_style)) as run:
        run.config.update(plain)
    assert stored_config(run).config == {"batch_size": 32, "optim": {"lr": 0.01}, "layers": [1, 2]}


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    """A YAML syntax error is a ConfigFileError with the file name and line number."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: 0.1\nlayers: [1, 2\nepochs: 3\n")
    with pytest.raises(trackkit.ConfigFileError, match=r"bad\.yaml.*line 3"):
        trackkit.init(project="p", config=bad)
    with pytest.raises(trackkit.ConfigFileError, match="does not exist"):
        trackkit.init(project="p", config=tmp_path / "missing.yaml")


def test_config_defaults_yaml_in_working_directory_is_loaded_and_overridden_by_init() -> None:
    """config-defaults.yaml (seed format) is loaded automatically; init(config=) overrides it."""
    Path("config-defaults.yaml").write_text("batch_size:\n  desc: Size of each mini-batch\n  value: 32\nepochs: 10\n")
    with trackkit.init(project="p", config={"epochs": 200}) as run:
        assert run.config.as_dict() == {"batch_size": 32, "epochs": 200}
        provenance = run.config.provenance
    assert provenance["batch_size"].startswith("defaults:") and provenance["batch_size"].endswith("config-defaults.yaml")
    assert provenance["epochs"] == "init"
    assert stored_config(run).config_changes == []  # layering is not a change


def test_precedence_defaults_then_init_then_command_line_files_then_updates(run_python, tmp_path: Path) -> None:
    """Low to high: config-defaults.yaml < init(config=) < --configs files (later wins) < later updates."""
    script_dir = tmp_path / "project"
    script_dir.mkdir()
    (script_dir / "config-defaults.yaml").write_text("a: defaults\nb: defaults\nc: defaults\nd: defaults\ne: defaults\n")
    (tmp_path / "work" / "one.yaml").write_text("c: one\nd: one\ne: one\n")
    (tmp_path / "work" / "two.yaml").write_text("d:\n  value: two\ne: two\n")
    run_python(
        """
        import trackkit
        run = trackkit.init(project="p", id="prec", config={"b": "init", "c": "init", "d": "init", "e": "init"})
        run.config.update({"e": "update"})
        run.finish()
        """,
        "--configs", "one.yaml,two.yaml",
        script_dir=script_dir,
    )
    stored = trackkit.Api().run("p/prec")
    assert stored.config == {"a": "defaults", "b": "init", "c": "one", "d": "two", "e": "update"}
    assert stored.provenance["c"].endswith("one.yaml") and stored.provenance["c"].startswith("file:")


def test_config_paths_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """TRACKKIT_CONFIG_PATHS (comma-separated) loads files like --configs."""
    (tmp_path / "x.yaml").write_text("lr: 0.5\n")
    (tmp_path / "y.yaml").write_text("lr: 0.7\nseed: 3\n")
    monkeypatch.setenv("TRACKKIT_CONFIG_PATHS", f"{tmp_path / 'x.yaml'},{tmp_path / 'y.yaml'}")
    with trackkit.init(project="p", config={"lr": 0.1}) as run:
        assert run.config.as_dict() == {"lr": 0.7, "seed": 3}


def test_malformed_config_defaults_is_a_clear_error() -> None:
    """A broken config-defaults.yaml stops init with the file and line, before a run is created."""
    Path("config-defaults.yaml").write_text("a: 1\n  b: 2\n")
    with pytest.raises(trackkit.ConfigFileError, match=r"config-defaults\.yaml.*line 2"):
        trackkit.init(project="p")
    assert trackkit.run is None


def test_config_is_durable_from_init_and_after_each_change(run_python) -> None:
    """A process killed right after a config change still has that change on disk."""
    run_python(
        """
        import os, signal, trackkit
        run = trackkit.init(project="p", id="durable", config={"lr": 0.1})
        run.config["lr"] = 0.2
        run.config.update({"epochs": 5})
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        check=False,
    )
    stored = trackkit.Api().run("p/durable")
    assert stored.config == {"lr": 0.2, "epochs": 5}
    assert stored.state == "crashed"


def test_config_cannot_change_after_finish() -> None:
    """Changing a finished run's config is an error that points to the API."""
    run = trackkit.init(project="p", config={"a": 1})
    run.finish()
    with pytest.raises(trackkit.RunFinishedError, match="Api"):
        run.config["a"] = 2


def test_an_empty_key_is_a_usage_error() -> None:
    """config[""] = 1 and update({"": 1}) raise a UsageError (a ValueError) and change nothing."""
    with trackkit.init(project="p", config={"a": 1}) as run:
        with pytest.raises(trackkit.UsageError, match="empty"):
            run.config.update({"": 1})
        with pytest.raises(ValueError):
            run.config[""] = 1
        assert run.config.as_dict() == {"a": 1}


def test_a_large_config_keeps_provenance_per_leaf() -> None:
    """20,000 nested keys go in at once, and replacing a subtree forgets only that subtree's provenance."""
    big = {f"layer{i}": {"width": i, "act": "relu"} for i in range(20_000)}
    with trackkit.init(project="p", config=big) as run:
        run.config.update({"layer5": {"width": 99}})
        run.config["layer6"] = "dropped"
        provenance = run.config.provenance
    assert provenance["layer5.width"] == "update" and provenance["layer5.act"] == "init"
    assert provenance["layer6"] == "set" and "layer6.width" not in provenance
    assert len(provenance) == 2 * 20_000 - 1
