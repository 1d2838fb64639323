"""A PEFT (LoRA) model: its adapter config and trainable parameter count land in the run's config."""

from __future__ import annotations

from pathlib import Path

import pytest
from hf_tiny import tiny_model, tiny_trainer

import trackkit

peft = pytest.importorskip("peft")


def test_lora_adapter_config_is_captured(tmp_path: Path) -> None:
    """peft_config.default holds the LoRA settings; model.num_trainable_parameters counts only the adapter."""
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], task_type="SEQ_CLS")
    model = peft.get_peft_model(tiny_model(), lora)
    tiny_trainer(str(tmp_path / "out"), model=model, label_names=["labels"]).train()
    trackkit.finish()

    (run,) = trackkit.Api().runs("huggingface")
    adapter = run.config["peft_config"]["default"]
    assert adapter["r"] == 4
    assert adapter["lora_alpha"] == 8
    assert sorted(adapter["target_modules"]) == ["query", "value"]
    assert run.config["model"]["hidden_size"] == 32
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert run.config["model"]["num_trainable_parameters"] == trainable
    assert trainable < run.config["model"]["num_parameters"]
    assert run.provenance["peft_config.default.r"] == "transformers"
