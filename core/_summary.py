"""The run summary: one value per metric, the last by default, or min/max/mean/first by
``define_metric``; values set explicitly win over logged ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ._errors import UsageError
from ._values import to_jsonable

__all__ = ["MetricDefinition", "SUMMARY_OPS", "Summary"]

SUMMARY_OPS = ("min", "max", "mean", "last", "first", "none")
_GONE = object()


class MetricDefinition:
    """What ``run.define_metric`` declared for one metric name or ``prefix*`` glob."""

    __slots__ = ("name", "ops", "step_metric")

    def __init__(self, name: str, ops: tuple[str, ...], step_metric: str | None) -> None:
        self.name = name
        self.ops = ops
        self.step_metric = step_metric

    def matches(self, key: str) -> bool:
        return key.startswith(self.name[:-1]) if self.name.endswith("*") else key == self.name

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "summary": list(self.ops), "step_metric": self.step_metric}


def parse_ops(summary: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    if summary is None:
        return ()
    ops = tuple(op.strip() for op in summary.split(",")) if isinstance(summary, str) else tuple(summary)
    unknown = [op for op in ops if op not in SUMMARY_OPS]
    if unknown:
        raise UsageError(f"define_metric(summary=...) got {unknown}; use one or more of {', '.join(SUMMARY_OPS)}.")
    return ops


class _Aggregate:
    __slots__ = ("first", "last", "min", "max", "total", "count")

    def __init__(self, value: Any) -> None:
        self.first = self.last = self.min = self.max = value
        self.total = value if _is_number(value) else 0.0
        self.count = 1 if _is_number(value) else 0

    def add(self, value: Any) -> None:
        self.last = value
        if _is_number(value):
            if not _is_number(self.min) or value < self.min:
                self.min = value
            if not _is_number(self.max) or value > self.max:
                self.max = value
            self.total += value
            self.count += 1

    def value(self, op: str) -> Any:
        if op == "mean":
            return self.total / self.count if self.count else None
        return getattr(self, op)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


class Summary:
    """Dict-like summary of a run (``run.summary["best_acc"] = 0.9``)."""

    def __init__(self) -> None:
        self._last: dict[str, Any] = {}
        self._explicit: dict[str, Any] = {}
        self._aggregates: dict[str, _Aggregate] = {}
        self._definitions: list[MetricDefinition] = []
        self._definition_cache: dict[str, MetricDefinition | None] = {}
        self._removed: set[str] = set()  # logged keys deleted with ``del``, kept out when history is replayed
        self._edits_applied = 0  # how far into the run's edits (``_edits``) this summary has merged them
        #: Set by ``Run.finish``: explicit changes after the run finished go to the store as edits.
        self._on_edit: Callable[[dict[str, Any], list[str]], None] | None = None
        self.version = 0  # bumped on every change, so the writer knows when to persist

    # -- fed by Run ----------------------------------------------------------------------------
    def observe(self, row: dict[str, Any]) -> None:
        """Take in one committed history row."""
        self._last.update(row)
        if self._definitions:
            for key, value in row.items():
                definition = self._definition_for(key)
                if definition is not None and definition.ops:
                    aggregate = self._aggregates.get(key)
                    if aggregate is None:
                        self._aggregates[key] = _Aggregate(value)
                    else:
                        aggregate.add(value)
        self.version += 1

    def define(self, definition: MetricDefinition) -> None:
        self._definitions = [d for d in self._definitions if d.name != definition.name] + [definition]
        self._definition_cache.clear()
        self.version += 1

    def _definition_for(self, key: str) -> MetricDefinition | None:
        try:
            return self._definition_cache[key]
        except KeyError:
            found = next((d for d in reversed(self._definitions) if d.matches(key)), None)
            self._definition_cache[key] = found
            return found

    @property
    def definitions(self) -> list[MetricDefinition]:
        return list(self._definitions)

    # -- the mapping -----------------------------------------------------------------------------
    def _value(
        self,
        key: str,
        last: dict[str, Any] | None = None,
        explicit: dict[str, Any] | None = None,
        aggregates: dict[str, _Aggregate] | None = None,
    ) -> Any:
        explicit = self._explicit if explicit is None else explicit
        if key in explicit:
            return explicit[key]
        definition = self._definition_for(key) if self._definitions else None
        if definition is not None and definition.ops:
            ops = [op for op in definition.ops if op != "none"]
            if not ops:
                raise KeyError(key)
            aggregate = (self._aggregates if aggregates is None else aggregates).get(key)
            if aggregate is not None:
                if len(ops) == 1:
                    return aggregate.value(ops[0])
                return {op: aggregate.value(op) for op in ops}
        return (self._last if last is None else last)[key]

    def keys(self) -> list[str]:
        """Metric names, without the internal ``_step``/``_runtime``/``_timestamp``."""
        names = [k for k in self._last if not k.startswith("_")] + [k for k in self._explicit if k not in self._last]
        return [k for k in names if k in self]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self._value(key)
        except KeyError:
            return False
        return True

    def __getitem__(self, key: str) -> Any:
        return self._value(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"summary keys must be strings; got {key!r}.")
        value = to_jsonable(value)
        self._explicit[key] = value
        self.version += 1
        if self._on_edit is not None:
            self._on_edit({key: value}, [])

    def __delitem__(self, key: str) -> None:
        found = self._explicit.pop(key, _GONE) is not _GONE  # a value of None is a value
        if self._last.pop(key, _GONE) is not _GONE:
            found = True
            self._removed.add(key)
        self._aggregates.pop(key, None)
        if not found:
            raise KeyError(key)
        self.version += 1
        if self._on_edit is not None:
            self._on_edit({}, [key])

    def apply_edit(self, change: dict[str, Any]) -> None:
        """Merge the summary part of a run edit (``_edits``): deleted keys go, set values are explicit."""
        for key in change.get("delete") or ():
            self._explicit.pop(key, None)
            if self._last.pop(key, _GONE) is not _GONE:
                self._removed.add(key)
            self._aggregates.pop(key, None)
        for key, value in (change.get("set") or {}).items():
            self._explicit[key] = value
        self.version += 1

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._value(name)
        except KeyError:
            raise AttributeError(f"summary has no key {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        return f"Summary({self.as_dict()!r})"

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self._value(key)
        except KeyError:
            return default

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self._value(k)) for k in self.keys()]

    def values(self) -> list[Any]:
        return [self._value(k) for k in self.keys()]

    def update(self, data: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Set several values explicitly."""
        items = {**(data or {}), **kwargs}
        hook, self._on_edit = self._on_edit, None  # after finish: one edit for the whole update
        try:
            for key, value in items.items():
                self[key] = value
        finally:
            self._on_edit = hook
        if hook is not None and items:
            hook({key: self._explicit[key] for key in items}, [])

    def as_dict(self) -> dict[str, Any]:
        """The summary as a plain dict."""
        return {k: self._value(k) for k in self.keys()}

    # -- persistence -----------------------------------------------------------------------------
    def to_document(self) -> dict[str, Any]:
        """A consistent snapshot; safe to call from the writer thread while the run logs."""
        last, explicit, aggregates = self._last.copy(), self._explicit.copy(), self._aggregates.copy()
        values: dict[str, Any] = {}
        for key in [k for k in last if not k.startswith("_")] + [k for k in explicit if k not in last]:
            try:
                values[key] = self._value(key, last, explicit, aggregates)
            except KeyError:
                continue
        document = {"values": values, "explicit": sorted(explicit), "last_step": last.get("_step")}
        removed = [key for key in self._removed if key not in last]
        if removed:
            document["removed"] = sorted(removed)
        if self._edits_applied:
            document["edits_applied"] = self._edits_applied
        return document

    def load_document(self, document: dict[str, Any], history: list[dict[str, Any]] | None = None) -> None:
        """Restore a resumed run's summary. Explicit values come from ``document``; with ``history``
        (the run's rows as readers see them), last values and min/max/mean/first aggregates are
        rebuilt from the rows, so they are exact even after ``kill -9`` and leave superseded rows out."""
        values = document.get("values") or {}
        explicit = set(document.get("explicit") or ())
        for key, value in values.items():
            if key in explicit:
                self._explicit[key] = value
            elif history is None:
                self._last[key] = value
        if history is not None:
            for row in history:
                self.observe(row)
            removed = set(document.get("removed") or ())
            for key in removed:
                self._last.pop(key, None)
                self._aggregates.pop(key, None)
            self._removed = removed
        applied = document.get("edits_applied")
        self._edits_applied = applied if isinstance(applied, int) else 0
        self.version += 1
