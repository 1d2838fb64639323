"""Edits of a run from outside its writing process (``ApiRun.update()``, the CLI, the UI) or after
it finished (``run.summary[k] = v`` after ``finish()``): only the keys that changed, merged, never
a whole document written over the run's own.

An edit is a record ``{"time": t, "source": "api", "meta": {...}, "config": {"set": {...},
"delete": [...]}, "summary": {"set": {...}, "delete": [...]}}``: ``meta`` holds changed run
fields (``EDITABLE_META``), ``config`` dotted keys of the config tree, ``summary`` summary keys.
A store keeps edits in order (``Store.edit_run``); each of the run's documents (run.json,
config.json, summary.json) says how far into that order it has merged them (``edits_applied``, a
cursor the store defines), and a reader merges the rest with ``fold_edits``. A live run picks up
new edits each writer cycle (``RunSink.read_edits``) and merges them the same way, so its own
later writes keep them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._errors import UsageError
from ._store import RunRecord
from ._values import to_jsonable

__all__ = ["APPLIED_KEY", "DELETE", "EDITABLE_META", "apply_config_edit", "apply_summary_edit", "fold_edits", "make_edit"]

#: Run fields an edit may change (never the state, times or counts the writer keeps).
EDITABLE_META = ("name", "tags", "notes", "group", "job_type")
#: In each document: how far into the run's edits it has merged them (the store's cursor).
APPLIED_KEY = "edits_applied"


class _Delete:
    """The value that deletes a config or summary key in ``Store.edit_run``."""

    _instance: _Delete | None = None

    def __new__(cls) -> _Delete:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()


def make_edit(
    meta: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    summary: Mapping[str, Any] | None = None,
    *,
    source: str = "api",
) -> dict[str, Any] | None:
    """The edit record for ``Store.edit_run`` arguments (``DELETE`` as a value removes the key);
    None when there is nothing to change. Raises ``UsageError`` for a run field that cannot be edited."""
    record: dict[str, Any] = {"time": time.time(), "source": source}
    if meta:
        unknown = sorted(set(meta) - set(EDITABLE_META))
        if unknown:
            raise UsageError(f"cannot edit {', '.join(unknown)} of a run; editable fields: {', '.join(EDITABLE_META)}.")
        fields = {key: to_jsonable(value) for key, value in meta.items()}
        if "tags" in fields:
            tags = fields["tags"]
            if isinstance(tags, str) or not isinstance(tags, list):
                raise UsageError(f"tags must be a list of strings; got {meta['tags']!r}.")
            fields["tags"] = [str(tag) for tag in tags]
        record["meta"] = fields
    for part, changes in (("config", config), ("summary", summary)):
        if changes:
            for key in changes:
                if not isinstance(key, str) or not key:
                    raise UsageError(f"{part} keys must be non-empty strings; got {key!r}.")
            record[part] = {
                "set": {key: to_jsonable(value) for key, value in changes.items() if value is not DELETE},
                "delete": [key for key, value in changes.items() if value is DELETE],
            }
    return record if len(record) > 2 else None


def apply_config_edit(config: Any, change: Mapping[str, Any], source: str) -> None:
    """Merge the ``config`` part of an edit into a ``Config``: deletions, then values, as recorded changes."""
    from ._config import _split

    for key in change.get("delete") or ():
        config._remove(_split(key), source=source)
    values = change.get("set") or {}
    if values:
        before = len(config._changes)
        config._apply((), dict(values), source=source, allow_val_change=True)
        for recorded in config._changes[before:]:
            recorded["step"] = None  # made outside the training loop


def apply_summary_edit(document: dict[str, Any], change: Mapping[str, Any]) -> None:
    """Merge the ``summary`` part of an edit into a summary document (explicit values)."""
    values = dict(document.get("values") or {})
    explicit = set(document.get("explicit") or ())
    for key in change.get("delete") or ():
        values.pop(key, None)
        explicit.discard(key)
    for key, value in (change.get("set") or {}).items():
        values[key] = value
        explicit.add(key)
    document["values"] = values
    document["explicit"] = sorted(explicit)


def fold_edits(record: RunRecord, edits: list[tuple[int, dict[str, Any]]]) -> RunRecord:
    """Merge into each document the edits it has not merged yet.

    ``edits`` are ``(cursor after the edit, edit)`` pairs in order; a document whose ``edits_applied``
    is at or past an edit's cursor already holds it. Returns the record with every cursor at the end.
    """
    if not edits:
        return record
    end = edits[-1][0]
    meta, config_document, summary_document = record["meta"], record["config"], record["summary"]
    config = None
    for cursor, edit in edits:
        if "meta" in edit and _behind(meta, cursor):
            meta.update(edit["meta"])
        if "config" in edit and _behind(config_document, cursor):
            if config is None:
                from ._config import Config

                config = Config()
                config.load_document(config_document)
            apply_config_edit(config, edit["config"], str(edit.get("source") or "api"))
        if "summary" in edit and _behind(summary_document, cursor):
            apply_summary_edit(summary_document, edit["summary"])
    if config is not None:
        config_document = dict(config.to_document())
    for document in (meta, config_document, summary_document):
        document[APPLIED_KEY] = max(end, _applied(document))
    return {"meta": meta, "config": config_document, "summary": summary_document}


def _applied(document: Mapping[str, Any]) -> int:
    value = document.get(APPLIED_KEY)
    return value if isinstance(value, int) else 0


def _behind(document: Mapping[str, Any], cursor: int) -> bool:
    return _applied(document) < cursor
