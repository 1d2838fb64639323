"""MongoDB-style run filters and sort keys, as W&B's ``Api().runs(filters=..., order=...)`` takes them.

Fields are dotted paths into a run document: ``config.optim.lr``, ``summary.val_loss``,
``state``, ``tags``, ``name``, ``id``, ``group``, ``job_type``, ``created_at``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._errors import UsageError

__all__ = ["OPERATORS", "matches", "resolve_field", "sort_key"]

_MISSING = object()
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$exists", "$and", "$or", "$nor", "$not")


def resolve_field(document: Mapping[str, Any], field: str) -> Any:
    """The value at a dotted path; keys that themselves contain dots or slashes are found too.

    W&B's ``config.<key>.value`` spelling is accepted for ``config.<key>``.
    """
    value = _resolve(document, field)
    if value is _MISSING and field.startswith("config.") and field.endswith(".value"):
        return _resolve(document, field[: -len(".value")])
    return value


def _resolve(document: Mapping[str, Any], field: str) -> Any:
    node: Any = document
    rest = field
    while rest:
        if not isinstance(node, Mapping):
            return _MISSING
        if rest in node:
            return node[rest]
        parts = rest.split(".")
        for cut in range(len(parts) - 1, 0, -1):  # the longest key that exists wins
            head = ".".join(parts[:cut])
            if head in node:
                node, rest = node[head], ".".join(parts[cut:])
                break
        else:
            return _MISSING
    return node


def _compare(op: str, value: Any, operand: Any) -> bool:
    if value is _MISSING:
        return op in ("$ne", "$nin")
    if isinstance(value, list) and not (op in ("$eq", "$ne") and isinstance(operand, list)):
        # an array field (tags, a list in the config) matches element-wise, as in MongoDB
        if op in ("$ne", "$nin"):
            return all(_compare(op, item, operand) for item in value)
        return any(_compare(op, item, operand) for item in value)
    try:
        if op == "$eq":
            return bool(value == operand)
        if op == "$ne":
            return bool(value != operand)
        if op == "$in":
            return value in _as_list(op, operand)
        if op == "$nin":
            return value not in _as_list(op, operand)
        if op == "$regex":
            return isinstance(value, str) and re.search(str(operand), value) is not None
        if value is None or isinstance(value, bool) != isinstance(operand, bool):
            return False
        if op == "$gt":
            return bool(value > operand)
        if op == "$gte":
            return bool(value >= operand)
        if op == "$lt":
            return bool(value < operand)
        if op == "$lte":
            return bool(value <= operand)
    except TypeError:  # comparing a string to a number: simply no match
        return False
    raise UsageError(f"unknown filter operator {op!r}; use one of {', '.join(OPERATORS)}.")


def _as_list(op: str, operand: Any) -> list[Any]:
    if not isinstance(operand, (list, tuple, set)):
        raise UsageError(f"{op} takes a list; got {operand!r}.")
    return list(operand)


def _field_matches(value: Any, condition: Any) -> bool:
    if isinstance(condition, Mapping) and condition and all(str(k).startswith("$") for k in condition):
        for op, operand in condition.items():
            if op == "$exists":
                if (value is not _MISSING) != bool(operand):
                    return False
            elif op == "$not":
                if _field_matches(value, operand):
                    return False
            elif op == "$regex" and isinstance(value, list):
                if not any(_compare(op, item, operand) for item in value):
                    return False
            elif not _compare(op, value, operand):
                return False
        return True
    return _compare("$eq", value, condition)


def matches(document: Mapping[str, Any], filters: Mapping[str, Any] | None) -> bool:
    """Whether a run document satisfies a Mongo-style filter."""
    if not filters:
        return True
    if not isinstance(filters, Mapping):
        raise UsageError(f"filters must be a dict like {{'config.lr': {{'$gt': 0.01}}}}; got {filters!r}.")
    for key, condition in filters.items():
        if key in ("$and", "$or", "$nor"):
            clauses = _as_list(key, condition)
            results = [matches(document, clause) for clause in clauses]
            if key == "$and" and not all(results) or key == "$or" and not any(results) or key == "$nor" and any(results):
                return False
        elif key.startswith("$"):
            raise UsageError(f"unknown filter operator {key!r} at the top level; use $and, $or or $nor.")
        elif not _field_matches(resolve_field(document, key), condition):
            return False
    return True


def sort_key(order: str) -> tuple[str, bool]:
    """``"-summary.acc"`` -> ``("summary.acc", True)`` (descending)."""
    order = order.strip()
    if order.startswith(("-", "+")):
        return order[1:], order[0] == "-"
    return order, False


def order_value(document: Mapping[str, Any], field: str) -> tuple[int, Any]:
    """A sortable key: numbers before strings, missing values last."""
    value = resolve_field(document, field)
    if value is _MISSING or value is None:
        return (2, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))
