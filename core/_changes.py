"""What the sender ships instead of documents: the changes between what the server acknowledged and
what the spool holds now (``trackkit._sender``), merged on the server by ``trackkit.server.ingest``.

Config changes are dotted leaves with their sources plus the new change records; summary and run
fields are top-level keys. Sending changes, never whole documents, is what lets edits made on the
server (the UI, ``Api``) survive a run that keeps writing.
"""

from __future__ import annotations

import json
from typing import Any

from ._edits import APPLIED_KEY

__all__ = ["CHANGES", "config_change", "flatten", "meta_change", "summary_change"]


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A config tree as dotted leaves (``{"optim.lr": 0.1}``); an empty dict is a leaf."""
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                out.update(flatten(value, name + "."))
            else:
                out[name] = value
    return out


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    changed = {k: v for k, v in new.items() if k not in old or not _same(old[k], v)}
    return changed, [k for k in old if k not in new]


def meta_change(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """Run fields that changed (``{"set", "delete"}``), or None."""
    changed, deleted = _diff({k: v for k, v in old.items() if k != APPLIED_KEY},
                             {k: v for k, v in new.items() if k != APPLIED_KEY})
    return {"set": changed, "delete": deleted} if changed or deleted else None


def _fields(old: dict[str, Any], new: dict[str, Any], skip: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in new.items() if k not in skip and k != APPLIED_KEY and not _same(old.get(k), v)}


def config_change(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """Config leaves that changed (dotted, with their sources), new change records, other fields; or None."""
    changed, deleted = _diff(flatten(old.get("values") or {}), flatten(new.get("values") or {}))
    provenance = new.get("provenance") or {}
    old_provenance = old.get("provenance") or {}
    for key, source in provenance.items():  # the same value set again from another source
        if key not in changed and old_provenance.get(key) != source and key in flatten(new.get("values") or {}):
            changed[key] = flatten(new.get("values") or {})[key]
    old_changes, new_changes = old.get("changes") or [], new.get("changes") or []
    records = new_changes[len(old_changes):] if len(new_changes) >= len(old_changes) else []
    fields = _fields(old, new, ("values", "provenance", "changes"))
    if not (changed or deleted or records or fields):
        return None
    change: dict[str, Any] = {"set": changed, "delete": deleted,
                              "sources": {k: provenance[k] for k in changed if k in provenance}}
    if records:
        change["changes"] = records
    if fields:
        change["fields"] = fields
    return change


def summary_change(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """Summary keys that changed, and other fields (``explicit``, ``last_step`` ...); or None."""
    changed, deleted = _diff(old.get("values") or {}, new.get("values") or {})
    fields = _fields(old, new, ("values",))
    if not (changed or deleted or fields):
        return None
    change: dict[str, Any] = {"set": changed, "delete": deleted}
    if fields:
        change["fields"] = fields
    return change


#: Each document part's change function.
CHANGES = {"meta": meta_change, "config": config_change, "summary": summary_change}
