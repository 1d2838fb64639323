"""How a ``Run`` ends: its last row committed, the run context stopped, the final state and exit
code written by the writer's last cycle within ``finish_timeout``, the sink released, and the
closing line printed. ``Run.finish`` is this function."""

from __future__ import annotations

import os
import sys
import time
import warnings
from functools import partial
from typing import TYPE_CHECKING

from ._errors import StorageWarning
from ._run_sync import merge_edits, summary_edited_after_finish, write_summary_if_changed

if TYPE_CHECKING:
    from ._run import Run

__all__ = ["finish"]


def finish(run: Run, exit_code: int | None = None, quiet: bool | None = None, *, reason: str | None = None) -> None:
    """``Run.finish``: write everything and close the run (see there)."""
    if run._closed:
        return
    if run._pending is not None:
        run._commit()
    run._closed = True
    from . import _session

    _session.forget(run)
    if run._forked or os.getpid() != run._pid:
        return
    if run._context is not None:
        run._context.stop(exit_code)  # queues the last system row, output.log; restores the console and hooks
    state = "finished" if not exit_code else "failed"
    now = time.time()
    run._meta.update(
        state=state,
        exit_code=exit_code if exit_code is not None else 0,
        finished_at=now,
        runtime=now - run._start_time,
    )
    if reason:
        run._meta["exit_reason"] = reason
    meta = run._meta

    def final_write() -> None:
        merge_edits(run)  # edits made until now; later ones are merged by readers and the next writer
        write_summary_if_changed(run)
        meta["history_rows"] = run._rows_before + run._writer.rows_written
        meta["rows_dropped"] = run._writer.rows_dropped
        run._sink.write_config(run.config.to_document())
        run._sink.write_meta(dict(meta))

    timeout = run._settings.finish_timeout
    done = run._writer.close(final=final_write, timeout=timeout)
    run.config.close()
    if not done:
        warnings.warn(
            f"trackkit: finish() gave up after {timeout:g}s waiting for the store; "
            f"{run._writer.pending_rows} row(s) of run {run.id} may not be saved.",
            StorageWarning,
            stacklevel=3,  # the caller of Run.finish
        )
    if run._writer.rows_dropped:
        warnings.warn(
            f"trackkit: {run._writer.rows_dropped} row(s) of run {run.id} were dropped because the store "
            f"was unwritable for too long.",
            StorageWarning,
            stacklevel=3,
        )
    run._sink.close()
    run._written_out = True
    run.summary._on_edit = partial(summary_edited_after_finish, run)
    if not (quiet or run._settings.silent):
        print(
            f"trackkit: run {run.name} ({run.project}/{run.id}) {state}; "
            f"{run._writer.rows_written} rows. See it with: trackkit show {run.project}/{run.id}",
            file=sys.stderr,
        )
