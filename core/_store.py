"""The storage protocol: what ``Run`` and ``Api`` need from a store, and nothing more.

``LocalStore`` (files under ``./trackkit-runs/``) is the default; ``MemoryStore`` (in
``trackkit.testing``) serves tests; a remote store (a tracking server) will be a third
implementation. ``Run`` only ever talks to a ``RunSink``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, TypedDict, runtime_checkable

if TYPE_CHECKING:  # typing.NotRequired is Python 3.11+; annotations here are never evaluated
    from typing import NotRequired

__all__ = [
    "CHECKPOINT_KEY",
    "REPLACES_KEY",
    "REWIND_KEY",
    "SUPERSEDED_KEY",
    "FileInfo",
    "FileSource",
    "KeyInfo",
    "ProjectInfo",
    "QueryStore",
    "ResumeState",
    "RunDocument",
    "RunPage",
    "RunRecord",
    "RunSink",
    "SampledSeries",
    "Store",
    "resolve_checkpoints",
    "resolve_history",
]

#: A history row written early because it sat pending for a flush interval carries this id
#: (``"<writer id>-<n>"``: the writing process's random id and its own counter, so ids of the
#: processes that write one run in turn never collide; old stores hold plain integers)...
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


#: A rewind marker (``init(..., resume_from_step=N)``) is a history line of its own, see ``resolve_history``.
REWIND_KEY = "_rewind"
#: ``resolve_history(..., include_superseded=True)`` flags the rows a rewind superseded with this key.
SUPERSEDED_KEY = "_superseded"


def resolve_history(rows: list[dict[str, Any]], include_superseded: bool = False) -> list[dict[str, Any]]:
    """The history as readers see it: the checkpoint rule, then the rewind rule. Every store and
    index that reads history (local, memory, PostgreSQL, the sampling index) applies this rule.

    Marker format: ``init(..., resume_from_step=N)`` appends one line before the rows of the resumed
    process, ``{"_rewind": N, "_writer": "<writer id>", "_timestamp": <epoch seconds>}`` (no ``_step``:
    it is not a row). Rule: a row written *before* a marker, whose ``_step`` is greater than the
    marker's ``N``, is superseded; rows written after the marker are not affected by it. Superseded
    rows stay on disk: by default they are left out (of ``scan_history``, sampling and the summary);
    with ``include_superseded=True`` they are returned in written order, flagged ``"_superseded": True``.
    Markers themselves are never returned.
    """
    rows = resolve_checkpoints(rows)
    if not any(REWIND_KEY in row for row in rows):
        return rows
    kept: list[dict[str, Any]] = []
    floor: float = float("inf")  # the lowest rewind step written after the current row
    for row in reversed(rows):
        if REWIND_KEY in row:
            step = row[REWIND_KEY]
            if isinstance(step, int) and step < floor:
                floor = step
            continue
        step = row.get("_step")
        if isinstance(step, int) and step > floor:
            if include_superseded:
                kept.append({**row, SUPERSEDED_KEY: True})
            continue
        kept.append(row)
    kept.reverse()
    return kept


class RunRecord(TypedDict):
    """Everything a store keeps about a run but its history."""

    meta: dict[str, Any]
    config: dict[str, Any]
    summary: dict[str, Any]


class ResumeState(TypedDict):
    """What an existing run brings to ``init(resume=...)``: its record,
    and its history as ``resolve_history`` gives it (``rows``, in written order), from which the
    resumed run rebuilds its summary (last values, min/max/mean ...) and its step."""

    record: RunRecord
    last_step: int | None
    history_rows: int
    rows: NotRequired[list[dict[str, Any]]]  # without them, last values come from the summary document


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
        """Append rows; all or none of them become durable, and it raises only when none did
        (the writer retries a batch that raised, so raising after a write would duplicate rows)."""

    def heartbeat(self) -> None:
        """Say the writing process is alive."""

    def close(self) -> None:
        """Release the run (locks, handles)."""

    def read_edits(self, cursor: int) -> tuple[list[dict[str, Any]], int]:
        """Edits of the run (``Store.edit_run``) made after ``cursor`` (0: from the first), in order,
        and the cursor after them. The writer merges them each cycle (``trackkit._edits``)."""

    def append_system(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append system-metrics rows (each keyed by ``_timestamp``), a stream apart from the history."""

    def put_file(self, name: str, source: FileSource) -> FileInfo:
        """Store (or replace) a run file (``"checkpoints/last.ckpt"``), streamed from ``source``."""


@runtime_checkable
class QueryStore(Protocol):
    """The read side every consumer stands on (its records are defined below, in "Store v2");
    every ``Store`` provides it."""

    def project_infos(self) -> list[ProjectInfo]:
        """Every project with its run count, running runs and last activity, by name."""

    def query_runs(
        self,
        project: str | None,
        filters: dict[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
    ) -> RunPage:
        """Runs matching Mongo-style ``filters`` (``trackkit._filters``), sorted by ``order``
        (``"-summary.acc"``; several keys allowed; ties by ``created_at`` then id; missing and NaN
        last in both directions), paged by ``limit``/``offset``. ``fields`` (``["config.lr",
        "summary.loss"]``) projects config and summary to those keys; run fields always come.
        ``project=None`` means every project."""

    def history_keys(self, project: str, run_id: str) -> dict[str, KeyInfo]:
        """Every key of the run's history as readers see it (``resolve_history``: a replaced
        checkpoint or a superseded row does not count), ``_step``, ``_timestamp``, ``_runtime`` and
        the markers left out. Kept at write time: never a scan of the history."""

    def scan_history(
        self,
        project: str,
        run_id: str,
        keys: Sequence[str] | None = None,
        min_step: int | None = None,
        max_step: int | None = None,
        include_superseded: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every row in written order, unsampled (``resolve_history``; superseded rows only with
        ``include_superseded``, flagged ``_superseded``). With ``keys``, rows holding any of them, cut
        to those keys plus ``_step``, ``_timestamp`` and ``_runtime``. Steps in ``[min_step, max_step]``."""

    def sample_history(
        self,
        project: str,
        run_id: str,
        keys: Sequence[str],
        x: str = "_step",
        samples: int = 1000,
        start: float | None = None,
        stop: float | None = None,
        include_superseded: bool = False,
    ) -> dict[str, SampledSeries]:
        """Min/max buckets of each numeric key along ``x`` (``_step``, ``_timestamp``, ``_runtime``
        or a logged metric: a row without it takes the last seen value; rows before the first are
        skipped), equal-width over ``[start, stop]`` (default: the run's smallest and largest ``x``).
        Keys never logged are left out of the result; non-numeric values are skipped; a bad argument
        is a ``UsageError``. ``trackkit._sampling.sample_rows`` over the rows is the reference: every
        store returns exactly what it returns, except for wide buckets (the key has at least 16,384
        points in range and a bucket averages at least two blocks of 32 points) on the local and
        PostgreSQL stores: there a block of points across a bucket edge lands whole in the bucket of
        its first point (a point at most in the bucket next to its own, counts still adding up, no value lost; see
        ``trackkit._block_sampling``). Narrower buckets (a zoom, a short run) are exact."""

    def scan_system(self, project: str, run_id: str) -> Iterator[dict[str, Any]]:
        """The run's system-metrics rows (each with ``_timestamp``), in written order."""

    def sample_system(
        self,
        project: str,
        run_id: str,
        keys: Sequence[str] | None = None,
        samples: int = 1000,
        start: float | None = None,
        stop: float | None = None,
    ) -> dict[str, SampledSeries]:
        """System metrics bucketed along ``_timestamp`` like ``sample_history`` (every key when
        ``keys`` is None)."""

    def list_files(self, project: str, run_id: str) -> list[FileInfo]:
        """The run's files, by name (``RunNotFoundError`` when there is no such run)."""

    def open_file(self, project: str, run_id: str, name: str) -> IO[bytes]:
        """A run file for reading (binary); ``RunNotFoundError`` names what is missing."""

    def put_file(self, project: str, run_id: str, name: str, source: FileSource) -> FileInfo:
        """Store (or replace, atomically) a run file, streamed from ``source``; a name that is
        absolute or holds ``..`` is a ``UsageError`` (``trackkit._run_files.check_file_name``)."""


@runtime_checkable
class Store(QueryStore, Protocol):
    """A place that holds runs: written through ``open_run``, read through the query side (``QueryStore``)."""

    location: str

    def open_run(self, project: str, run_id: str, *, resume: str | None) -> tuple[RunSink, ResumeState | None]:
        """Open a run for writing; ``resume`` is ``None``, ``"allow"``, ``"must"`` or ``"never"``."""

    def projects(self) -> list[str]:
        """Names of the projects that hold runs."""

    def run_ids(self, project: str) -> list[str]:
        """Ids of the runs in a project."""

    def next_run_number(self, project: str) -> int:
        """The number of the next generated run name in a project (1, 2, ...), from a counter the
        store keeps, so that ``init`` takes the same time in a project of 10 or 10,000 runs."""

    def read_run(self, project: str, run_id: str) -> RunRecord:
        """Metadata, config and summary of a run; ``meta["state"]`` tells crashed runs apart."""

    def iter_history(self, project: str, run_id: str, *, include_superseded: bool = False) -> Iterator[dict[str, Any]]:
        """Every history row in the order written (``resolve_history``: rows a rewind superseded only
        with ``include_superseded``)."""

    def update_run(
        self,
        project: str,
        run_id: str,
        *,
        meta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Replace the given parts of a run's record whole (repairs: ``trackkit doctor``); edits use ``edit_run``."""

    def edit_run(
        self,
        project: str,
        run_id: str,
        *,
        meta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Merge an edit into a run, live or not: only the keys given change. ``meta`` takes run fields
        (``name``, ``tags``, ``notes``, ``group``, ``job_type``; never the state), ``config`` dotted keys
        (``{"optim.lr": 0.1}``), ``summary`` summary keys; ``trackkit._edits.DELETE`` as a value removes
        the key. Config changes are recorded with source ``api``; summary values become explicit. A
        live writer merges the edit within a flush interval, and readers see it at once."""

    def delete_run(self, project: str, run_id: str) -> None:
        """Remove a run and its history."""


# -- Store v2: the query side ------------------------------------------------------------------
# What every reader (Api, CLI, doctor, the tracking server, the web UI) asks of a store. Each store
# (local, memory, PostgreSQL, HTTP) answers it without reading whole histories: the records below
# are the shapes on the wire too (the server's JSON API returns them as they are, with non-finite
# floats as the strings "NaN", "Infinity", "-Infinity").

#: What ``put_file`` takes: a path on disk, the bytes themselves, or a binary file object.
FileSource = str | bytes | IO[bytes]


class RunDocument(TypedDict, total=False):
    """One run as ``query_runs`` returns it, and as filters and ``order`` address it
    (``config.optim.lr``, ``summary.val_loss``, ``state``, ``tags`` ...)."""

    id: str
    name: str
    project: str
    entity: str
    state: str  # running | finished | failed | crashed (liveness already judged)
    tags: list[str]
    notes: str | None
    group: str | None
    job_type: str | None
    created_at: float | None  # epoch seconds
    updated_at: float | None  # last activity (last row, heartbeat or finish), epoch seconds
    runtime: float | None  # seconds
    exit_code: int | None
    exit_reason: str | None
    config: dict[str, Any]  # the values tree (only the ``fields`` asked for, when given)
    summary: dict[str, Any]  # summary values (only the ``fields`` asked for, when given)


class RunPage(TypedDict):
    """A page of ``query_runs``: the runs in order, and how many matched in all."""

    runs: list[RunDocument]
    total: int


class ProjectInfo(TypedDict):
    """A project as the projects list shows it."""

    name: str
    run_count: int
    running: int  # runs whose state is "running" (live)
    last_activity: float | None  # epoch seconds of the newest run activity


class KeyInfo(TypedDict):
    """One key of a run's history, kept up to date at write time (never a scan)."""

    count: int  # rows that hold the key
    first_step: int | None
    last_step: int | None
    type: Literal["number", "string", "other"]  # "number" once any numeric value was logged


class SampledSeries(TypedDict):
    """One key's series cut into at most ``samples`` equal-width buckets along ``x``.

    Columns of equal length, one entry per non-empty bucket, in ``x`` order: ``x`` is the x value
    of the bucket's first point; ``first``/``last``/``min``/``max`` leave NaN out (``None`` when the
    bucket holds only NaN); ``count`` counts every point of the bucket (NaN included, so the counts
    add up to ``total``) and ``nan`` how many of them are NaN. A bucket with one point is exact.
    ``total`` is the key's point count in ``[start, stop]`` (so a chart can say "1,000 of 1,000,000
    points"); ``start``/``stop`` are the range that was cut (the run's first and last ``x`` unless
    given), so series sampled with one range for several runs have aligned buckets.
    """

    key: str
    x_key: str
    start: float | None
    stop: float | None
    total: int
    x: list[float]
    first: list[float | None]
    last: list[float | None]
    min: list[float | None]
    max: list[float | None]
    count: list[int]
    nan: list[int]


class FileInfo(TypedDict):
    """A file a run owns (a checkpoint, the git diff, ``output.log`` ...)."""

    name: str  # relative, "/"-separated, never absolute and never containing ".."
    size: int
    updated_at: float  # epoch seconds
