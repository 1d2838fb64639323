"""Fine-tune a tiny BERT with the Hugging Face Trainer and track it with ``report_to="trackkit"``.

The model is built from a config (no download) and the data is synthetic: positive sequences
draw most of their tokens from the "good" half of the vocabulary (ids < 50), negative ones from
the other half. Runs in seconds on a CPU.

    python examples/hf_example.py
    trackkit runs huggingface
    trackkit show huggingface/<run id>
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, EvalPrediction, Trainer, TrainingArguments

import trackkit  # registers report_to="trackkit" with transformers (lazily; it imports no framework)

SEQ_LEN, VOCAB = 16, 100


class GoodVsBad(Dataset):
    """Random token sequences: 70% of a positive one's tokens are "good" (id < 50), 30% of a negative one's."""

    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 2, (size,), generator=generator)
        good = torch.randint(1, 50, (size, SEQ_LEN), generator=generator)
        bad = torch.randint(50, VOCAB, (size, SEQ_LEN), generator=generator)
        share = torch.where(self.labels == 1, 0.7, 0.3).unsqueeze(1)
        self.input_ids = torch.where(torch.rand(size, SEQ_LEN, generator=generator) < share, good, bad)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids[index], "attention_mask": torch.ones(SEQ_LEN, dtype=torch.long),
                "labels": self.labels[index]}


def accuracy(prediction: EvalPrediction) -> dict[str, float]:
    predicted = np.argmax(prediction.predictions, axis=-1)
    return {"accuracy": float((predicted == prediction.label_ids).mean())}


def main() -> None:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=SEQ_LEN, num_labels=2)
    model = BertForSequenceClassification(config)

    args = TrainingArguments(
        output_dir="hf_example_output",
        run_name="tiny-bert-good-vs-bad",
        report_to="trackkit",          # or: Trainer(..., callbacks=[TrackCallback(project=..., tags=[...])])
        num_train_epochs=3,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        learning_rate=2e-3,
        warmup_steps=5,
        weight_decay=0.01,
        logging_steps=5,
        eval_strategy="epoch",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=GoodVsBad(512, seed=0),
                      eval_dataset=GoodVsBad(128, seed=1), compute_metrics=accuracy)
    trainer.train()
    test = trainer.evaluate(GoodVsBad(128, seed=2), metric_key_prefix="test")  # lands in the same run

    run = trackkit.run
    print(f"test accuracy {test['test_accuracy']:.3f}; run {run.project}/{run.id} ({run.name})")
    print(f"config: learning_rate={run.config.learning_rate}, hidden_size={run.config.model.hidden_size}, "
          f"parameters={run.config.model.num_parameters}")
    trackkit.finish()


if __name__ == "__main__":
    main()
