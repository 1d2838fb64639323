"""The local store's own check (``LocalStore.check``, run by ``trackkit doctor``): damaged files
and runs left ``running`` by a dead process, repaired without losing data. It belongs to the local
store: it reads the run directories itself, which no consumer of the protocol may do."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

from ._local_store import HISTORY, LocalStore, read_history

__all__ = ["check_local_store"]


def check_local_store(store: LocalStore, *, repair: bool = False) -> dict[str, Any]:
    """Check every run of a local store; with ``repair``, trim torn history lines (the damaged lines
    are kept aside in ``history.jsonl.damaged``), rebuild unreadable JSON files (kept aside as
    ``*.damaged``) and mark dead runs ``crashed``. Runs that a live process is writing are checked,
    never rewritten."""
    report: dict[str, Any] = {"store": store.location, "runs_checked": 0, "problems": [], "repaired": [], "messages": []}
    for project in store.projects():
        for run_id in store.run_ids(project):
            report["runs_checked"] += 1
            _check_run(store, project, run_id, repair, report)
    return report


def _problem(report: dict[str, Any], where: str, text: str) -> None:
    report["problems"].append({"run": where, "problem": text})
    report["messages"].append(f"{where}: {text}")


def _check_run(store: LocalStore, project: str, run_id: str, repair: bool, report: dict[str, Any]) -> None:
    where = f"{project}/{run_id}"
    run_dir = store.run_dir(project, run_id)
    live = store._is_live(project, run_id)
    damaged: list[str] = []
    for name in ("run.json", "config.json", "summary.json"):
        path = os.path.join(run_dir, name)
        if not os.path.exists(path):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            _problem(report, where, f"{name} is not valid JSON ({error})")
            damaged.append(name)
    history = os.path.join(run_dir, HISTORY)
    rows, skipped, torn_tail = read_history(history)
    if torn_tail and live:
        skipped = skipped[:-1]  # a live run's last line is being written
    if skipped:
        _problem(report, where, f"{HISTORY}: {len(skipped)} damaged line(s): {skipped[:10]}; {len(rows)} rows are fine")
        if repair and live:
            report["messages"].append(f"{where}: not repaired while a process writes it; run doctor again later")
        elif repair:
            _rewrite_history(history, rows, skipped)
            report["repaired"].append(where)
            report["messages"].append(f"{where}: kept {len(rows)} rows; damaged lines moved to history.jsonl.damaged")
    if damaged and repair and not live:
        _rebuild_documents(store, project, run_id, damaged, rows)
        report["repaired"].append(where)
        report["messages"].append(f"{where}: rebuilt {', '.join(damaged)} (the damaged files are kept as *.damaged)")
        damaged = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = store.read_run(project, run_id)
    if "run.json" in damaged:
        return
    with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as handle:
        stored_state = json.load(handle).get("state")
    if stored_state == "running" and record["meta"]["state"] == "crashed":
        _problem(report, where, "left 'running' by a process that is gone: crashed")
        if repair:
            store.update_run(project, run_id, meta=record["meta"])
            report["repaired"].append(where)
            report["messages"].append(f"{where}: marked crashed")


def _rebuild_documents(
    store: LocalStore, project: str, run_id: str, damaged: list[str], rows: list[dict[str, Any]]
) -> None:
    """Keep each damaged file as ``<name>.damaged`` and write what can be known in its place:
    run.json from the run's identity and history, summary.json from the last logged values,
    config.json empty."""
    run_dir = store.run_dir(project, run_id)
    for name in damaged:
        os.replace(os.path.join(run_dir, name), os.path.join(run_dir, name + ".damaged"))
    last: dict[str, Any] = {}
    for row in rows:
        last.update(row)
    meta: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    if "run.json" in damaged:
        meta = {"id": run_id, "project": project, "name": run_id, "state": "crashed", "history_rows": len(rows),
                "exit_reason": "run.json was damaged; rebuilt by trackkit doctor (the original is run.json.damaged)"}
        times = [row["_timestamp"] for row in rows if isinstance(row.get("_timestamp"), (int, float))]
        if times:
            meta["created_at"], meta["finished_at"] = min(times), max(times)
    if "summary.json" in damaged:
        values = {k: v for k, v in last.items() if not k.startswith("_")}
        summary = {"values": values, "explicit": [], "last_step": last.get("_step")}
    if "config.json" in damaged:
        config = {"values": {}, "provenance": {}, "changes": []}
    if meta is not None:  # update_run needs a run.json to exist
        with open(os.path.join(run_dir, "run.json"), "w", encoding="utf-8") as handle:
            json.dump(meta, handle)
    store.update_run(project, run_id, config=config, summary=summary)


def _rewrite_history(path: str, rows: list[dict[str, Any]], skipped: list[int]) -> None:
    with open(path, "rb") as handle:
        lines = handle.read().split(b"\n")
    damaged = [lines[n - 1] for n in skipped if 0 < n <= len(lines)]
    with open(path + ".damaged", "ab") as handle:
        handle.write(b"\n".join(damaged) + b"\n")
    tmp = path + ".repair.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, allow_nan=True, separators=(",", ":")) + "\n")
    os.replace(tmp, path)
