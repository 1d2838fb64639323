"""Run filters and ordering as SQL over the ``runs`` table: the Mongo-style filters of
``trackkit._filters`` pushed down to PostgreSQL, with the same answers as the Python version.

Every filter value and every field path is a bound parameter (named ``%(pN)s``); the only text that
reaches the SQL is built here from fixed fragments, after the whole filter has been checked against
the operator list. Equality on a config or summary leaf also compiles to a containment test
(``config_flat @> {...}``) that the GIN ``jsonb_path_ops`` index serves.

Known differences from the Python version, on purpose (documented in the README's filter section):
``True == 1`` is false here (JSON keeps booleans and numbers apart), and ``$gt``/``$lt`` between two
lists or two dicts match nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from trackkit import UsageError
from trackkit._filters import OPERATORS, parse_order

from ._pg_json import NONFINITE, dumps

__all__ = ["STATE_SQL", "Compiler", "flatten"]

#: A run's state with liveness judged: "running" whose writer's lease ran out is "crashed".
STATE_SQL = ("(CASE WHEN coalesce(r.meta->>'state', 'running') = 'running' "
             "AND (r.lease_until IS NULL OR r.lease_until < now()) THEN 'crashed' "
             "ELSE coalesce(r.meta->>'state', 'running') END)")

# Run-document fields that are always present (None shows as JSON null, not as a missing key).
_RUN_FIELDS = {
    "id": "to_jsonb(r.run_id)",
    "project": "to_jsonb(r.project)",
    "name": "coalesce(nullif(r.meta->'name', 'null'::jsonb), to_jsonb(r.run_id))",
    "entity": "coalesce(nullif(r.meta->'entity', 'null'::jsonb), '\"local\"'::jsonb)",
    "state": f"to_jsonb({STATE_SQL})",
    "tags": "coalesce(nullif(r.meta->'tags', 'null'::jsonb), '[]'::jsonb)",
    "notes": "coalesce(r.meta->'notes', 'null'::jsonb)",
    "group": "coalesce(r.meta->'group', 'null'::jsonb)",
    "job_type": "coalesce(r.meta->'job_type', 'null'::jsonb)",
    "created_at": "coalesce(to_jsonb(r.created_at), 'null'::jsonb)",
    "updated_at": "coalesce(to_jsonb(r.activity_at), 'null'::jsonb)",
    "runtime": "coalesce(r.meta->'runtime', 'null'::jsonb)",
    "exit_code": "coalesce(r.meta->'exit_code', 'null'::jsonb)",
    "exit_reason": "coalesce(r.meta->'exit_reason', 'null'::jsonb)",
}
_COMPARE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_NONFINITE_SQL = "('NaN', 'Infinity', '-Infinity')"


def flatten(tree: Mapping[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"optim": {"lr": 1}}`` -> ``{"optim.lr": 1}``: every leaf (lists and empty dicts are
    leaves) under its dotted path, so a dotted key and a nested one are found alike."""
    out = {} if out is None else out
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flatten(value, path + ".", out)
        else:
            out[path] = value
    return out


def _check(filters: Any) -> None:
    """Raise ``UsageError`` for anything but a well-formed filter, before any SQL exists."""
    try:  # the shared checker (trackkit._filters), when this trackkit has it
        from trackkit._filters import check_filters
    except ImportError:  # pragma: no cover - older core
        check_filters = None
    if check_filters is not None:
        check_filters(filters)
        return
    if not isinstance(filters, Mapping):  # pragma: no cover
        raise UsageError(f"filters must be a dict like {{'config.lr': {{'$gt': 0.01}}}}; got {filters!r}.")


def _never_equal(operand: Any) -> bool:
    """NaN equals nothing; the strings "NaN"/"Infinity"/"-Infinity" equal nothing either, since
    every stored copy of them reads back as a float."""
    return (isinstance(operand, float) and math.isnan(operand)) or (isinstance(operand, str) and operand in NONFINITE)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Compiler:
    """Builds one SQL statement's WHERE and ORDER BY fragments; ``params`` collects the values."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def jsonb(self, value: Any) -> str:
        return f"{self.param(dumps(value))}::jsonb"

    # -- fields ----------------------------------------------------------------------------------
    def field(self, field: str) -> str:
        """A SQL expression (jsonb, NULL when the field is missing) for a dotted field of a run document."""
        if not isinstance(field, str) or not field:
            raise UsageError(f"filter and order fields are dotted names like 'config.lr'; got {field!r}.")
        for part in ("config", "summary"):
            if field == part:
                return f"r.{part}_tree"
            if field.startswith(part + "."):
                path = field[len(part) + 1:]
                expression = self._tree_path(part, path)
                if part == "config" and path.endswith(".value") and path != ".value":
                    expression = f"coalesce({expression}, {self._tree_path(part, path[: -len('.value')])})"
                return expression
        return _RUN_FIELDS.get(field, "NULL::jsonb")

    def _tree_path(self, part: str, path: str) -> str:
        return (f"coalesce(r.{part}_flat -> {self.param(path)}::text, "
                f"r.{part}_tree #> {self.param(path.split('.'))}::text[])")

    # -- filters ---------------------------------------------------------------------------------
    def where(self, filters: Mapping[str, Any] | None) -> str:
        """The WHERE condition of ``filters`` (``TRUE`` for none)."""
        if not filters:
            return "TRUE"
        _check(filters)
        return self._document(filters)

    def _document(self, filters: Mapping[str, Any]) -> str:
        clauses = []
        for key, condition in filters.items():
            if key in ("$and", "$or", "$nor"):
                parts = [self._document(clause) for clause in condition]
                if key == "$and":
                    clauses.append("(" + " AND ".join(parts) + ")" if parts else "TRUE")
                elif key == "$or":
                    clauses.append("(" + " OR ".join(parts) + ")" if parts else "FALSE")
                else:
                    clauses.append("NOT (" + " OR ".join(parts) + ")" if parts else "TRUE")
            else:
                clauses.append(self._field_condition(key, condition))
        return "(" + " AND ".join(clauses) + ")" if clauses else "TRUE"

    def _field_condition(self, field: str, condition: Any) -> str:
        value = self.field(field)
        if isinstance(condition, Mapping) and condition and all(str(k).startswith("$") for k in condition):
            parts = []
            for op, operand in condition.items():
                if op == "$exists":
                    parts.append(f"({value} IS {'NOT ' if operand else ''}NULL)")
                elif op == "$not":
                    parts.append(f"NOT {self._field_condition(field, operand)}")
                else:
                    parts.append(self._compare(op, value, operand, field))
            return "(" + " AND ".join(parts) + ")"
        return self._compare("$eq", value, condition, field)

    def _compare(self, op: str, value: str, operand: Any, field: str) -> str:
        if op not in OPERATORS:  # pragma: no cover - _check caught it
            raise UsageError(f"unknown filter operator {op!r}; use one of {', '.join(OPERATORS)}.")
        negate = op in ("$ne", "$nin")
        positive = {"$ne": "$eq", "$nin": "$in"}.get(op, op)
        if positive == "$eq" and isinstance(operand, (list, tuple)):
            test = f"({value} = {self.jsonb(list(operand))})"  # a list compared whole, not element-wise
        else:
            test = self._elementwise(value, lambda x: self._element(positive, x, operand))
            if positive == "$eq" and not isinstance(operand, Mapping) and not _never_equal(operand):
                hint = self._containment(field, operand)
                if hint:
                    test = f"({hint} AND {test})"
        if negate:
            return f"({value} IS NULL OR NOT {test})"
        return f"({value} IS NOT NULL AND {test})"

    def _elementwise(self, value: str, predicate: Any) -> str:
        """``predicate`` of the value, or of any element when the value is an array (MongoDB's rule)."""
        return (f"(CASE WHEN jsonb_typeof({value}) = 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({value}) "
                f"AS e(x) WHERE {predicate('e.x')}) ELSE {predicate(value)} END)")

    def _element(self, op: str, x: str, operand: Any) -> str:
        """A never-NULL test of one JSON value ``x`` against ``operand``."""
        if op == "$eq":
            if _never_equal(operand):
                return "FALSE"
            return f"coalesce({x} = {self.jsonb(operand)}, FALSE)"
        if op == "$in":
            items = [dumps(item) for item in operand if not _never_equal(item)]
            return f"coalesce({x} = ANY({self.param(items)}::text[]::jsonb[]), FALSE)"
        if op == "$regex":
            return (f"coalesce(jsonb_typeof({x}) = 'string' AND ({x} #>> '{{}}') NOT IN {_NONFINITE_SQL} "
                    f"AND ({x} #>> '{{}}') ~ {self.param(operand)}::text, FALSE)")
        sign = _COMPARE[op]
        if isinstance(operand, bool):
            return f"coalesce(jsonb_typeof({x}) = 'boolean' AND ({x})::boolean {sign} {self.param(operand)}::boolean, FALSE)"
        if _is_number(operand):
            if math.isnan(operand):
                return "FALSE"
            return (f"coalesce(tk_num({x}) <> 'NaN'::float8 AND tk_num({x}) {sign} "
                    f"{self.param(float(operand))}::float8, FALSE)")
        if isinstance(operand, str):
            return (f"coalesce(jsonb_typeof({x}) = 'string' AND ({x} #>> '{{}}') NOT IN {_NONFINITE_SQL} "
                    f"AND ({x} #>> '{{}}') COLLATE \"C\" {sign} {self.param(operand)}::text COLLATE \"C\", FALSE)")
        return "FALSE"  # None, lists, dicts: no order to compare by

    def _containment(self, field: str, operand: Any) -> str | None:
        """For ``config.<leaf> == scalar``: a test implied by the exact one that the GIN index on
        ``config_flat`` serves (the value itself, or a list holding it, under the dotted path)."""
        for part in ("config", "summary"):
            if field.startswith(part + ".") and len(field) > len(part) + 1:
                paths = [field[len(part) + 1:]]
                if part == "config" and paths[0].endswith(".value"):
                    paths.append(paths[0][: -len(".value")])
                tests = [f"r.{part}_flat @> {self.jsonb({path: shape})}" for path in paths for shape in (operand, [operand])]
                return "(" + " OR ".join(tests) + ")"
        return None

    # -- ordering --------------------------------------------------------------------------------
    def order_by(self, order: str | Sequence[str] | None) -> str:
        """ORDER BY terms: each key by class (numbers, strings, booleans/others, missing/NaN) first,
        then by value in its direction; ties by ``created_at`` then id, ascending. Each key's value
        is a column of the lateral ``o`` (``order_columns``), so its path is read once per run."""
        terms = []
        self.order_columns: list[str] = []
        for index, (field, descending) in enumerate(parse_order(order)):
            self.order_columns.append(f"{self.field(field)} AS k{index}")
            value, rank = f"o.k{index}", f"o.r{index}"
            direction = "DESC" if descending else "ASC"
            terms += [
                f"{rank} ASC",
                f"(CASE WHEN {rank} = 0 THEN o.n{index} END) {direction}",
                f"(CASE WHEN {rank} = 1 THEN {value} #>> '{{}}' END) COLLATE \"C\" {direction}",
                f"(CASE WHEN {rank} = 2 THEN jsonb_typeof({value}) <> 'boolean' END) {direction}",
                f"(CASE WHEN jsonb_typeof({value}) = 'boolean' THEN ({value})::boolean END) {direction}",
                f"(CASE WHEN {rank} = 2 THEN {value}::text END) COLLATE \"C\" {direction}",
            ]
        terms += ["(r.created_at IS NULL OR r.created_at = 'NaN') ASC", "r.created_at ASC", "r.run_id COLLATE \"C\" ASC"]
        return ", ".join(terms)

    def order_lateral(self) -> str:
        """``CROSS JOIN LATERAL (...) o`` with the order keys' values (``OFFSET 0`` keeps PostgreSQL from
        folding it back into the ORDER BY, where each path would be read once per term)."""
        columns = ", ".join(self.order_columns) or "NULL AS k"
        # each key's ordering class and number computed once per run, not once per ORDER BY term
        derived = "".join(f", tk_rank(v.k{i}) AS r{i}, tk_num(v.k{i}) AS n{i}" for i in range(len(self.order_columns)))
        return f"CROSS JOIN LATERAL (SELECT v.*{derived} FROM (SELECT {columns} OFFSET 0) AS v OFFSET 0) AS o"
