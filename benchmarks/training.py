"""Training-loop overhead: one tiny Lightning or Keras run in this (fresh) process.

    python benchmarks/training.py lightning --logger trackkit --epochs 6 --batches 1000 --workdir /tmp/x
    python benchmarks/training.py keras --logger none --epochs 6 --batches 1000 --workdir /tmp/x

The model is a single linear layer on synthetic data, with many small batches, so that an
epoch is dominated by per-step framework work and a logger's per-step cost shows. Prints one
JSON line: every epoch's wall time, or ``{"unavailable": "..."}`` when the logger (our plugin
or a peer) cannot be imported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

FEATURES = 16
BATCH_SIZE = 8


def _unavailable(reason: str) -> None:
    print("\n" + json.dumps({"unavailable": reason}), flush=True)
    sys.exit(0)


def lightning_run(logger_name: str, epochs: int, batches: int, log_every: int | None, workdir: str) -> list[float]:
    import torch
    from lightning import pytorch as pl

    torch.manual_seed(0)
    torch.set_num_threads(1)

    class Tiny(pl.LightningModule):
        def __init__(self, lr: float = 0.01, hidden: int = FEATURES) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(hidden, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self._start = time.perf_counter()

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            self.times.append(time.perf_counter() - self._start)

    logger: Any
    if logger_name == "none":
        logger = False
    elif logger_name == "csv":
        from lightning.pytorch.loggers import CSVLogger

        logger = CSVLogger(workdir)
    elif logger_name == "wandb":
        try:
            import wandb  # noqa: F401
        except ImportError:
            _unavailable("wandb not installed")
        from lightning.pytorch.loggers import WandbLogger

        logger = WandbLogger(project="bench", save_dir=workdir, offline=True)
    else:
        try:
            from trackkit.integrations.lightning import TrackLogger
        except ImportError as error:
            _unavailable(f"plugin not available ({error})")
        logger = TrackLogger(project="bench")

    n = batches * BATCH_SIZE
    data = torch.utils.data.TensorDataset(torch.randn(n, FEATURES), torch.randn(n, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH_SIZE, shuffle=False, num_workers=0)
    timer = EpochTimer()
    trainer = pl.Trainer(
        max_epochs=epochs, logger=logger, callbacks=[timer], enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", devices=1, default_root_dir=workdir,
        **({"log_every_n_steps": log_every} if log_every else {}),
    )
    trainer.fit(Tiny(), loader)
    return timer.times


def keras_run(logger_name: str, epochs: int, batches: int, log_every: int | None, workdir: str) -> list[float]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import numpy as np

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(1)

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.times.append(time.perf_counter() - self._start)

    timer = EpochTimer()
    callbacks: list[Any] = [timer]
    if logger_name == "trackkit":
        try:
            from trackkit.integrations.keras import TrackCallback
        except ImportError as error:
            _unavailable(f"plugin not available ({error})")
        callbacks.append(TrackCallback(project="bench", log_every_n_batches=log_every or None))
    elif logger_name == "csv":
        callbacks.append(keras.callbacks.CSVLogger(os.path.join(workdir, "log.csv")))
    elif logger_name != "none":
        _unavailable(f"no {logger_name} logger for Keras here")

    keras.utils.set_random_seed(0)
    n = batches * BATCH_SIZE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, FEATURES)).astype("float32")
    y = rng.standard_normal((n, 1)).astype("float32")
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0, callbacks=callbacks, shuffle=False)
    return timer.times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("framework", choices=("lightning", "keras"))
    parser.add_argument("--logger", required=True)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--log-every", type=int, default=0,
                        help="Lightning log_every_n_steps / trackkit Keras log_every_n_batches (0: the default)")
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    os.chdir(args.workdir)
    os.environ["TRACKKIT_DIR"] = os.path.join(args.workdir, "trackkit")
    start = time.perf_counter()
    if args.framework == "lightning":
        times = lightning_run(args.logger, args.epochs, args.batches, args.log_every, args.workdir)
    else:
        times = keras_run(args.logger, args.epochs, args.batches, args.log_every, args.workdir)
    print("\n" + json.dumps({"epoch_s": times, "total_s": time.perf_counter() - start}), flush=True)


if __name__ == "__main__":
    main()
