"""The storage protocol: what ``Run`` and ``Api`` need from a store, and nothing more.

``LocalStore`` (files under ``./trackkit/``) is the default; ``MemoryStore`` (in
``trackkit.testing``) serves tests; a remote store (a tracking server) will be a third
implementation. ``Run`` only ever talks to a ``RunSink``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, TypedDict, runtime_checkable

__all__ = ["ResumeState", "RunRecord", "RunSink", "Store"]


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
