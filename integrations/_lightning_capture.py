"""What the Lightning logger reads from Lightning objects: hyperparameters, trainer arguments,
optimizers, the model and checkpoints. Duck-typed: this module imports no framework, so it
serves ``lightning.pytorch`` and ``pytorch_lightning`` alike.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

__all__ = ["checkpoint_summary", "hparams_dict", "model_config", "optimizer_configs", "trainer_config"]

#: Keys LightningCLI adds to hparams for its own bookkeeping.
_INTERNAL_HPARAMS = frozenset(("_class_path", "_instantiator"))

#: Trainer attributes recorded as ``trainer.<name>`` (the Trainer does not keep its ``__init__`` kwargs).
TRAINER_ATTRIBUTES = (
    "max_epochs",
    "min_epochs",
    "max_steps",
    "min_steps",
    "precision",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "gradient_clip_algorithm",
    "num_nodes",
    "world_size",
    "log_every_n_steps",
    "val_check_interval",
    "check_val_every_n_epoch",
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "limit_predict_batches",
    "num_sanity_val_steps",
    "enable_autolog_hparams",
)


def qualified_name(obj: Any) -> str:
    """``module.qualname`` of a class (or of an instance's class)."""
    kind = obj if isinstance(obj, type) else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def hparams_dict(params: Any) -> Any:
    """What ``log_hyperparams`` received, ready for ``run.config.update``.

    Namespaces, dataclasses and mappings are left to the core, which keeps nesting and records
    classes and callables by qualified name without calling them; only LightningCLI's internal
    keys are dropped here.
    """
    if params is None:
        return {}
    if isinstance(params, Mapping):
        return {key: value for key, value in params.items() if key not in _INTERNAL_HPARAMS}
    return params


def _attribute(obj: Any, name: str) -> Any:
    try:
        value = getattr(obj, name)
    except Exception:  # a property that needs state the trainer does not have yet
        return None
    return value.value if isinstance(value, enum.Enum) else value  # "value", as the user wrote it


def trainer_config(trainer: Any) -> dict[str, Any]:
    """The trainer's arguments as they took effect: loop limits, precision, hardware, cadence."""
    config = {name: _attribute(trainer, name) for name in TRAINER_ATTRIBUTES}
    config["devices"] = _attribute(trainer, "num_devices")
    strategy = _attribute(trainer, "strategy")
    if strategy is not None:
        config["strategy"] = getattr(strategy, "strategy_name", None) or type(strategy).__name__
    accelerator = _attribute(trainer, "accelerator")
    if accelerator is not None:
        try:
            config["accelerator"] = str(type(accelerator).name())
        except Exception:
            config["accelerator"] = type(accelerator).__name__
    return config


def optimizer_configs(trainer: Any) -> dict[str, Any]:
    """``optimizer`` (class and ``defaults``: lr, momentum, weight decay ...) and ``lr_scheduler``.

    With several optimizers the first is ``optimizer`` and all of them are listed in ``optimizers``.
    """
    optimizers = list(_attribute(trainer, "optimizers") or [])
    described = [{"class": qualified_name(opt), **dict(getattr(opt, "defaults", {}) or {})} for opt in optimizers]
    config: dict[str, Any] = {}
    if described:
        config["optimizer"] = described[0]
    if len(described) > 1:
        config["optimizers"] = described
    schedulers = [getattr(c, "scheduler", None) for c in _attribute(trainer, "lr_scheduler_configs") or []]
    schedulers = [s for s in schedulers if s is not None]
    if schedulers:
        config["lr_scheduler"] = {"class": qualified_name(schedulers[0])}
    return config


def model_config(model: Any) -> dict[str, Any]:
    """The LightningModule's class and its parameter counts (uninitialised lazy parameters skipped)."""
    total = trainable = 0
    try:
        for parameter in model.parameters():
            try:
                count = int(parameter.numel())
            except Exception:  # torch.nn.UninitializedParameter
                continue
            total += count
            if parameter.requires_grad:
                trainable += count
    except Exception:
        return {"class": qualified_name(model)}
    return {"class": qualified_name(model), "params": total, "trainable_params": trainable}


def checkpoint_summary(callback: Any) -> dict[str, Any]:
    """Best and last checkpoint paths, the monitored metric and its best score, as summary keys."""
    score = getattr(callback, "best_model_score", None)
    return {
        "checkpoint/best_path": getattr(callback, "best_model_path", "") or None,
        "checkpoint/last_path": getattr(callback, "last_model_path", "") or None,
        "checkpoint/monitor": getattr(callback, "monitor", None),
        "checkpoint/mode": getattr(callback, "mode", None),
        "checkpoint/best_score": score,
        "checkpoint/dir": getattr(callback, "dirpath", None),
    }
