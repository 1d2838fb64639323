"""Reading a config from whatever the user hands us: dicts, namespaces, flags, dataclasses,
pydantic, OmegaConf, plain objects and YAML files.

Frameworks are detected through ``sys.modules`` and never imported here: if absl was never
imported, an object cannot be absl ``FlagValues``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ._errors import ConfigFileError

__all__ = ["config_to_dict", "flag_values_to_dict", "is_flag_values", "load_yaml_config", "object_fields"]

_FLAG_MODULES = ("absl.flags", "tensorflow.python.platform.flags")
# Top-level packages whose flags are not the user's. Matched on the whole package name: flags of a
# script run as __main__ are listed under its file name, and `keras_train.py` is the user's.
_BUILTIN_FLAG_PACKAGES = frozenset(("absl", "tensorflow", "tf_keras", "keras", "jax", "jaxlib", "torch", "_pytest",
                                    "pytest"))


def is_flag_values(obj: Any) -> bool:
    """True for absl ``FlagValues`` and TensorFlow's ``_FlagValuesWrapper`` around them."""
    module = sys.modules.get("absl.flags._flagvalues")
    if module is not None:
        try:
            if isinstance(obj, module.FlagValues):
                return True
        except Exception:
            return False
    kind = type(obj)
    return kind.__name__ == "_FlagValuesWrapper" and kind.__module__ == "tensorflow.python.platform.flags"


def flag_values_to_dict(flag_values: Any) -> dict[str, Any]:
    """The user's own flags (not absl's or TensorFlow's built-ins), parsed or not.

    Uses ``flag_values_dict()`` and ``flags_by_module_dict()`` only: probing attributes on
    TensorFlow's wrapper makes it parse ``sys.argv``, which fails under pytest.
    """
    values = flag_values.flag_values_dict()
    keep: set[str] = set()
    for module_name, flags in flag_values.flags_by_module_dict().items():
        top = os.path.basename(str(module_name)).split(".")[0]
        if str(module_name).split(".")[0] in _BUILTIN_FLAG_PACKAGES or top in ("absl", "tensorflow"):
            continue
        keep.update(flag.name for flag in flags)
    return {name: values[name] for name in sorted(keep) if name in values}


def _flag_module_values(obj: Any) -> Any:
    """The ``FLAGS`` of ``absl.flags`` or ``tf.compat.v1.flags`` passed as a module, else None."""
    if type(obj).__name__ == "module" and getattr(obj, "__name__", "") in _FLAG_MODULES:
        return obj.FLAGS
    return None


def object_fields(value: Any) -> dict[str, Any] | None:
    """Fields of a structured config object, or None if ``value`` is not one.

    Covers dataclass and attrs instances, pydantic models, namespaces, OmegaConf containers
    (resolved), absl flags and any ``Mapping``. Plain objects are not included: nested inside
    a config they become their ``repr``; only a top-level config object is read through ``vars``.
    """
    kind = type(value)
    if is_flag_values(value):
        return flag_values_to_dict(value)
    if hasattr(kind, "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses

        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if hasattr(kind, "__attrs_attrs__") and not isinstance(value, type):
        return {a.name: getattr(value, a.name) for a in kind.__attrs_attrs__}
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        dump = getattr(value, "model_dump", None) or value.dict
        return dict(dump())
    omegaconf = sys.modules.get("omegaconf")
    if omegaconf is not None and isinstance(value, (omegaconf.DictConfig, omegaconf.ListConfig)):
        return _omegaconf_to_dict(omegaconf, value)
    if kind.__name__ in ("Namespace", "SimpleNamespace") and kind.__module__ in ("argparse", "types"):
        return dict(vars(value))
    from collections.abc import Mapping

    if isinstance(value, Mapping):
        return dict(value.items())
    return None


def _omegaconf_to_dict(omegaconf: Any, value: Any) -> dict[str, Any]:
    try:
        container = omegaconf.OmegaConf.to_container(value, resolve=True)
    except Exception:  # an unresolvable interpolation or a missing value: keep it as written
        container = omegaconf.OmegaConf.to_container(value, resolve=False)
    return dict(container) if isinstance(container, dict) else {"value": container}


def config_to_dict(config: Any) -> dict[str, Any]:
    """Read any supported config object into a (not yet JSON-safe) dict.

    Raises ``TypeError`` for things that are not a config (a list, a number), with a message
    listing what is accepted, and ``ConfigFileError`` for a YAML path that is missing or malformed.
    """
    if config is None:
        return {}
    if isinstance(config, dict):
        return config
    if isinstance(config, (str, os.PathLike)):
        return load_yaml_config(config)
    module_flags = _flag_module_values(config)
    if module_flags is not None:
        return flag_values_to_dict(module_flags)
    fields = object_fields(config)
    if fields is not None:
        return fields
    if hasattr(config, "__dict__") and type(config).__name__ != "module":
        return {k: v for k, v in vars(config).items() if not k.startswith("_")}
    raise TypeError(
        f"config must be a dict, an argparse.Namespace, absl/TF flags, a dataclass, a pydantic model, "
        f"an OmegaConf config, an object with attributes, or a path to a YAML file; got "
        f"{type(config).__module__}.{type(config).__qualname__}."
    )


def load_yaml_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a YAML config file, in W&B's ``key: {desc:, value:}`` form or as plain ``key: value``.

    Raises ``ConfigFileError`` naming the file (and the line, for a syntax error).
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigFileError(f"config file {path!r} does not exist.") from None
    except OSError as error:
        raise ConfigFileError(f"config file {path!r} cannot be read: {error}.") from None
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigFileError(f"config file {path!r} is not valid YAML{where}: {problem}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(
            f"config file {path!r} must hold a mapping of keys to values at the top level; "
            f"found a {type(data).__name__}."
        )
    version = data.pop("wandb_version", None)
    if version not in (None, 1):
        raise ConfigFileError(f"config file {path!r} has wandb_version {version!r}; only 1 is known.")
    return {str(key): _unwrap(value) for key, value in data.items()}


def _unwrap(value: Any) -> Any:
    """``{desc: ..., value: ...}`` becomes its value; anything else is kept as written."""
    if isinstance(value, dict) and "value" in value and set(value) <= {"value", "desc"}:
        return value["value"]
    return value
