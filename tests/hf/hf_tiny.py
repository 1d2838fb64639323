"""A tiny BERT built from a config and a synthetic dataset: a real Trainer run in about a second on a CPU.

Shared by the in-process tests and the subprocess scripts (which get this folder on PYTHONPATH).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

SEQ_LEN = 16
VOCAB = 100


class RandomTokens(Dataset):
    """Random token ids with a random binary label, the same for the same seed."""

    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.input_ids = torch.randint(0, VOCAB, (size, SEQ_LEN), generator=generator)
        self.labels = torch.randint(0, 2, (size,), generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.input_ids[index],
            "attention_mask": torch.ones(SEQ_LEN, dtype=torch.long),
            "labels": self.labels[index],
        }


def tiny_model() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                        vocab_size=VOCAB, max_position_embeddings=32, num_labels=2)
    return BertForSequenceClassification(config)


def tiny_args(output_dir: str, **overrides: Any) -> TrainingArguments:
    """10 optimizer steps, a train log every 2 steps and an evaluation every 5."""
    options: dict[str, Any] = dict(
        max_steps=10, per_device_train_batch_size=4, per_device_eval_batch_size=8, learning_rate=3e-4,
        logging_steps=2, eval_strategy="steps", eval_steps=5, save_strategy="no", report_to="trackkit",
        use_cpu=True, disable_tqdm=True, seed=0,
    )
    options.update(overrides)
    return TrainingArguments(output_dir=output_dir, **options)


def tiny_trainer(output_dir: str, model: Any = None, **overrides: Any) -> Trainer:
    callbacks = overrides.pop("callbacks", None)
    return Trainer(model=model if model is not None else tiny_model(), args=tiny_args(output_dir, **overrides),
                   train_dataset=RandomTokens(40, seed=0), eval_dataset=RandomTokens(16, seed=1), callbacks=callbacks)


class StoreCase:
    """The store a single-process test writes to: the local store (``TRACKKIT_DIR``) or a ``MemoryStore``."""

    def __init__(self, kind: str) -> None:
        import trackkit.testing

        self.kind = kind
        self.store = trackkit.testing.MemoryStore() if kind == "memory" else None

    @property
    def kwargs(self) -> dict[str, Any]:
        """What a callback or ``trackkit.init`` needs to write to this store."""
        return {"store": self.store} if self.store is not None else {}

    def api(self) -> Any:
        import trackkit

        return trackkit.Api(store=self.store) if self.store is not None else trackkit.Api()

    def __repr__(self) -> str:
        return self.kind
