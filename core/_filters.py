"""MongoDB-style run filters and sort keys, as W&B's ``Api().runs(filters=..., order=...)`` takes them.

Fields are dotted paths into a run document: ``config.optim.lr``, ``summary.val_loss``,
``state``, ``tags``, ``name``, ``id``, ``group``, ``job_type``, ``created_at``. Everything here is a
pure function over run documents, so every store (and the SQL of the PostgreSQL store) answers a
query the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ._errors import UsageError
from ._regex import compile_regex

__all__ = [
    "OPERATORS",
    "STRING_FIELDS",
    "check_filters",
    "compile_filter",
    "field_resolver",
    "field_value",
    "matches",
    "order_key",
    "parse_order",
    "resolve_field",
    "sort_documents",
    "sort_key",
    "sort_key_function",
]

#: Run fields whose values are strings (or lists of strings): a filter value for them is text.
STRING_FIELDS = frozenset({"id", "name", "project", "entity", "state", "tags", "group", "job_type", "notes"})

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


def field_value(document: Mapping[str, Any], field: str, default: Any = None) -> Any:
    """The value at a dotted path (as ``resolve_field``), or ``default`` when there is none."""
    value = resolve_field(document, field)
    return default if value is _MISSING else value


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
            return isinstance(value, str) and compile_regex(operand).search(value) is not None
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
    return compile_filter(filters)(document)


def compile_filter(filters: Mapping[str, Any] | None) -> Callable[[Mapping[str, Any]], bool]:
    """``matches`` with the filter read once: a predicate over run documents, for testing many
    documents against one filter (a store's ``query_runs``)."""
    if not filters:
        return _always
    if not isinstance(filters, Mapping):
        raise UsageError(f"filters must be a dict like {{'config.lr': {{'$gt': 0.01}}}}; got {filters!r}.")
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    for key, condition in filters.items():
        if key in ("$and", "$or", "$nor"):
            tests.append(_combine(key, [compile_filter(clause) for clause in _as_list(key, condition)]))
        elif key.startswith("$"):
            raise UsageError(f"unknown filter operator {key!r} at the top level; use $and, $or or $nor.")
        else:
            tests.append(_field_test(field_resolver(key), condition))
    if len(tests) == 1:
        return tests[0]
    return lambda document: all(test(document) for test in tests)


def _always(document: Mapping[str, Any]) -> bool:
    return True


def _combine(op: str, clauses: list[Callable[[Mapping[str, Any]], bool]]) -> Callable[[Mapping[str, Any]], bool]:
    """``$and``, ``$or`` or ``$nor`` of compiled clauses."""
    def test(document: Mapping[str, Any]) -> bool:
        if op == "$and":
            return all(clause(document) for clause in clauses)
        found = any(clause(document) for clause in clauses)
        return found if op == "$or" else not found

    return test


def _field_test(resolve: Callable[[Mapping[str, Any]], Any], condition: Any) -> Callable[[Mapping[str, Any]], bool]:
    if isinstance(condition, Mapping) and condition and all(str(k).startswith("$") for k in condition):
        if len(condition) == 1:
            [(op, operand)] = condition.items()
            if op in _PLAIN_OPERATORS:
                return lambda document: _compare(op, resolve(document), operand)
        return lambda document: _field_matches(resolve(document), condition)
    return lambda document: _compare("$eq", resolve(document), condition)


_PLAIN_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"})


def field_resolver(field: str) -> Callable[[Mapping[str, Any]], Any]:
    """``resolve_field`` for one field, read once: a function of the document, with a fast path for
    the common shapes (``state``, ``config.lr``); anything else takes the general rule."""
    parts = field.split(".")
    if len(parts) == 1:
        def resolve_top(document: Mapping[str, Any]) -> Any:
            if type(document) is dict and field in document:
                return document[field]
            return resolve_field(document, field)

        return resolve_top
    if len(parts) == 2 and all(parts):
        head, tail = parts

        def resolve_pair(document: Mapping[str, Any]) -> Any:
            if type(document) is dict and field not in document:
                node = document.get(head)
                if type(node) is dict and tail in node:
                    return node[tail]
            return resolve_field(document, field)

        return resolve_pair
    return lambda document: resolve_field(document, field)


def check_filters(filters: Any) -> None:
    """Raise ``UsageError`` for a filter no store could answer: not a dict, an unknown operator,
    ``$in`` without a list, a ``$regex`` outside the portable subset (see ``trackkit._regex``).
    Stores call it before touching any run, so a typo fails even in an empty project."""
    if filters is None:
        return
    if not isinstance(filters, Mapping):
        raise UsageError(f"filters must be a dict like {{'config.lr': {{'$gt': 0.01}}}}; got {filters!r}.")
    for key, condition in filters.items():
        if key in ("$and", "$or", "$nor"):
            for clause in _as_list(key, condition):
                check_filters(clause)
        elif not isinstance(key, str) or key.startswith("$"):
            raise UsageError(f"unknown filter operator {key!r} at the top level; use $and, $or or $nor.")
        else:
            _check_condition(condition)


def _check_condition(condition: Any) -> None:
    if not (isinstance(condition, Mapping) and condition and all(str(k).startswith("$") for k in condition)):
        return  # a plain value: equality
    for op, operand in condition.items():
        if op not in OPERATORS or op in ("$and", "$or", "$nor"):
            raise UsageError(f"unknown filter operator {op!r}; use one of {', '.join(OPERATORS)}.")
        if op in ("$in", "$nin"):
            _as_list(op, operand)
        elif op == "$regex":
            compile_regex(operand)
        elif op == "$not":
            _check_condition(operand)


# -- ordering ------------------------------------------------------------------------------------
_T = TypeVar("_T")
_NUMBER, _STRING, _OTHER, _LAST = 0, 1, 2, 3


class _Descending:
    """Wraps a value so that it sorts in reverse."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash(self.value)


def sort_key(order: str) -> tuple[str, bool]:
    """``"-summary.acc"`` -> ``("summary.acc", True)`` (descending)."""
    order = order.strip()
    if order.startswith(("-", "+")):
        return order[1:].strip(), order[0] == "-"
    return order, False


def parse_order(order: str | Sequence[str] | None) -> list[tuple[str, bool]]:
    """``"-summary.acc"`` or ``["-summary.acc", "config.lr"]`` -> ``[(field, descending), ...]``."""
    specs = [order] if isinstance(order, str) else list(order or [])
    parsed = []
    for spec in specs:
        if not isinstance(spec, str) or not spec.strip("+- "):
            raise UsageError(f"order takes field names like '-summary.acc'; got {spec!r}.")
        parsed.append(sort_key(spec))
    return parsed


def order_key(document: Mapping[str, Any], field: str, descending: bool = False) -> tuple[int, Any]:
    """A key that sorts documents by ``field`` with a plain ascending sort, in either direction.

    The ordering rule, the same in the Api, the CLI, the server's SQL and the UI:

    1. numbers (ints and floats, ``-inf`` and ``inf`` included) by value;
    2. then strings, by code point (PostgreSQL: ``COLLATE "C"``);
    3. then booleans (``False`` before ``True``), then other values (lists, dicts) by their ``repr``;
    4. last, missing keys, ``None`` and NaN, in no particular order among themselves.

    ``descending`` reverses the values inside groups 1-3; the groups themselves keep their order, so
    missing and NaN values are last in both directions (a descending sort is not a reversed one).
    """
    return _order_value(resolve_field(document, field), descending)


def _order_value(value: Any, descending: bool) -> tuple[int, Any]:
    key: Any
    if value is _MISSING or value is None:
        return (_LAST, 0)
    if isinstance(value, bool):
        kind, key = _OTHER, (0, int(value), "")
    elif isinstance(value, (int, float)):
        if math.isnan(value):
            return (_LAST, 0)
        return (_NUMBER, -value if descending else value)
    elif isinstance(value, str):
        kind, key = _STRING, value
    else:
        kind, key = _OTHER, (1, 0, repr(value))
    return (kind, _Descending(key) if descending else key)


def sort_key_function(order: str | Sequence[str] | None) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The key ``sort_documents`` sorts run documents by, for ``order``: the ``order_key`` of each
    field, then ``created_at`` and ``id`` (both ascending, missing last). Keys of one order compare
    with each other, so a sorted list can take more documents by bisection."""
    specs = [(field_resolver(field), descending) for field, descending in parse_order(order)]
    created_at = field_resolver("created_at")

    def key(doc: Mapping[str, Any]) -> tuple[Any, ...]:
        run_id = doc.get("id")
        return (*[_order_value(resolve(doc), descending) for resolve, descending in specs],
                _order_value(created_at(doc), False), run_id if isinstance(run_id, str) else "")

    return key


def sort_documents(
    items: Iterable[_T],
    order: str | Sequence[str] | None,
    document: Callable[[_T], Mapping[str, Any]] | None = None,
) -> list[_T]:
    """Items sorted by each ``(field, direction)`` of ``order`` (``"-summary.acc"`` or a list of
    them) under the rule of ``order_key``; ties broken by ``created_at`` then ``id``, both ascending
    (missing last). ``document`` maps an item to its run document (default: the item itself)."""
    key = sort_key_function(order)
    if document is None:
        return sorted(items, key=key)  # type: ignore[arg-type]
    to_document = document
    return sorted(items, key=lambda item: key(to_document(item)))
