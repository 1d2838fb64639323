"""Track a ``pytorch_lightning`` (standalone package) training run with trackkit.

    pip install 'trackkit[lightning]'          # or: pip install pytorch-lightning trackkit
    python examples/pytorch_lightning_example.py
    trackkit show lightning-example/<run id>

Here the script opens the run itself, with its own config, and ``PLTrackLogger()`` attaches to
it: everything Lightning knows (hyperparameters, trainer arguments, optimizer, model size,
every logged step) lands in that same run, which the ``with`` block finishes. A regression of
a noisy sine wave, generated in code, trains in a few seconds on a CPU.
"""

from __future__ import annotations

import argparse

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import trackkit
from trackkit.integrations.lightning import PLTrackLogger


class SineRegressor(pl.LightningModule):
    def __init__(self, hidden: int = 32, lr: float = 1e-2, momentum: float = 0.9) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 1))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("test_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=self.hparams.momentum)


def sine_loader(samples: int, batch_size: int, seed: int, shuffle: bool = False) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(samples, 1, generator=generator) * 6 - 3
    y = torch.sin(x) + 0.05 * torch.randn(samples, 1, generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=32)
    args = parser.parse_args()

    pl.seed_everything(0, verbose=False)
    with trackkit.init(project="lightning-example", config=args, tags=["sine", "pytorch_lightning"]) as run:
        trainer = pl.Trainer(
            max_epochs=args.epochs,
            logger=PLTrackLogger(),  # attaches to the active run
            accelerator="cpu",
            log_every_n_steps=5,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
        )
        model = SineRegressor(hidden=args.hidden)
        trainer.fit(model, sine_loader(512, args.batch_size, seed=0, shuffle=True), sine_loader(128, 64, seed=1))
        trainer.test(model, sine_loader(128, 64, seed=2))
        run.summary["note"] = "trained on a noisy sine"
    print(f"Run {run.project}/{run.id} is in {run.dir}")
    print(f"See it with: trackkit show {run.project}/{run.id}")


if __name__ == "__main__":
    main()
