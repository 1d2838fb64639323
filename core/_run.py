"""``Run``: coordinates config, history, summary and the writer for one tracked run.

It owns no storage logic (that is the ``RunSink``) and no aggregation logic (``Summary``);
``log`` is the hot path and does no I/O. Here: construction and resume, identity, ``log`` and the
step bookkeeping, metric definitions. What the writer thread does each cycle and the edits after
``finish()`` are in ``_run_sync.py``; the finish path in ``_run_finish.py``.
"""

from __future__ import annotations

import operator
import os
import time
import warnings
from collections.abc import Mapping
from functools import partial
from typing import Any

from ._config import Config
from ._edits import EDITABLE_META
from ._errors import InvalidLogDataError, RunFinishedError, StorageWarning, UsageError
from ._run_finish import finish as finish_run
from ._run_sync import edit_after_finish, on_writer_cycle, persist_config
from ._settings import Settings
from ._store import CHECKPOINT_KEY, REPLACES_KEY, REWIND_KEY, ResumeState, RunSink, Store
from ._summary import MetricDefinition, Summary, parse_ops
from ._values import colliding_name, flatten, log_value
from ._writer import BackgroundWriter

__all__ = ["Run", "RunState"]

_PLAIN = frozenset((int, float, str, bool, type(None)))
#: Rows queued before the writer is woken ahead of its interval; from then on, every 128 rows, ``keep_pace``
#: wakes it again or, past its bound (``TRACKKIT_MAX_QUEUED_ROWS``), waits for it.
WAKE_WRITER_AT = 1024
RunState = str  # "running" | "finished" | "failed" | "crashed"


class Run:
    """A tracked run, as returned by ``trackkit.init()``.

    Example:
        >>> with trackkit.init(project="demo", config={"lr": 0.1}) as run:
        ...     for epoch in range(3):
        ...         run.log({"loss": 1.0 / (epoch + 1)})
    """

    def __init__(
        self,
        *,
        sink: RunSink,
        meta: dict[str, Any],
        settings: Settings,
        run_dir: str | None,
        resume_state: ResumeState | None = None,
        strict_config: bool = False,
        store: Store | None = None,
        resume_from_step: int | None = None,
    ) -> None:
        self._sink = sink
        #: The store the run writes to (None when disabled): ``init(store=run.store, id=run.id, resume="allow")``.
        self.store = store
        self._settings = settings
        self._meta = meta
        self._pid = os.getpid()
        #: Random per process (``init``): with a sequence number it names this writer's rows, so processes
        #: that write one run in turn (a resume after ``kill -9``) never reuse each other's row ids.
        self.writer_id = str(meta.get("writer_id") or os.urandom(8).hex())
        self._start_time = time.time()
        self._pending: dict[str, Any] | None = None
        self._pending_step = 0
        self._pending_touched = 0.0  # monotonic time of the last change to a row left pending
        self._checkpointed_touch = -1.0
        self._checkpoints = 0
        self._next_step = 0
        self._closed = False
        self._written_out = False  # finish() has written the run and released it
        self._forked = False
        self._sync_steps = False
        self._rows_before = 0
        self._config_warned = False
        self._dir = run_dir
        self.resumed = resume_state is not None
        self.summary = Summary()
        self.config = Config(strict=strict_config, on_change=partial(persist_config, self), step=lambda: self.step)
        if resume_state is not None:
            self._resume(resume_state, resume_from_step)
        elif resume_from_step is not None:
            self._next_step = resume_from_step + 1
        self._summary_version_written = -1
        self._edits_cursor = self.summary._edits_applied  # the resumed record comes with every edit merged
        self._writer = BackgroundWriter(
            sink,
            name=self.id,
            interval=getattr(sink, "flush_interval", None) or settings.flush_interval,  # a remote store's sender asks sooner
            max_buffered_rows=settings.max_buffered_rows,
            max_queued_rows=settings.max_queued_rows,
            heartbeat_interval=min(5.0, settings.heartbeat_timeout / 3),
            on_cycle=partial(on_writer_cycle, self),
        )
        self._queue = self._writer.queue
        self._context: Any = None  # the run context (_context.RunContext): system metrics, console, exit hooks

    def _resume(self, state: ResumeState, rewind_to: int | None) -> None:
        """Continue a run: its config, its metric definitions, its summary rebuilt from its history
        (aggregates included), its runtime and its step. With ``rewind_to`` (``resume_from_step``),
        first write the rewind marker that supersedes the rows after that step (``resolve_history``)."""
        record = state["record"]
        given = state.get("rows")
        rows = given if given is not None else []
        self.config.load_document(record["config"])
        for definition in record["meta"].get("metrics", []):
            self._define(definition["name"], definition.get("summary"), definition.get("step_metric"), True)
        runtimes = [row["_runtime"] for row in rows[-1000:] if isinstance(row.get("_runtime"), (int, float))]
        self._start_time -= max([float(record["meta"].get("runtime") or 0.0), *runtimes])
        last_step = state["last_step"]
        if rewind_to is not None:
            marker = {REWIND_KEY: rewind_to, "_writer": self.writer_id, "_timestamp": time.time()}
            self._sink.append_history([marker])  # durable before any row of this process
            rows = [row for row in rows if not (isinstance(row.get("_step"), int) and row["_step"] > rewind_to)]
            last_step = rewind_to
            rewinds = list(record["meta"].get("rewinds") or [])
            rewinds.append({"step": rewind_to, "time": marker["_timestamp"], "writer_id": self.writer_id})
            self._meta["rewinds"] = rewinds
            self._sink.write_meta(dict(self._meta))
        self.summary.load_document(record["summary"], history=rows if given is not None else None)
        self._next_step = 0 if last_step is None else last_step + 1
        self._rows_before = len(rows) if given is not None else state["history_rows"]

    # -- identity ------------------------------------------------------------------------------
    @property
    def dir(self) -> str | None:
        """The run's folder on this machine: its directory in a local store (or in the local spool of
        a tracking-server store); ``None`` for a store that keeps no files here (``memory://``).
        Put files into a run with ``run.save`` (any store), not by writing into this folder."""
        return self._dir

    @property
    def id(self) -> str:
        """The run id (unique within its project)."""
        return str(self._meta["id"])

    @property
    def name(self) -> str:
        """The display name, generated when not given."""
        return str(self._meta["name"])

    @name.setter
    def name(self, value: str) -> None:
        self._update_meta(name=str(value))

    @property
    def project(self) -> str:
        return str(self._meta["project"])

    @property
    def entity(self) -> str:
        """Locally, the OS user name."""
        return str(self._meta["entity"])

    @property
    def path(self) -> str:
        """``entity/project/id``, as ``trackkit.Api().run()`` takes it."""
        return f"{self.entity}/{self.project}/{self.id}"

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._meta.get("tags") or ())

    @tags.setter
    def tags(self, value: Any) -> None:
        self._update_meta(tags=[str(tag) for tag in value])

    @property
    def notes(self) -> str | None:
        return self._meta.get("notes")

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._update_meta(notes=value)

    @property
    def group(self) -> str | None:
        return self._meta.get("group")

    @property
    def job_type(self) -> str | None:
        return self._meta.get("job_type")

    @property
    def state(self) -> RunState:
        """``running``, ``finished`` or ``failed``."""
        return str(self._meta["state"])

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step=`` will write to."""
        return self._pending_step if self._pending is not None else self._next_step

    @property
    def mode(self) -> str:
        return str(self._meta.get("mode", "local"))

    def __repr__(self) -> str:
        return f"<trackkit.Run {self.project}/{self.id} name={self.name!r} state={self.state}>"

    # -- logging -------------------------------------------------------------------------------
    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
        """Log a dict of metrics to the run's history.

        Without ``step``, each call writes one row and advances the step; with ``step``, calls
        for the same step merge into one row, written when another step arrives, on
        ``commit=True`` or at finish. Steps may go backwards or repeat, and a value logged again
        for a key of the pending row starts a new row: every value is kept, none overwritten.
        Nested dicts are flattened with ``/``. Never blocks on I/O.
        """
        if self._closed and self._refuse_write("log"):
            return
        if type(data) is not dict:
            data = self._as_mapping(data)
        values: dict[str, Any] = {}
        nested = None  # with nested dicts: values they put minus the dicts (to tell when two names met)
        try:
            for key, value in data.items():
                if type(key) is str and type(value) in _PLAIN:
                    values[key] = value
                elif isinstance(value, Mapping) and type(key) is str:
                    nested = (nested or 0) + flatten(dict(value), key + "/", values) - 1
                elif type(key) is not str:
                    raise InvalidLogDataError(f"run.log() keys must be strings; got {key!r} ({type(key).__name__}).")
                else:
                    values[key] = log_value(key, value)
        except RecursionError:
            raise InvalidLogDataError(
                "run.log() got data nested too deeply (or a dict or list that contains itself); "
                "log a flat dict of metrics."
            ) from None
        if nested is not None and len(values) != len(data) + nested:  # a payload is stored exactly, or not at all
            name = colliding_name({k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()})
            raise InvalidLogDataError(
                f"run.log() got two values for {name!r} (a key with '/' and a nested dict name the same metric); "
                f"log each metric once."
            )
        pending = self._pending
        if step is not None:
            if type(step) is not int or step < 0:
                step = self._check_step(step)
            if pending is not None and (step != self._pending_step or self._conflicts(pending, values)):
                self._commit()
                pending = None
            if pending is None:
                self._pending = values
                self._pending_step = step
            else:
                pending.update(values)
            if commit:
                self._commit()
            else:
                self._pending_touched = time.monotonic()
        else:
            if pending is not None and self._conflicts(pending, values):
                self._commit()
                pending = None
            if pending is None:
                self._pending = values
                self._pending_step = self._next_step
            else:
                pending.update(values)
            if commit is not False:
                self._commit()
            else:
                self._pending_touched = time.monotonic()

    @staticmethod
    def _conflicts(pending: dict[str, Any], values: dict[str, Any]) -> bool:
        """A key already in the pending row with another value: it starts a new row, so nothing is overwritten."""
        for key in values.keys() & pending.keys():
            old, new = pending[key], values[key]
            if old != new and (old == old or new == new):  # NaN twice is the same value
                return True
        return False

    def _commit(self) -> None:
        row = self._pending
        if row is None:
            return
        self._pending = None
        step = self._pending_step
        if CHECKPOINT_KEY in row:  # the writer saved this row early: the complete row replaces that copy
            row[REPLACES_KEY] = row.pop(CHECKPOINT_KEY)
        elif not row:  # log({}, commit=True): nothing to write, the step still advances (as in W&B)
            if step >= self._next_step:
                self._next_step = step + 1
            return
        now = time.time()
        row["_step"] = step
        row["_timestamp"] = now
        row["_runtime"] = now - self._start_time
        if step >= self._next_step:
            self._next_step = step + 1
        if self._sync_steps:
            self._sync_step_metrics(row)
        self.summary.observe(row)
        queue = self._queue
        queue.append(row)
        queued = len(queue)
        if queued >= WAKE_WRITER_AT and not queued & 127:  # a fast loop: write while it runs; memory stays flat
            self._writer.keep_pace()

    def _sync_step_metrics(self, row: dict[str, Any]) -> None:
        last = self.summary._last
        for key in list(row):
            definition = self.summary._definition_for(key)
            step_metric = definition.step_metric if definition is not None else None
            if step_metric and step_metric not in row and step_metric in last:
                row[step_metric] = last[step_metric]

    @staticmethod
    def _as_mapping(data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping):
            return dict(data)
        raise InvalidLogDataError(
            f"run.log() takes a dict of metric names to values, like run.log({{'loss': 0.25}}); "
            f"got {type(data).__name__}."
        )

    @staticmethod
    def _check_step(step: Any) -> int:
        if isinstance(step, bool):
            raise InvalidLogDataError(f"run.log(step=...) must be an int; got {step!r}.")
        try:
            value = operator.index(step)  # int subclasses, numpy integers
        except TypeError:
            raise InvalidLogDataError(
                f"run.log(step=...) must be an int; got {step!r} ({type(step).__name__})."
            ) from None
        if value < 0:
            raise UsageError(f"run.log(step=...) must not be negative; got {value}.")
        return value

    def _refuse_write(self, what: str) -> bool:
        """True (skip quietly) in a forked child; raise after finish."""
        if self._forked:
            if not self._config_warned:
                self._config_warned = True
                warnings.warn(
                    f"trackkit: {what}() called in a forked child process (pid {os.getpid()}); only the process "
                    f"that called trackkit.init() writes the run, so this call is ignored.",
                    StorageWarning,
                    stacklevel=3,
                )
            return True
        raise RunFinishedError(
            f"run {self.project}/{self.id} has finished; call trackkit.init() to start a new run, "
            f"or trackkit.init(id={self.id!r}, resume='allow') to continue this one."
        )

    # -- metrics -------------------------------------------------------------------------------
    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        *,
        summary: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> MetricDefinition:
        """Declare how a metric is summarised (``summary="min"``, ``"max"``, ``"mean"``, ``"first"``,
        ``"last"`` or ``"none"``, comma-separated for several) and plotted (``step_metric=``).

        ``name`` may end with ``*`` to match a prefix (``"val/*"``). With ``step_metric``, a row
        that has the metric but not the step metric gets the step metric's last value.
        """
        if not isinstance(name, str) or not name:
            raise UsageError(f"define_metric() needs a metric name; got {name!r}.")
        if "*" in name[:-1]:
            raise UsageError(f"define_metric({name!r}): '*' is allowed only at the end of the name.")
        if goal is not None and goal not in ("minimize", "maximize"):
            raise UsageError(f"define_metric(goal=...) must be 'minimize' or 'maximize'; got {goal!r}.")
        if summary is None and goal is not None:
            summary = "min" if goal == "minimize" else "max"
        definition = self._define(name, summary, step_metric, step_sync is not False)
        self._update_meta(metrics=[d.to_dict() for d in self.summary.definitions])
        return definition

    def _define(self, name: str, summary: Any, step_metric: str | None, step_sync: bool) -> MetricDefinition:
        if step_metric is not None and not isinstance(step_metric, str):
            raise UsageError(f"define_metric(step_metric=...) must be a metric name; got {step_metric!r}.")
        definition = MetricDefinition(name, parse_ops(summary), step_metric if step_sync else None)
        self.summary.define(definition)
        self._sync_steps = any(d.step_metric for d in self.summary.definitions)
        return definition

    # -- persistence (the writer's cycle and the edits are in _run_sync.py) -----------------------
    def _update_meta(self, **changes: Any) -> None:
        if self._written_out:  # after finish(): name, tags and notes become store edits
            if not set(changes) <= set(EDITABLE_META):
                self._refuse_write("a change of the run's metadata")
            self._meta.update(changes)
            edit_after_finish(self, meta=changes)
            return
        self._meta.update(changes)
        snapshot = dict(self._meta)
        self._writer.submit(lambda: self._sink.write_meta(snapshot))

    # -- lifecycle -----------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every committed row is on disk; False if ``timeout`` ran out."""
        return self._writer.flush(timeout)

    def finish(self, exit_code: int | None = None, quiet: bool | None = None, *, reason: str | None = None) -> None:
        """Write everything and close the run: ``finished``, or ``failed`` for a non-zero ``exit_code``.

        Idempotent, and bounded: if the store stalls, it gives up after ``finish_timeout``
        seconds (``TRACKKIT_FINISH_TIMEOUT``, default 10) with a warning.
        """
        finish_run(self, exit_code, quiet, reason=reason)

    def save(self, path: str | os.PathLike[str], name: str | None = None) -> list[str]:
        """Put a file into the run, as W&B's ``run.save``: a path or a glob (``"*.ckpt"``), stored under
        its base name or ``name``; copied by the writer thread (within a second), so it never blocks.
        Returns the stored names; read them back with ``Api().run(...).files()``."""
        from ._context import save_file

        return save_file(self, path, name)

    def _mark_forked(self) -> None:
        """In a forked child: ignore writes, and let go of the child's copy of the run's lock, so a
        worker that outlives a killed parent does not keep the run looking alive."""
        self._forked = True
        self._closed = True
        try:
            self._sink.close()
        except Exception:  # pragma: no cover - best effort in a child
            pass

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, SystemExit):  # sys.exit(0) is a success, sys.exit(2) a failure
            code = exc.code
            exit_code = 0 if code is None or code == 0 else code if isinstance(code, int) else 1
            self.finish(exit_code=exit_code, reason=f"sys.exit({code!r})" if exit_code else None)
        else:
            self.finish(exit_code=1, reason=f"{exc_type.__name__}: {exc}")
