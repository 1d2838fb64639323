"""Train a small classifier with Lightning (``import lightning``) and track it with trackkit.

    pip install 'trackkit[lightning]'
    python examples/lightning_example.py
    trackkit show lightning-example/<run id>

Two interleaved spirals, generated in code; three epochs take a few seconds on a CPU. The
logger records the module's and datamodule's hyperparameters, the trainer's arguments, the
optimizer and the model size in the config, every logged step in the history, and the best
checkpoint in the summary (``log_model=True`` puts it into the run as a file).
"""

from __future__ import annotations

import math

import lightning.pytorch as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split

from trackkit.integrations.lightning import TrackLogger


class SpiralData(L.LightningDataModule):
    """Two interleaved spirals with Gaussian noise, split 80/10/10."""

    def __init__(self, samples: int = 1200, noise: float = 0.15, batch_size: int = 64) -> None:
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str) -> None:
        generator = torch.Generator().manual_seed(0)
        n = self.hparams.samples // 2
        angle = torch.rand(n, generator=generator) * 3 * math.pi
        points = []
        for label, offset in ((0, 0.0), (1, math.pi)):
            xy = torch.stack([angle * torch.cos(angle + offset), angle * torch.sin(angle + offset)], dim=1) / 10
            points.append((xy + self.hparams.noise * torch.randn(n, 2, generator=generator), torch.full((n,), label)))
        x, y = torch.cat([p[0] for p in points]), torch.cat([p[1] for p in points])
        self.train_set, self.val_set, self.test_set = random_split(
            TensorDataset(x, y), [0.8, 0.1, 0.1], generator=generator
        )

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.hparams.batch_size)


class Classifier(L.LightningModule):
    """A small MLP; AdamW with a cosine schedule."""

    def __init__(
        self, hidden: int = 64, layers: int = 3, lr: float = 3e-3, weight_decay: float = 1e-4,
        activation: type[nn.Module] = nn.GELU, optimizer: dict | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        blocks: list[nn.Module] = []
        width = 2
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), activation()]
            width = hidden
        self.net = nn.Sequential(*blocks, nn.Linear(width, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = nn.functional.cross_entropy(logits, y)
        on_step = stage == "train"
        self.log(f"{stage}_loss", loss, on_step=on_step, on_epoch=True, prog_bar=True)
        self.log(f"{stage}_acc", (logits.argmax(1) == y).float().mean(), on_step=on_step, on_epoch=True)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> dict:
        betas = tuple((self.hparams.optimizer or {}).get("betas", (0.9, 0.999)))
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay,
                                      betas=betas)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.trainer.max_epochs)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def main() -> None:
    L.seed_everything(0, verbose=False)
    logger = TrackLogger(project="lightning-example", tags=["spirals"], log_model=True)
    trainer = L.Trainer(
        max_epochs=3,
        logger=logger,
        callbacks=[ModelCheckpoint(monitor="val_loss", mode="min", save_last=True)],
        accelerator="cpu",
        log_every_n_steps=5,
        gradient_clip_val=1.0,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    model = Classifier(optimizer={"betas": (0.9, 0.99)})
    data = SpiralData()
    trainer.fit(model, datamodule=data)
    trainer.test(model, datamodule=data)  # logs into the same run
    print(f"Run {logger.name}/{logger.version}; its checkpoints are under {logger.log_dir}")
    print(f"See it with: trackkit show {logger.name}/{logger.version}")


if __name__ == "__main__":
    main()
