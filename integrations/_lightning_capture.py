"""What the Lightning logger reads from Lightning objects: hyperparameters, trainer arguments,
optimizers, the model and checkpoints. Duck-typed: this module imports no framework, so it
serves ``lightning.pytorch`` and ``pytorch_lightning`` alike.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import Any

from ._capture import qualified_name, torch_parameter_counts

__all__ = [
    "checkpoint_summary", "cli_config", "hparams_dict", "model_config", "optimizer_configs", "resumed_step",
    "saved_checkpoints", "summary_callback", "trainer_config",
]

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
    return {"class": qualified_name(model), **(torch_parameter_counts(model) or {})}


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


def summary_callback(trainer: Any) -> Any:
    """The ModelCheckpoint the checkpoint summary follows: the monitored one, whatever the order.

    ``trainer.checkpoint_callback`` (the first ModelCheckpoint) when it monitors a metric or none
    does; else the first that does. None without a trainer or a checkpoint callback.
    """
    try:
        callbacks = list(trainer.checkpoint_callbacks)
        primary = trainer.checkpoint_callback
    except Exception:
        return None
    monitored = [callback for callback in callbacks if getattr(callback, "monitor", None)]
    if primary is None or not monitored or any(callback is primary for callback in monitored):
        return primary
    return monitored[0]


def saved_checkpoints(callback: Any) -> list[str]:
    """The files a ModelCheckpoint may have just written (best, last and top-k), oldest first.

    Lightning's own loggers scan the same public fields (``_scan_checkpoints``): a file that is
    saved is the new best (no monitor), the last, or one of the top k.
    """
    paths = {getattr(callback, "best_model_path", "") or "", getattr(callback, "last_model_path", "") or ""}
    paths.update(str(path) for path in (getattr(callback, "best_k_models", None) or {}))
    found = [path for path in paths if path and os.path.isfile(path)]
    return sorted(found, key=os.path.getmtime)


def cli_config(trainer: Any) -> dict[str, Any] | None:
    """LightningCLI's resolved config (``SaveConfigCallback.config``) as a dict, and its YAML text.

    Returns ``{"config": dict, "yaml": str}``, or None when the trainer was not made by LightningCLI.
    """
    for callback in getattr(trainer, "callbacks", None) or []:
        if not any(kind.__name__ == "SaveConfigCallback" for kind in type(callback).__mro__):
            continue
        config, parser = getattr(callback, "config", None), getattr(callback, "parser", None)
        if config is None:
            return None
        as_dict = config.as_dict() if callable(getattr(config, "as_dict", None)) else dict(vars(config))
        try:
            text = parser.dump(config, skip_none=False, skip_check=True) if parser is not None else None
        except Exception:
            text = None
        return {"config": as_dict, "yaml": text}
    return None


def resumed_step(ckpt_path: Any) -> int | None:
    """The last step logged before the checkpoint ``ckpt_path`` was written, or None if unknown.

    Lightning logs at ``_batches_that_stepped`` (before it is incremented), so a checkpoint that has
    stepped n batches has logged steps up to n - 1. Reads the checkpoint lazily (``mmap``): only
    its counters, never the weights.
    """
    if not ckpt_path or not isinstance(ckpt_path, (str, os.PathLike)) or not os.path.isfile(ckpt_path):
        return None
    try:
        import torch

        checkpoint = torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=False)
    except Exception:
        return None
    stepped = None
    try:
        stepped = checkpoint["loops"]["fit_loop"]["epoch_loop.state_dict"]["_batches_that_stepped"]
    except (KeyError, TypeError):
        stepped = checkpoint.get("global_step") if isinstance(checkpoint, Mapping) else None
    return int(stepped) - 1 if isinstance(stepped, int) and stepped > 0 else None
