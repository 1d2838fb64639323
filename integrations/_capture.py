"""Capture helpers shared by every plugin: names of classes, parameter counts, float32 values.

Duck-typed: this module imports no framework.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

__all__ = ["float32_value", "named", "qualified_name", "shortest_floats", "torch_parameter_counts"]


def qualified_name(obj: Any) -> str:
    """``module.qualname`` of a class, or of an instance's class."""
    kind = obj if isinstance(obj, type) else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def named(obj: Any) -> str:
    """A short name for a loss, metric or function: its ``name``/``__name__``, else its qualified name."""
    name = getattr(obj, "name", None) or getattr(obj, "__name__", None)
    return str(name) if name else qualified_name(obj)


def torch_parameter_counts(model: Any) -> dict[str, int] | None:
    """``{"params": total, "trainable_params": trainable}`` of a torch module (lazy parameters skipped).

    None when the model has no ``parameters()`` to count.
    """
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
        return None
    return {"params": total, "trainable_params": trainable}


def float32_value(value: float) -> float:
    """A float that is exactly a float32 (``0.10000000149011612``) as the shortest decimal that
    rounds to the same float32 (``0.1``); any other float unchanged.

    Keras keeps hyperparameters in float32 variables, so ``SGD(0.1).get_config()`` says
    ``0.10000000149011612``; a user who wrote 0.1 filters on 0.1.
    """
    if not math.isfinite(value):
        return value
    try:
        as32 = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return value
    if as32 != value:
        return value  # not a float32: keep every digit
    for digits in range(1, 10):  # 9 significant digits always round-trip a float32
        candidate = float(f"{value:.{digits}g}")
        if struct.unpack("f", struct.pack("f", candidate))[0] == as32:
            return candidate
    return value


def shortest_floats(obj: Any) -> Any:
    """``float32_value`` applied to every float in nested dicts and lists (other values as they are)."""
    if type(obj) is float:
        return float32_value(obj)
    if isinstance(obj, Mapping):
        return {key: shortest_floats(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [shortest_floats(value) for value in obj]
    item = getattr(obj, "item", None)  # numpy float32 scalars (Keras configs may hold them)
    if type(obj).__module__ == "numpy" and callable(item):
        try:
            return shortest_floats(item())
        except Exception:
            return obj
    return obj
