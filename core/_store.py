"""The storage protocol: what ``Run`` and ``Api`` need from a store, and nothing more.

``LocalStore`` (files under ``./trackkit/``) is the default; ``MemoryStore`` (in
``trackkit.testing``) serves tests; a remote store (a tracking server) will be a third
implementation. ``Run`` only ever talks to a ``RunSink``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, TypedDict, runtime_checkable

__all__ = ["CHECKPOINT_KEY", "REPLACES_KEY", "ResumeState", "RunRecord", "RunSink", "Store", "resolve_checkpoints"]

#: A history row written early because it sat pending for a flush interval carries this id...
CHECKPOINT_KEY = "_partial"
#: ...and the complete row written later says which checkpoint it supersedes.
REPLACES_KEY = "_replaces"


def resolve_checkpoints(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply the checkpoint rule to rows in written order.

    A row that waited for more values at its step (``log(..., step=s)``) is written as a checkpoint
    once it has been idle for a flush interval, so that ``kill -9`` cannot take it. Of the
    checkpoints with one id only the last counts, and none if the complete row replaced it.
    """
    replaced = {row[REPLACES_KEY] for row in rows if REPLACES_KEY in row}
    last = {row[CHECKPOINT_KEY]: index for index, row in enumerate(rows) if CHECKPOINT_KEY in row}
    if not replaced and not last:
        return rows
    resolved = []
    for index, row in enumerate(rows):
        checkpoint = row.get(CHECKPOINT_KEY)
        if checkpoint is not None and (checkpoint in replaced or last[checkpoint] != index):
            continue
        if checkpoint is not None or REPLACES_KEY in row:
            row = {k: v for k, v in row.items() if k != CHECKPOINT_KEY and k != REPLACES_KEY}
        resolved.append(row)
    return resolved


class RunRecord(TypedDict):
    """Everything a store keeps about a run but its history."""

    meta: dict[str, Any]
    config: dict[str, Any]
    summary: dict[str, Any]


class ResumeState(TypedDict):
    """What an existing run brings to ``init(resume=...)``."""

    record: RunRecord
    last_step: int | None
    history_rows: int


@runtime_checkable
class RunSink(Protocol):
    """One run open for writing. Methods may raise ``OSError``; the caller turns that into a warning."""

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace the run's metadata (name, state, tags ...)."""

    def write_config(self, document: dict[str, Any]) -> None:
        """Replace the config document (values, provenance, changes)."""

    def write_summary(self, document: dict[str, Any]) -> None:
        """Replace the summary document."""

    def append_history(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows; all or none of them become durable."""

    def heartbeat(self) -> None:
        """Say the writing process is alive."""

    def close(self) -> None:
        """Release the run (locks, handles)."""


@runtime_checkable
class Store(Protocol):
    """A place that holds runs: written through ``open_run``, read by ``Api``."""

    location: str

    def open_run(self, project: str, run_id: str, *, resume: str | None) -> tuple[RunSink, ResumeState | None]:
        """Open a run for writing; ``resume`` is ``None``, ``"allow"``, ``"must"`` or ``"never"``."""

    def projects(self) -> list[str]:
        """Names of the projects that hold runs."""

    def run_ids(self, project: str) -> list[str]:
        """Ids of the runs in a project."""

    def read_run(self, project: str, run_id: str) -> RunRecord:
        """Metadata, config and summary of a run; ``meta["state"]`` tells crashed runs apart."""

    def iter_history(self, project: str, run_id: str) -> Iterator[dict[str, Any]]:
        """Every history row in the order written."""

    def update_run(
        self,
        project: str,
        run_id: str,
        *,
        meta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Replace the given parts of a run's record (an API edit)."""

    def delete_run(self, project: str, run_id: str) -> None:
        """Remove a run and its history."""
