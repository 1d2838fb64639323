"""The query side every store shares: run documents, filtering, ordering, paging, projection,
history keys and row scans, as pure functions over plain data.

A store only has to produce ``RunDocument``s (and history rows); what a query means is decided
here once, so the local store, the memory store and the server cannot drift apart.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ._errors import UsageError
from ._filters import check_filters, compile_filter, parse_order, sort_documents, sort_key_function
from ._store import KeyInfo, ProjectInfo, RunDocument, RunPage

__all__ = [
    "HISTORY_META_KEYS",
    "QueryMemo",
    "history_key_infos",
    "order_documents",
    "project_infos_of",
    "query_documents",
    "run_document",
    "scan_rows",
    "update_key_infos",
]

#: Keys every history row carries that are not metrics (left out of ``history_keys``).
HISTORY_META_KEYS = frozenset({"_step", "_timestamp", "_runtime", "_partial", "_replaces", "_rewind", "_writer", "_superseded"})
_ROW_AXES = ("_step", "_timestamp", "_runtime")


def run_document(record: Mapping[str, Any], project: str, run_id: str, updated_at: float | None = None) -> RunDocument:
    """The document of a run from its record (``meta``/``config``/``summary`` as stores keep them);
    ``meta["state"]`` must already be judged for liveness."""
    meta = record.get("meta") or {}
    config = record.get("config") or {}
    summary = record.get("summary") or {}
    activity = [t for t in (updated_at, meta.get("updated_at"), meta.get("finished_at"), meta.get("started_at"))
                if isinstance(t, (int, float)) and not isinstance(t, bool)]
    return {
        "id": str(meta.get("id") or run_id),
        "name": str(meta.get("name") or run_id),
        "project": str(meta.get("project") or project),
        "entity": str(meta.get("entity") or "local"),
        "state": str(meta.get("state") or "running"),
        "tags": list(meta.get("tags") or []),
        "notes": meta.get("notes"),
        "group": meta.get("group"),
        "job_type": meta.get("job_type"),
        "created_at": meta.get("created_at"),
        "updated_at": max(activity) if activity else None,
        "runtime": meta.get("runtime"),
        "exit_code": meta.get("exit_code"),
        "exit_reason": meta.get("exit_reason"),
        "config": dict(config.get("values") or {}),
        "summary": dict(summary.get("values") or {}),
    }


# -- ordering ------------------------------------------------------------------------------------
def order_documents(documents: list[RunDocument], order: str | Sequence[str] | None) -> list[RunDocument]:
    """Sort by each key of ``order`` (``"-summary.acc"``), ties by ``created_at`` then id; missing
    and NaN values go last in both directions (the rule of ``trackkit._filters.order_key``)."""
    return sort_documents(documents, order)


# -- projection ----------------------------------------------------------------------------------
def _path_to(node: Any, rest: str) -> list[str] | None:
    """The keys leading to a dotted field, the longest existing key first (as ``resolve_field``)."""
    path: list[str] = []
    while rest:
        if not isinstance(node, Mapping):
            return None
        if rest in node:
            path.append(rest)
            return path
        parts = rest.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:cut])
            if head in node:
                path.append(head)
                node, rest = node[head], ".".join(parts[cut:])
                break
        else:
            return None
    return path


def _project_tree(tree: Mapping[str, Any], wanted: list[str]) -> dict[str, Any]:
    if "" in wanted:
        return dict(tree)
    out: dict[str, Any] = {}
    for field in wanted:
        path = _path_to(tree, field)
        if path is None and field.endswith(".value"):  # W&B's config.<key>.value spelling
            path = _path_to(tree, field[: -len(".value")])
        if path is None:
            continue
        source: Any = tree
        target = out
        for key in path[:-1]:
            source = source[key]
            target = target.setdefault(key, {})
        target[path[-1]] = source[path[-1]]
    return out


def project_document(document: RunDocument, fields: Sequence[str] | None) -> RunDocument:
    """The document with config and summary cut to the ``config.*`` / ``summary.*`` fields asked
    for (``"config"`` alone keeps all of it); run fields always come."""
    if fields is None:
        return document
    if isinstance(fields, str):
        raise UsageError(f"fields takes a list like ['config.lr', 'summary.loss']; got {fields!r}.")
    projected: RunDocument = dict(document)  # type: ignore[assignment]
    for part in ("config", "summary"):
        wanted = [f[len(part) + 1:] if f != part else "" for f in fields if f == part or f.startswith(part + ".")]
        tree: Mapping[str, Any] = document.get(part) or {}  # type: ignore[assignment]
        projected[part] = _project_tree(tree, wanted)
    return projected


def _check_page(filters: Mapping[str, Any] | None, limit: int | None, offset: int) -> None:
    check_filters(filters)
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise UsageError(f"limit must be a non-negative int or None; got {limit!r}.")
    if not isinstance(offset, int) or offset < 0:
        raise UsageError(f"offset must be a non-negative int; got {offset!r}.")


def query_documents(
    documents: Iterable[RunDocument],
    filters: Mapping[str, Any] | None = None,
    order: str | Sequence[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
    fields: Sequence[str] | None = None,
) -> RunPage:
    """``query_runs`` over documents a store has at hand: filter, order, page, project."""
    _check_page(filters, limit, offset)
    if filters:
        test = compile_filter(filters)  # the filter read once, not once per run
        matched = [d for d in documents if test(d)]
    else:
        matched = list(documents)
    ordered = order_documents(matched, order)
    page = ordered[offset:] if limit is None else ordered[offset: offset + limit]
    return {"runs": [project_document(d, fields) for d in page], "total": len(matched)}


class QueryMemo:
    """``query_documents`` for a store whose documents mostly stay the same between queries.

    The store hands over its *settled* documents (the same objects for as long as their files do
    not change: finished runs, read from its cache) and its *live* ones (running runs, re-judged at
    every query). The filtered, sorted list of the settled documents is kept per (filter, order)
    and used again only while the settled list holds exactly the same objects in the same order
    (checked by identity at every query, so a changed, added or removed run is never served from
    the memo); the live documents are filtered and put in place by bisection on the same sort key.
    The answer is the one ``query_documents`` gives for ``settled + live``.
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._settled: list[RunDocument] = []
        self._generation = 0  # bumped whenever the settled documents change
        self._results: OrderedDict[str, tuple[list[RunDocument], list[Any]]] = OrderedDict()

    def query(
        self,
        settled: list[RunDocument],
        live: Sequence[RunDocument],
        filters: Mapping[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
    ) -> RunPage:
        _check_page(filters, limit, offset)
        memo_key = _memo_key(filters, order)
        with self._lock:
            same = len(settled) == len(self._settled) and all(a is b for a, b in zip(settled, self._settled))
            if not same:
                self._settled = list(settled)
                self._generation += 1
                self._results.clear()
            generation = self._generation
            hit = self._results.get(memo_key)
            if hit is not None:
                self._results.move_to_end(memo_key)
        test = compile_filter(filters)
        key = sort_key_function(order)
        if hit is None:
            matched = [d for d in settled if test(d)] if filters else list(settled)
            keys = [key(d) for d in matched]
            positions = sorted(range(len(matched)), key=keys.__getitem__)
            hit = ([matched[i] for i in positions], [keys[i] for i in positions])
            with self._lock:
                if generation == self._generation:  # not reset by a concurrent query meanwhile
                    self._results[memo_key] = hit
                    while len(self._results) > self._size:
                        self._results.popitem(last=False)
        ordered, ordered_keys = hit
        extra = [d for d in live if test(d)]
        if extra:
            ordered, ordered_keys = list(ordered), list(ordered_keys)
            for document in extra:
                document_key = key(document)
                at = bisect.bisect_right(ordered_keys, document_key)
                ordered.insert(at, document)
                ordered_keys.insert(at, document_key)
        page = ordered[offset:] if limit is None else ordered[offset: offset + limit]
        return {"runs": [project_document(d, fields) for d in page], "total": len(ordered)}


def _memo_key(filters: Mapping[str, Any] | None, order: str | Sequence[str] | None) -> str:
    """A text naming a (filter, order) pair: ``repr`` tells 1 from 1.0, True and "1" apart (a filter
    spelt differently is only a miss)."""
    return repr((filters or {}, parse_order(order)))


def project_infos_of(documents: Iterable[RunDocument]) -> list[ProjectInfo]:
    """Projects with their run counts, running runs and last activity, by name."""
    infos: dict[str, ProjectInfo] = {}
    for document in documents:
        name = document.get("project", "")
        info = infos.setdefault(name, {"name": name, "run_count": 0, "running": 0, "last_activity": None})
        info["run_count"] += 1
        info["running"] += document.get("state") == "running"
        activity = document.get("updated_at")
        if activity is not None and (info["last_activity"] is None or activity > info["last_activity"]):
            info["last_activity"] = activity
    return [infos[name] for name in sorted(infos)]


# -- history -------------------------------------------------------------------------------------
def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "other"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "other"


def update_key_infos(infos: dict[str, KeyInfo], rows: Iterable[Mapping[str, Any]]) -> dict[str, KeyInfo]:
    """Fold rows (in written order) into per-key infos; a key is a ``number`` once any numeric
    value was logged, else ``string`` if every value was a string, else ``other``."""
    for row in rows:
        step = row.get("_step")
        step = step if isinstance(step, int) and not isinstance(step, bool) else None
        for key, value in row.items():
            if key in HISTORY_META_KEYS:
                continue
            kind = _value_type(value)
            info = infos.get(key)
            if info is None:
                infos[key] = {"count": 1, "first_step": step, "last_step": step, "type": kind}  # type: ignore[typeddict-item]
                continue
            info["count"] += 1
            if step is not None:
                if info["first_step"] is None:
                    info["first_step"] = step
                info["last_step"] = step
            if info["type"] != kind and info["type"] != "number":
                info["type"] = "number" if kind == "number" else "other"
    return infos


def history_key_infos(rows: Iterable[Mapping[str, Any]]) -> dict[str, KeyInfo]:
    """Every key of a history with its count, first/last step and type."""
    return update_key_infos({}, rows)


def scan_rows(
    rows: Iterable[dict[str, Any]],
    keys: Sequence[str] | None = None,
    min_step: int | None = None,
    max_step: int | None = None,
) -> Iterator[dict[str, Any]]:
    """``scan_history``'s selection: steps in ``[min_step, max_step]``; with ``keys``, rows that
    hold any of them, cut to those keys and ``_step``/``_timestamp``/``_runtime``."""
    if isinstance(keys, str):
        raise UsageError(f"keys takes a list of metric names; got {keys!r}.")
    wanted = None if keys is None else list(keys)
    for row in rows:
        if min_step is not None or max_step is not None:
            step = row.get("_step")
            if not isinstance(step, (int, float)) or isinstance(step, bool) or math.isnan(step):
                continue
            if (min_step is not None and step < min_step) or (max_step is not None and step > max_step):
                continue
        if wanted is None:
            yield row
            continue
        if not any(key in row for key in wanted):
            continue
        cut = {axis: row[axis] for axis in _ROW_AXES if axis in row}
        for key in wanted:
            if key in row:
                cut[key] = row[key]
        yield cut
