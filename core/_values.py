"""Turning user values into JSON-safe values, without importing numpy, torch or TensorFlow.

Two entry points:

- ``to_jsonable(value)`` for config: total, never raises; odd objects become their ``repr``.
- ``log_value(key, value)`` for ``run.log``: fast for plain numbers, strict about the rest,
  because a metric that silently became a string is a lost metric.
"""

from __future__ import annotations

from typing import Any

from ._errors import InvalidLogDataError

__all__ = ["SMALL_ARRAY_LIMIT", "colliding_name", "flatten", "log_value", "qualified_name", "to_jsonable"]

#: Arrays with at most this many elements are kept as lists; larger ones as a short description.
SMALL_ARRAY_LIMIT = 1024
_MAX_DEPTH = 64
_PLAIN = frozenset((str, int, float, bool, type(None)))
_TENSOR_MODULE_PREFIXES = ("numpy", "torch", "tensorflow", "jax", "jaxlib", "cupy", "mlx")


def qualified_name(obj: Any) -> str:
    """``module.qualname`` of a class or function, read without calling it."""
    module = getattr(obj, "__module__", None) or "builtins"
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
    return f"{module}.{name}"


def _is_tensor_like(value: Any) -> bool:
    module = type(value).__module__ or ""
    return module.startswith(_TENSOR_MODULE_PREFIXES)


def _tensor_to_python(value: Any) -> Any:
    """A numpy/torch/TF/JAX scalar or array as a Python number or list (``NotImplemented`` if not)."""
    if hasattr(value, "numpy") and (type(value).__module__ or "").startswith("tensorflow"):
        try:
            value = value.numpy()
        except Exception:
            return NotImplemented
    size = getattr(value, "size", None)
    if callable(size):  # torch: .size() is a method; numel() is the count
        numel = getattr(value, "numel", None)
        size = numel() if callable(numel) else None
    if size == 1 and hasattr(value, "item"):
        try:
            return value.item()
        except Exception:
            return NotImplemented
    if isinstance(size, int) and hasattr(value, "tolist"):
        if size <= SMALL_ARRAY_LIMIT:
            try:
                return value.tolist()
            except Exception:
                return NotImplemented
        shape = tuple(getattr(value, "shape", ()))
        return f"<{type(value).__name__} shape={shape} dtype={getattr(value, 'dtype', '?')}>"
    if hasattr(value, "item"):
        try:
            return value.item()
        except Exception:
            return NotImplemented
    return NotImplemented


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """Return a JSON-safe copy of ``value``; never raises.

    Numbers, strings, bools and None pass through (NaN and inf included). Mappings and
    sequences are converted recursively, tensors and numpy values become numbers or lists,
    paths strings, enums their name, datetimes ISO strings, classes and functions their
    qualified name (never called), dataclasses, pydantic models and namespaces their fields.
    Anything else becomes its ``repr``.
    """
    if type(value) in _PLAIN:
        return value
    if _depth > _MAX_DEPTH:
        return _safe_repr(value)
    try:
        return _convert(value, _depth + 1)
    except Exception:
        return _safe_repr(value)


def _convert(value: Any, depth: int) -> Any:
    if isinstance(value, dict):
        return {_key(k): to_jsonable(v, depth) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, depth) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [to_jsonable(v, depth) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, type) or _is_function(value):
        return qualified_name(value)
    if _is_tensor_like(value):
        converted = _tensor_to_python(value)
        if converted is not NotImplemented:
            return to_jsonable(converted, depth)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    converted = _convert_known_object(value, depth)
    if converted is not NotImplemented:
        return converted
    for base in (bool, int, float, str):  # subclasses such as numpy.float64 or IntEnum members
        if isinstance(value, base):
            return base(value)
    if callable(value) and not hasattr(value, "__dict__"):
        return qualified_name(type(value))
    return _safe_repr(value)


def _convert_known_object(value: Any, depth: int) -> Any:
    """Paths, enums, datetimes, dataclasses, pydantic, OmegaConf, namespaces, mappings."""
    import datetime
    import enum
    import os

    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, slice):
        return {"start": value.start, "stop": value.stop, "step": value.step}
    from ._sources import object_fields

    fields = object_fields(value)
    if fields is not None:
        return {_key(k): to_jsonable(v, depth) for k, v in fields.items()}
    return NotImplemented


def _is_function(value: Any) -> bool:
    kind = type(value).__name__
    return kind in ("function", "builtin_function_or_method", "method", "partial", "method_descriptor")


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(to_jsonable(key))


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= 10_000 else text[:10_000] + "...<truncated>"


def log_value(key: str, value: Any) -> Any:
    """Normalise one value given to ``run.log``; raise ``InvalidLogDataError`` if it cannot be logged."""
    if type(value) in _PLAIN:
        return value
    if _is_tensor_like(value):
        converted = _tensor_to_python(value)
        if converted is not NotImplemented and not isinstance(converted, str):
            return converted
    elif isinstance(value, (list, tuple)):
        return [log_value(key, v) for v in value]
    else:
        import datetime

        if isinstance(value, (datetime.datetime, datetime.date)):
            return value.isoformat()
        for base in (bool, int, float, str):
            if isinstance(value, base):
                return base(value)
    raise InvalidLogDataError(
        f"run.log() got a value of type {type(value).__module__}.{type(value).__qualname__} for key "
        f"{key!r}; log numbers, bools, strings, lists of them, nested dicts, or numpy/torch/TF scalars."
    )


def flatten(data: dict[str, Any], prefix: str, out: dict[str, Any]) -> int:
    """Flatten nested dicts into ``out`` with ``/`` between levels, normalising every value; return
    how many values were put (fewer new keys in ``out`` means two names met: see ``colliding_name``)."""
    count = 0
    for key, value in data.items():
        if not isinstance(key, str):
            raise InvalidLogDataError(
                f"run.log() keys must be strings; got {key!r} ({type(key).__name__}) under {prefix!r}."
            )
        name = prefix + key
        if isinstance(value, dict):
            count += flatten(value, name + "/", out)
        else:
            out[name] = log_value(name, value)
            count += 1
    return count


def colliding_name(data: dict[str, Any], prefix: str = "") -> str | None:
    """A flattened name that two entries of ``data`` produce (``"a/b"`` and ``{"a": {"b": ...}}``)."""
    seen: set[str] = set()

    def walk(node: dict[str, Any], prefix: str) -> str | None:
        for key, value in node.items():
            name = prefix + str(key)
            if isinstance(value, dict):
                found = walk(value, name + "/")
                if found is not None:
                    return found
            elif name in seen:
                return name
            else:
                seen.add(name)
        return None

    return walk(data, prefix)
