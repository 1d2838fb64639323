"""A tiny regression model, data module and trainer for ``lightning.pytorch`` and ``pytorch_lightning``,
and helpers that read a run back the way a user would (``trackkit.Api()``)."""

from __future__ import annotations

import dataclasses
import importlib
import os
from argparse import Namespace
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import trackkit

PACKAGES = ("lightning.pytorch", "pytorch_lightning")
BATCHES_PER_EPOCH = 4

CALLED: list[str] = []


def must_not_be_called() -> None:
    """A callable hyperparameter: the logger records its name and must never call it."""
    CALLED.append("must_not_be_called")


@dataclasses.dataclass
class Schedule:
    warmup: int = 3
    decay: float = 0.5


class Framework:
    """One Lightning package, with a tiny LightningModule and DataModule built on it."""

    def __init__(self, package: str) -> None:
        self.name = package
        self.pl = importlib.import_module(package)
        self.loggers = importlib.import_module(f"{package}.loggers")
        self.callbacks = importlib.import_module(f"{package}.callbacks")
        from trackkit.integrations import lightning as integration

        self.TrackLogger = integration.TrackLogger if package == "lightning.pytorch" else integration.PLTrackLogger
        self.Module, self.DataModule = _make_classes(self.pl)

    def trainer(self, logger: Any, **kwargs: Any) -> Any:
        """A quiet CPU trainer: two epochs, every step logged, no sanity check."""
        options: dict[str, Any] = {
            "logger": logger,
            "max_epochs": 2,
            "log_every_n_steps": 1,
            "accelerator": "cpu",
            "devices": 1,
            "num_sanity_val_steps": 0,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": os.getcwd(),
        }
        options.update(kwargs)
        return self.pl.Trainer(**options)

    def __repr__(self) -> str:
        return self.name


def _make_classes(pl: Any) -> tuple[type, type]:
    class TinyRegressor(pl.LightningModule):
        def __init__(
            self,
            lr: float = 0.05,
            hidden: int = 16,
            activation: type = nn.Tanh,
            optim: dict[str, Any] | None = None,
            args: Namespace | None = None,
            schedule: Schedule | None = None,
            init_fn: Any = must_not_be_called,
            fail_at_step: int | None = None,
        ) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(4, hidden), activation(), nn.Linear(hidden, 1))
            self.fail_at_step = fail_at_step

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if self.fail_at_step is not None and self.global_step >= self.fail_at_step:
                raise RuntimeError("training exploded")
            x, y = batch
            loss = nn.functional.mse_loss(self(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", nn.functional.mse_loss(self(x), y))

        def test_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("test_loss", nn.functional.mse_loss(self(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9, weight_decay=1e-4)

    class RandomData(pl.LightningDataModule):
        def __init__(self, batch_size: int = 8, noise: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()
            generator = torch.Generator().manual_seed(0)
            x = torch.randn(batch_size * BATCHES_PER_EPOCH, 4, generator=generator)
            self.data = TensorDataset(x, x.sum(dim=1, keepdim=True) + noise * torch.randn(len(x), 1, generator=generator))

        def train_dataloader(self) -> DataLoader:
            return DataLoader(self.data, batch_size=self.hparams.batch_size)

        def val_dataloader(self) -> DataLoader:
            return DataLoader(self.data, batch_size=self.hparams.batch_size)

        def test_dataloader(self) -> DataLoader:
            return DataLoader(self.data, batch_size=self.hparams.batch_size)

    return TinyRegressor, RandomData


class StoreCase:
    """The store a single-process test writes to: the local store (``TRACKKIT_DIR``) or a ``MemoryStore``."""

    def __init__(self, kind: str) -> None:
        from trackkit.testing import MemoryStore

        self.kind = kind
        self.store = MemoryStore() if kind == "memory" else None

    @property
    def kwargs(self) -> dict[str, Any]:
        """What a logger or ``trackkit.init`` needs to write to this store."""
        return {"store": self.store} if self.store is not None else {}

    def api(self) -> trackkit.Api:
        return trackkit.Api(store=self.store) if self.store is not None else trackkit.Api()

    def files(self, project: str, run_id: str, prefix: str = "checkpoints/") -> dict[str, bytes]:
        """The run's files under ``prefix`` and their bytes, read through the store's file API."""
        store = self.api().store
        out = {}
        for info in store.list_files(project, run_id):
            if not info["name"].startswith(prefix):
                continue
            with store.open_file(project, run_id, info["name"]) as handle:
                out[info["name"]] = handle.read()
        return out

    def __repr__(self) -> str:
        return self.kind


def read_run(logger: Any, store: StoreCase | None = None) -> trackkit.ApiRun:
    """The logger's run, as a user reads it back."""
    return (store.api() if store is not None else trackkit.Api()).run(f"{logger.name}/{logger.version}")


def rows(run: trackkit.ApiRun) -> list[dict[str, Any]]:
    """History rows without the bookkeeping columns (``_step`` kept)."""
    return [{k: v for k, v in row.items() if k not in ("_timestamp", "_runtime")} for row in run.scan_history()]
