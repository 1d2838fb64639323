"""What keeps a ``Run``'s stored documents in step with it: the writer thread's cycle (a pending row
saved early, edits from outside merged, the summary written when it changed), config writes, and
changes made after ``finish()``, which become store edits.

Functions of the run, passed to its config, writer and summary as callbacks; ``log``'s hot path is
in ``_run.py`` and does none of this.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from typing import TYPE_CHECKING, Any

from ._config import Config
from ._edits import APPLIED_KEY, DELETE, EDITABLE_META, apply_config_edit
from ._errors import StorageWarning
from ._store import CHECKPOINT_KEY

if TYPE_CHECKING:
    from ._run import Run

__all__ = [
    "checkpoint_idle_pending",
    "edit_after_finish",
    "merge_edits",
    "on_writer_cycle",
    "persist_config",
    "summary_edited_after_finish",
    "write_summary_if_changed",
]


def persist_config(run: Run, config: Config) -> None:
    if run._forked or os.getpid() != run._pid:
        run._refuse_write("config.update")  # only the process that called init() writes the run
        return
    document = config.to_document()
    try:
        run._sink.write_config(document)
    except Exception as error:  # storage trouble must not take training down: one warning, then retries
        run._writer.report_failure("config", error)
        snapshot = json.loads(json.dumps(document))
        run._writer.submit(lambda: run._sink.write_config(snapshot))


def on_writer_cycle(run: Run) -> None:
    checkpoint_idle_pending(run)
    merge_edits(run)
    write_summary_if_changed(run)


def merge_edits(run: Run) -> None:
    """On the writer thread: merge edits made from outside (``Store.edit_run``: the Api, the CLI,
    the UI) into the run's own copies, so its next writes keep them. Tags, notes and the like go
    into the metadata; config edits become recorded changes (source ``api``); summary edits explicit values."""
    read_edits = getattr(run._sink, "read_edits", None)
    if read_edits is None:  # a sink of a store without edits
        return
    cursor = run._edits_cursor
    edits, end = read_edits(cursor)
    if end == cursor:
        return
    config_changed = False
    config = run.config
    with config._lock:
        on_change = config._on_change
        object.__setattr__(config, "_on_change", None)  # one write with the new cursor, after all of them
        try:
            for edit in edits:
                if isinstance(edit.get("meta"), dict):
                    run._meta.update({k: v for k, v in edit["meta"].items() if k in EDITABLE_META})
                if isinstance(edit.get("config"), dict) and not config._closed:
                    apply_config_edit(config, edit["config"], str(edit.get("source") or "api"))
                    config_changed = True
                if isinstance(edit.get("summary"), dict):
                    run.summary.apply_edit(edit["summary"])
            object.__setattr__(config, "_edits_applied", end)
        finally:
            object.__setattr__(config, "_on_change", on_change)
    run._edits_cursor = end
    run._meta[APPLIED_KEY] = end
    run.summary._edits_applied = end
    run.summary.version += 1
    if config_changed:
        run._sink.write_config(config.to_document())
    run._sink.write_meta(dict(run._meta))


def edit_after_finish(run: Run, meta: dict[str, Any] | None = None, summary: dict[str, Any] | None = None) -> None:
    """A change made on the run object after ``finish()`` (W&B allows summary updates then): a store edit."""
    if run.store is None or run._forked or os.getpid() != run._pid:
        return
    try:
        run.store.edit_run(run.project, run.id, meta=meta, summary=summary)
    except OSError as error:
        warnings.warn(f"trackkit: could not save the change to finished run {run.id}: {error}", StorageWarning,
                      stacklevel=3)


def summary_edited_after_finish(run: Run, values: dict[str, Any], deleted: list[str]) -> None:
    changes: dict[str, Any] = dict(values)
    changes.update({key: DELETE for key in deleted})
    edit_after_finish(run, summary=changes)


def checkpoint_idle_pending(run: Run) -> None:
    """On the writer thread: save a row that has waited at its step for a flush interval.

    ``log(..., step=s)`` keeps the row open for more values at ``s``; if none come for a
    while (an epoch-level metric, then a long epoch), ``kill -9`` must not take it. The
    copy carries a checkpoint id; the complete row, when committed, replaces it (see
    ``resolve_checkpoints``). Races with ``_commit`` only ever leave the complete row last.
    """
    pending = run._pending
    touched = run._pending_touched
    if not pending or touched == run._checkpointed_touch:
        return
    if time.monotonic() - touched < run._settings.flush_interval:
        return
    checkpoint = pending.get(CHECKPOINT_KEY)
    if checkpoint is None:
        run._checkpoints += 1
        checkpoint = pending[CHECKPOINT_KEY] = f"{run.writer_id}-{run._checkpoints}"
    snapshot = dict(pending)
    now = time.time()
    snapshot.update(_step=run._pending_step, _timestamp=now, _runtime=now - run._start_time)
    snapshot[CHECKPOINT_KEY] = checkpoint
    run._sink.append_history([snapshot])
    run._checkpointed_touch = touched


def write_summary_if_changed(run: Run) -> None:
    version = run.summary.version
    if version != run._summary_version_written:
        run._sink.write_summary(run.summary.to_document())
        run._summary_version_written = version
