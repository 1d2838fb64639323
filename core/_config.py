"""The run's config: one nested tree, dict-like and attribute-accessible, with provenance and a
record of every change.

A dotted name always addresses the nested tree: ``config["optim.lr"] = 0.1`` and
``config.update({"optim.lr": 0.1})`` set the same leaf as ``{"optim": {"lr": 0.1}}``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ._errors import ConfigChangeError, RunFinishedError, UsageError
from ._sources import config_to_dict
from ._values import to_jsonable

__all__ = ["Config", "ConfigNode", "ConfigChange", "expand_dotted", "same_value"]

_MISSING = object()
Path = tuple[str, ...]
ConfigChange = dict[str, Any]


def _split(key: Any) -> Path:
    """A key as given (``-1``, ``"--lr"`` and ``"-"`` included): only dots have a meaning."""
    if not isinstance(key, str):
        key = str(key)
    parts = tuple(part for part in key.split(".") if part)
    if not parts:
        raise KeyError(f"config key {key!r} is empty." if not key else f"config key {key!r} names no key (only dots).")
    return parts


def expand_dotted(data: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``{"a.b": 1, "c": {"d.e": 2}}`` into nested dicts, values made JSON-safe."""
    tree: dict[str, Any] = {}
    for key, value in data.items():
        try:
            path = _split(key)
        except KeyError:
            what = "must not be empty" if not str(key) else "need a name between the dots"
            raise UsageError(f"config keys {what}; got {key!r}.") from None
        value = to_jsonable(value)
        if isinstance(value, dict):
            value = expand_dotted(value)
        node = tree
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        existing = node.get(path[-1])
        if isinstance(existing, dict) and isinstance(value, dict):
            _merge_into(existing, value)
        else:
            node[path[-1]] = value
    return tree


def _merge_into(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = value


def same_value(old: Any, new: Any) -> bool:
    """Whether two config values are the same: NaN equals NaN, ``True`` differs from ``1``, lists and
    dicts compare element by element."""
    return _same(old, new)


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new):
        return True
    if isinstance(old, bool) is not isinstance(new, bool):
        return False
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new))
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same(old[k], new[k]) for k in old)
    return bool(old == new)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class _View:
    """Dict-like, attribute-accessible view of one subtree of a ``Config``."""

    __slots__ = ("_root", "_prefix")

    def __init__(self, root: Config, prefix: Path) -> None:
        object.__setattr__(self, "_root", root)
        object.__setattr__(self, "_prefix", prefix)

    def _node(self) -> dict[str, Any]:
        node = self._root._lookup(self._prefix)
        return node if isinstance(node, dict) else {}

    def _wrap(self, path: Path, value: Any) -> Any:
        return ConfigNode(self._root, path) if isinstance(value, dict) else value

    def __getitem__(self, key: str) -> Any:
        path = self._prefix + _split(key)
        value = self._root._lookup(path)
        if value is _MISSING:
            raise KeyError(key)
        return self._wrap(path, value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            where = ".".join(self._prefix) or "config"
            raise AttributeError(f"{where} has no key {name!r}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        self._root._apply(self._prefix, {key: value}, source="set", allow_val_change=None)

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __contains__(self, key: object) -> bool:
        try:
            return self._root._lookup(self._prefix + _split(key)) is not _MISSING
        except KeyError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._node()))

    def __len__(self) -> int:
        return len(self._node())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _View):
            other = other.as_dict()
        return isinstance(other, Mapping) and _same(self.as_dict(), dict(other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.as_dict())

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._node()))

    def keys(self) -> list[str]:
        """Keys at this level."""
        return list(self._node())

    def values(self) -> list[Any]:
        """Values at this level (nested dicts as views)."""
        return [self._wrap(self._prefix + (k,), v) for k, v in self._node().items()]

    def items(self) -> list[tuple[str, Any]]:
        """(key, value) pairs at this level (nested dicts as views)."""
        return [(k, self._wrap(self._prefix + (k,), v)) for k, v in self._node().items()]

    def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key`` (dotted names allowed), or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def as_dict(self) -> dict[str, Any]:
        """A plain, deep copy of this subtree."""
        copied: dict[str, Any] = _copy(self._node())
        return copied

    def update(
        self, data: Any = None, allow_val_change: bool | None = None, *, source: str = "update", **kwargs: Any
    ) -> None:
        """Merge ``data`` (any config object) and keyword arguments into this subtree.

        Nested dicts merge leaf by leaf. Under ``strict_config`` a changed value raises
        ``ConfigChangeError`` unless ``allow_val_change=True``; nothing is applied then.
        """
        incoming = dict(config_to_dict(data))
        incoming.update(kwargs)
        self._root._apply(self._prefix, incoming, source=source, allow_val_change=allow_val_change)

    def setdefaults(self, data: Any = None, *, source: str = "setdefaults", **kwargs: Any) -> None:
        """Set only the keys that are not set yet; never an error."""
        incoming = dict(config_to_dict(data))
        incoming.update(kwargs)
        self._root._apply(self._prefix, incoming, source=source, allow_val_change=None, only_missing=True)


class ConfigNode(_View):
    """A nested part of the config (``run.config.optim``); changes go to the run's config."""

    __slots__ = ()


class Config(_View):
    """The run's config, modelled on ``wandb.config``.

    Example:
        >>> run.config["dropout"] = 0.2
        >>> run.config.update({"optim.lr": 0.1})
        >>> run.config.optim.lr
        0.1
    """

    __slots__ = ("_tree", "_provenance", "_changes", "_strict", "_on_change", "_step", "_closed", "_edits_applied", "_lock")

    def __init__(
        self,
        *,
        strict: bool = False,
        on_change: Callable[[Config], None] | None = None,
        step: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(self, ())
        for name, value in (
            ("_tree", {}),
            ("_provenance", {}),
            ("_changes", []),
            ("_strict", strict),
            ("_on_change", on_change),
            ("_step", step),
            ("_closed", False),
            ("_edits_applied", 0),  # how far into the run's edits (``_edits``) this config has merged them
            ("_lock", threading.RLock()),  # the training thread changes the config; the writer merges edits
        ):
            object.__setattr__(self, name, value)

    # -- reading -------------------------------------------------------------------------------
    def _lookup(self, path: Path) -> Any:
        node: Any = self._tree
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return _MISSING
            node = node[part]
        return node

    @property
    def provenance(self) -> dict[str, str]:
        """Where each leaf came from, by dotted name (``"optim.lr" -> "init"``)."""
        return dict(self._provenance)

    @property
    def changes(self) -> list[ConfigChange]:
        """Every change of an existing value: key, old, new, time, step, source."""
        return [dict(change) for change in self._changes]

    def to_document(self) -> dict[str, Any]:
        """What the store keeps: values, provenance and changes."""
        document = {"values": self._tree, "provenance": self._provenance, "changes": self._changes}
        if self._edits_applied:
            document["edits_applied"] = self._edits_applied
        return document

    def load_document(self, document: Mapping[str, Any]) -> None:
        """Restore from ``to_document()`` output (a resumed run)."""
        object.__setattr__(self, "_tree", dict(document.get("values") or {}))
        object.__setattr__(self, "_provenance", dict(document.get("provenance") or {}))
        object.__setattr__(self, "_changes", list(document.get("changes") or []))
        applied = document.get("edits_applied")
        object.__setattr__(self, "_edits_applied", applied if isinstance(applied, int) else 0)

    def close(self) -> None:
        """Refuse further changes (the run finished)."""
        object.__setattr__(self, "_closed", True)

    @contextmanager
    def muted(self) -> Iterator[Config]:
        """Within the block, changes do not call the change callback (the run's persisting); the
        caller persists once afterwards."""
        with self._lock:
            on_change = self._on_change
            object.__setattr__(self, "_on_change", None)
            try:
                yield self
            finally:
                object.__setattr__(self, "_on_change", on_change)

    def load_layers(
        self,
        layers: Iterable[tuple[str, Mapping[str, Any]]],
        *,
        record_changes: bool = True,
        fill_only: Callable[[str], bool] | None = None,
    ) -> None:
        """Apply config layers ``(source, values)``, lowest first, as one load, then call the change
        callback once. Each leaf's provenance is its layer's source.

        Args:
            layers: ``[("defaults:/path/config-defaults.yaml", {...}), ("init", {...}), ...]``.
            record_changes: Record a change for each value a layer replaces (a resumed run); without
                it the layers make the starting config and no change is recorded (a new run).
            fill_only: Says of a source whether its layer only fills keys that are missing (the
                defaults files of a resumed run).
        """
        with self._lock, self.muted():
            for source, values in layers:
                before = len(self._changes)
                self._apply((), values, source=source, allow_val_change=True,
                            only_missing=bool(fill_only and fill_only(source)))
                if not record_changes:
                    del self._changes[before:]
        if self._on_change is not None:
            self._on_change(self)

    # -- writing -------------------------------------------------------------------------------
    def _apply(
        self,
        prefix: Path,
        incoming: Mapping[str, Any],
        *,
        source: str,
        allow_val_change: bool | None,
        only_missing: bool = False,
    ) -> None:
        if self._closed:
            raise RunFinishedError("this run has finished; its config can no longer change. Use trackkit.Api() "
                                   "to edit a finished run's config.")
        tree = expand_dotted(incoming)
        with self._lock:
            self._apply_tree(prefix, tree, source=source, allow_val_change=allow_val_change, only_missing=only_missing)

    def _apply_tree(
        self, prefix: Path, tree: dict[str, Any], *, source: str, allow_val_change: bool | None, only_missing: bool
    ) -> None:
        operations: list[tuple[Path, Any, Any]] = []
        self._plan(prefix, self._lookup(prefix), tree, operations, only_missing)
        changed = [(p, old, new) for p, old, new in operations if old is not _MISSING]
        if changed and self._strict and not allow_val_change:
            path, old, new = changed[0]
            raise ConfigChangeError(
                f"config key {'.'.join(path)!r} would change from {old!r} to {new!r} under strict_config=True; "
                f"pass allow_val_change=True to config.update() to change it."
            )
        if not operations:
            return
        now = time.time()
        step = self._step() if self._step is not None else None
        for path, old, new in operations:
            self._set(path, new, source)
            if old is not _MISSING:
                self._changes.append(
                    {"key": ".".join(path), "old": old, "new": _copy(new), "time": now, "step": step, "source": source}
                )
        if self._on_change is not None:
            self._on_change(self)

    def _plan(
        self, prefix: Path, current: Any, tree: dict[str, Any], out: list[tuple[Path, Any, Any]], only_missing: bool
    ) -> None:
        for key, new in tree.items():
            path = prefix + (key,)
            old = current.get(key, _MISSING) if isinstance(current, dict) else _MISSING
            if isinstance(new, dict) and isinstance(old, dict):
                self._plan(path, old, new, out, only_missing)
            elif old is _MISSING:
                out.append((path, _MISSING, new))
            elif not only_missing and not _same(old, new):
                out.append((path, _copy(old), new))

    def _set(self, path: Path, value: Any, source: str) -> None:
        node = self._tree
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if not isinstance(child, dict):
                self._forget(path[: depth + 1])
                child = node[part] = {}
            node = child
        self._forget(path)
        node[path[-1]] = _copy(value)
        self._remember(path, value, source)

    def _remove(self, path: Path, source: str) -> None:
        """Delete a key (an API edit), recording the change."""
        with self._lock:
            self._remove_locked(path, source)

    def _remove_locked(self, path: Path, source: str) -> None:
        parent = self._lookup(path[:-1])
        if not isinstance(parent, dict) or path[-1] not in parent:
            return
        self._forget(path)
        old = parent.pop(path[-1])
        self._changes.append({"key": ".".join(path), "old": old, "new": None, "time": time.time(), "step": None,
                              "source": source, "removed": True})

    def _forget(self, path: Path) -> None:
        """Drop the provenance of ``path`` and, if it holds a subtree, of every leaf below it."""
        dotted = ".".join(path)
        self._provenance.pop(dotted, None)
        if isinstance(self._lookup(path), dict):  # only a subtree has children to scan for
            prefix = dotted + "."
            for key in [k for k in self._provenance if k.startswith(prefix)]:
                del self._provenance[key]

    def _remember(self, path: Path, value: Any, source: str) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                self._remember(path + (key,), child, source)
        else:
            self._provenance[".".join(path)] = source
