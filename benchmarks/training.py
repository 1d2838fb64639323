"""Training-loop overhead: tiny Lightning or Keras runs, with several loggers, in this (fresh) process.

    python benchmarks/training.py lightning --loggers none,trackkit,csv --rounds 8 --batches 500 --workdir /tmp/x
    python benchmarks/training.py keras --loggers none,trackkit --rounds 8 --batches 500 --workdir /tmp/x

The model is a single linear layer on synthetic data, with many small batches, so that an
epoch is dominated by per-step framework work and a logger's per-step cost shows. A 2% effect
drowns in the noise of a shared machine when runs are minutes apart, so the loggers are
interleaved: each round fits one epoch with every logger in turn (a fresh Trainer / ``fit``
per epoch, the same model), and only the epoch itself is timed, not the set-up. A logger is
``name`` or ``name@N`` (log every N steps / batches). Prints one JSON line: the epoch times
per logger, and the loggers that could not be imported.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

FEATURES = 16
BATCH_SIZE = 8


class Unavailable(Exception):
    """The logger (our plugin or a peer) cannot be imported here."""


def lightning_rounds(loggers: list[str], rounds: int, batches: int, workdir: str) -> dict[str, list[float]]:
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
        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.start = (time.perf_counter(), time.process_time())

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            self.elapsed = (time.perf_counter() - self.start[0], time.process_time() - self.start[1])

    def make_logger(name: str) -> Any:
        if name == "none":
            return False
        if name == "csv":
            from lightning.pytorch.loggers import CSVLogger

            return CSVLogger(workdir)
        if name == "wandb":
            try:
                import wandb  # noqa: F401
            except ImportError:
                raise Unavailable("wandb not installed") from None
            from lightning.pytorch.loggers import WandbLogger

            return WandbLogger(project="bench", save_dir=workdir, offline=True)
        if name == "trackkit":
            try:
                from trackkit.integrations.lightning import TrackLogger
            except ImportError as error:
                raise Unavailable(f"plugin not available ({error})") from None
            return TrackLogger(project="bench")
        raise Unavailable(f"unknown logger {name!r}")

    n = batches * BATCH_SIZE
    data = torch.utils.data.TensorDataset(torch.randn(n, FEATURES), torch.randn(n, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH_SIZE, shuffle=False, num_workers=0)
    model = Tiny()

    def epoch(spec: str) -> tuple[float, float]:
        name, _, every = spec.partition("@")
        timer = EpochTimer()
        trainer = pl.Trainer(
            max_epochs=1, logger=make_logger(name), callbacks=[timer], enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1,
            default_root_dir=workdir, **({"log_every_n_steps": int(every)} if every else {}),
        )
        trainer.fit(model, loader)
        return timer.elapsed

    return _interleave(loggers, rounds, epoch)


def keras_rounds(loggers: list[str], rounds: int, batches: int, workdir: str) -> dict[str, list[float]]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import numpy as np

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(1)

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.elapsed = (time.perf_counter() - self.start[0], time.process_time() - self.start[1])

    def make_callbacks(name: str, every: int | None) -> list[Any]:
        if name == "none":
            return []
        if name == "csv":
            return [keras.callbacks.CSVLogger(os.path.join(workdir, "log.csv"))]
        if name == "trackkit":
            try:
                from trackkit.integrations.keras import TrackCallback
            except ImportError as error:
                raise Unavailable(f"plugin not available ({error})") from None
            return [TrackCallback(project="bench", log_every_n_batches=every)]
        raise Unavailable(f"no {name} logger for Keras here")

    keras.utils.set_random_seed(0)
    n = batches * BATCH_SIZE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, FEATURES)).astype("float32")
    y = rng.standard_normal((n, 1)).astype("float32")
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")

    def epoch(spec: str) -> tuple[float, float]:
        name, _, every = spec.partition("@")
        extra = make_callbacks(name, int(every) if every else None)
        timer = EpochTimer()
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0, callbacks=[timer, *extra], shuffle=False)
        for callback in extra:
            finish = getattr(callback, "finish", None)
            if finish is not None:
                finish()
        return timer.elapsed

    return _interleave(loggers, rounds, epoch)


def _interleave(loggers: list[str], rounds: int, epoch: Any) -> dict[str, Any]:
    """Round 0 warms up (dropped); each later round runs every logger once, in a rotating order.
    Each epoch gives its wall time and its CPU time (every thread of this process): on a machine
    shared with other jobs, the CPU time is the stable figure."""
    times: dict[str, list[float]] = {spec: [] for spec in loggers}
    cpu: dict[str, list[float]] = {spec: [] for spec in loggers}
    unavailable: dict[str, str] = {}
    for round_ in range(rounds + 1):
        live = [spec for spec in loggers if spec not in unavailable]
        shift = round_ % len(live) if live else 0
        for spec in live[shift:] + live[:shift]:
            try:
                wall, cpu_time = epoch(spec)
            except Unavailable as reason:
                unavailable[spec] = str(reason)
                continue
            if round_:
                times[spec].append(wall)
                cpu[spec].append(cpu_time)
    return {"epoch_s": {k: v for k, v in times.items() if k not in unavailable},
            "epoch_cpu_s": {k: v for k, v in cpu.items() if k not in unavailable}, "unavailable": unavailable}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("framework", choices=("lightning", "keras"))
    parser.add_argument("--loggers", required=True, help="comma-separated: none, trackkit, csv, wandb; name@N")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    os.chdir(args.workdir)
    os.environ["TRACKKIT_DIR"] = os.path.join(args.workdir, "trackkit")
    loggers = [spec for spec in args.loggers.split(",") if spec]
    run = lightning_rounds if args.framework == "lightning" else keras_rounds
    start = time.perf_counter()
    result = run(loggers, args.rounds, args.batches, args.workdir)
    result["total_s"] = time.perf_counter() - start
    print("\n" + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
