"""How users reach TrackLogger: the two packages' base classes, LightningCLI, imports, flags,
multi-process strategies and the example scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lightning_tiny import Framework, StoreCase, rows

import trackkit

ROOT = Path(__file__).resolve().parents[2]

TINY_SCRIPT_HEAD = """
import os, sys
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import lightning.pytorch as L
from trackkit.integrations.lightning import TrackLogger


class Tiny(L.LightningModule):
    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_fit_end(self):
        os.makedirs("ranks", exist_ok=True)
        with open(f"ranks/{self.trainer.global_rank}", "w") as handle:
            handle.write(str(self.logger.version))


def loader():
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)


def trainer(logger, **kwargs):
    return L.Trainer(logger=logger, max_epochs=2, log_every_n_steps=1, accelerator="cpu", enable_progress_bar=False,
                     enable_model_summary=False, enable_checkpointing=False, **kwargs)
"""


def test_each_logger_subclasses_its_own_packages_logger() -> None:
    """TrackLogger is a lightning.pytorch Logger and PLTrackLogger a pytorch_lightning one, importable by name."""
    import lightning.pytorch as L
    import pytorch_lightning as pl

    from trackkit.integrations import lightning as integration
    from trackkit.integrations.lightning import PLTrackLogger, TrackLogger

    assert isinstance(TrackLogger(), L.loggers.Logger) and not isinstance(TrackLogger(), pl.loggers.Logger)
    assert isinstance(PLTrackLogger(), pl.loggers.Logger) and not isinstance(PLTrackLogger(), L.loggers.Logger)
    assert f"{TrackLogger.__module__}.{TrackLogger.__qualname__}" == "trackkit.integrations.lightning.TrackLogger"
    assert getattr(integration, PLTrackLogger.__qualname__) is PLTrackLogger
    assert trackkit.run is None  # making a logger opens no run


def test_importing_the_integration_imports_no_framework() -> None:
    """`import trackkit.integrations.lightning` imports neither Lightning package nor torch until a class is used."""
    code = (
        "import sys, trackkit.integrations.lightning as tl\n"
        "print(sorted(m for m in ('lightning', 'pytorch_lightning', 'torch') if m in sys.modules))\n"
        "tl.PLTrackLogger\n"
        "print('lightning' in sys.modules, 'pytorch_lightning' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["[]", "False True"]


@pytest.mark.parametrize("class_name", ["TrackLogger", "PLTrackLogger"])
def test_lightning_cli_accepts_the_logger_by_class_path(class_name: str) -> None:
    """LightningCLI resolves --trainer.logger=trackkit.integrations.lightning.<name> and its init args."""
    package = "lightning.pytorch" if class_name == "TrackLogger" else "pytorch_lightning"
    framework = Framework(package)
    cli_module = __import__(f"{package}.cli", fromlist=["LightningCLI"])
    args = [
        "fit",
        f"--trainer.logger=trackkit.integrations.lightning.{class_name}",
        "--trainer.logger.project=cli",
        "--trainer.logger.id=cli00001",
        "--trainer.logger.tags=[from-cli]",
        "--trainer.max_epochs=1",
        "--trainer.accelerator=cpu",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.num_sanity_val_steps=0",
        "--model.lr=0.02",
        "--model.hidden=4",
        "--data.batch_size=4",
    ]
    cli = cli_module.LightningCLI(_CliModel(framework), framework.DataModule, args=args, save_config_callback=None)
    assert isinstance(cli.trainer.logger, framework.loggers.Logger)

    run = trackkit.Api().run("cli/cli00001")
    assert run.state == "finished"
    assert list(run.tags) == ["from-cli"]
    assert (run.config["lr"], run.config["hidden"], run.config["batch_size"]) == (0.02, 4, 4)
    assert "_instantiator" not in run.config and "_class_path" not in run.config
    assert run.config["trainer"]["optimizer"]["lr"] == 0.02


def test_lightning_cli_config_is_stored_in_the_run_and_a_second_fit_works_with_overwrite(store: StoreCase) -> None:
    """The CLI's resolved config lands under cli.* and as the run file cli/config.yaml; with
    save_config_kwargs={"overwrite": True} a second fit in the same directory runs (without it
    Lightning refuses, as for every logger but TensorBoard/CSV)."""
    framework = Framework("lightning.pytorch")
    from lightning.pytorch.cli import LightningCLI

    def fit(run_id: str, **cli_kwargs: object) -> object:
        args = [
            "fit", "--trainer.max_epochs=1", "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false", "--trainer.num_sanity_val_steps=0", "--model.lr=0.02",
        ]
        from jsonargparse import lazy_instance

        logger = lazy_instance(framework.TrackLogger, project="cli", id=run_id, **store.kwargs)
        return LightningCLI(_CliModel(framework), framework.DataModule, args=args, trainer_defaults={"logger": logger},
                            **cli_kwargs)

    fit("first001", save_config_kwargs={"overwrite": True})
    fit("second01", save_config_kwargs={"overwrite": True})
    with pytest.raises(RuntimeError, match="config.yaml"):
        fit("third001")

    for run_id in ("first001", "second01"):
        run = store.api().run(f"cli/{run_id}")
        assert run.state == "finished"
        assert run.config["cli"]["model"]["lr"] == 0.02
        assert run.config["cli"]["trainer"]["max_epochs"] == 1
        assert run.provenance["cli.model.lr"] == "lightning"
        text = store.files("cli", run_id, prefix="cli/")["cli/config.yaml"].decode()
        assert "lr: 0.02" in text and "max_epochs: 1" in text


def _CliModel(framework: Framework) -> type:
    """The tiny module with a signature LightningCLI can turn into options."""
    base = framework.Module

    class CliModel(base):  # type: ignore[misc, valid-type]
        def __init__(self, lr: float = 0.05, hidden: int = 16) -> None:
            super().__init__(lr=lr, hidden=hidden)

    return CliModel


def test_absl_flags_are_captured_and_explicit_config_wins(run_python) -> None:
    """A script's absl flags land in the config with provenance 'flags'; config= wins on a clash."""
    run_python(TINY_SCRIPT_HEAD + """
from absl import flags
flags.DEFINE_float("lr", 0.1, "learning rate")
flags.DEFINE_integer("layers", 3, "depth")
flags.FLAGS(["script", "--layers=5"])
logger = TrackLogger(project="flags", id="flags001", config={"lr": 0.5})
trainer(logger, max_steps=2).fit(Tiny(), loader())
""")
    run = trackkit.Api().run("flags/flags001")
    assert run.config["layers"] == 5 and run.provenance["layers"] == "flags"
    assert run.config["lr"] == 0.5 and run.provenance["lr"] == "init"
    assert run.config["hidden"] == 8


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp_spawn", "ddp"])
def test_two_process_training_writes_one_run_from_rank_zero(run_python, tmp_path: Path, strategy: str) -> None:
    """With two CPU processes, both ranks agree on the version and only rank zero writes, into one run."""
    result = run_python(TINY_SCRIPT_HEAD + f"""
if __name__ == "__main__":
    logger = TrackLogger(project="ddp")
    trainer(logger, strategy="{strategy}", devices=2).fit(Tiny(), loader())
    if int(os.environ.get("LOCAL_RANK", "0")) == 0:
        print("VERSION", logger.version)
""", timeout=300)
    version = result.stdout.split("VERSION ")[1].split()[0]
    ranks = tmp_path / "work" / "ranks"
    assert {p.name: p.read_text() for p in ranks.iterdir()} == {"0": version, "1": version}

    (run,) = trackkit.Api().runs("ddp")
    assert run.id == version and run.state == "finished"
    assert run.config["trainer"]["world_size"] == 2
    history = rows(run)
    assert [row["_step"] for row in history] == [0, 1, 2, 3]  # 32 samples / 2 ranks / 8 per batch, 2 epochs
    assert [row["epoch"] for row in history if "train_loss_epoch" in row] == [0, 1]


@pytest.mark.parametrize("script", ["lightning_example.py", "pytorch_lightning_example.py"])
def test_example_scripts_run_and_say_where_the_run_is(script: str, isolated_store: Path) -> None:
    """The examples train, print where the run is, and leave a finished run with config and epoch metrics."""
    env = {**os.environ, "TRACKKIT_DIR": str(isolated_store)}
    env.pop("TRACKKIT_SILENT", None)
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script)], capture_output=True, text=True,
                            env=env, timeout=300, check=True)
    (run,) = trackkit.Api().runs("lightning-example")
    assert f"lightning-example/{run.id}" in result.stdout + result.stderr
    assert run.state == "finished"
    assert run.config["trainer"]["max_epochs"] == 3
    assert [row["epoch"] for row in run.scan_history() if "val_loss" in row] == [0, 1, 2]
    assert "test_loss" in run.summary
