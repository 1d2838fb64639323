"""The public API: read, query and edit runs in a store, as W&B users do with ``wandb.Api()``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

from ._errors import RunNotFoundError, UsageError
from ._filters import check_filters, parse_order
from ._store import KeyInfo, RunDocument, RunRecord, SampledSeries, Store

__all__ = ["Api", "ApiRun", "Project", "Runs"]


class Project:
    """A project in the store."""

    def __init__(self, name: str, entity: str, run_count: int, running: int = 0, last_activity: float | None = None) -> None:
        self.name = name
        self.entity = entity
        self.run_count = run_count
        #: Runs a live process is writing now.
        self.running = running
        #: Epoch seconds of the newest activity (a row, a heartbeat, a finish), or None.
        self.last_activity = last_activity

    def __repr__(self) -> str:
        return f"<Project {self.name} ({self.run_count} runs)>"


class ApiRun:
    """A run read from the store. Edit ``config``, ``summary``, ``tags``, ``notes`` or ``name``,
    then call ``update()`` to save the edits.

    ``Api().runs(...)`` builds runs from the documents of its query; metadata, provenance and
    config changes are read from the store the first time they are asked for."""

    def __init__(self, store: Store, project: str, run_id: str, *, document: RunDocument | None = None) -> None:
        self._store = store
        self.project = project
        self.id = run_id
        if document is None:
            self.load()
        else:
            self._record: RunRecord | None = None
            self._set_document(document)

    def load(self) -> ApiRun:
        """(Re)read the run from the store."""
        from ._query import run_document

        record = self._store.read_run(self.project, self.id)
        self._record = record
        self._set_document(run_document(record, self.project, self.id))
        return self

    def _set_document(self, document: RunDocument) -> None:
        self._document = document
        self.name: str = document.get("name") or self.id
        self.entity: str = document.get("entity") or "local"
        self.state: str = document.get("state") or "running"
        self.tags: list[str] = list(document.get("tags") or [])
        self.notes: str | None = document.get("notes")
        self.group: str | None = document.get("group")
        self.job_type: str | None = document.get("job_type")
        self.config: dict[str, Any] = _deep_copy(document.get("config") or {})
        self.summary: dict[str, Any] = _deep_copy(document.get("summary") or {})
        self._loaded_config = _deep_copy(self.config)
        self._loaded_summary = _deep_copy(self.summary)

    def _full_record(self) -> RunRecord:
        """The run's record (metadata, config and summary documents), read once."""
        if self._record is None:
            self._record = self._store.read_run(self.project, self.id)
        return self._record

    @property
    def _meta(self) -> dict[str, Any]:
        return self._full_record()["meta"]

    @property
    def _config_document(self) -> dict[str, Any]:
        return self._full_record()["config"]

    def __repr__(self) -> str:
        return f"<ApiRun {self.project}/{self.id} name={self.name!r} state={self.state}>"

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"

    @property
    def created_at(self) -> str:
        """Creation time, ISO 8601 in UTC."""
        return _iso(self._document.get("created_at"))

    @property
    def metadata(self) -> dict[str, Any]:
        """Everything the store knows about the run besides config, summary and history."""
        return dict(self._meta)

    @property
    def provenance(self) -> dict[str, str]:
        """Where each config leaf came from, by dotted name."""
        return dict(self._config_document.get("provenance") or {})

    @property
    def config_changes(self) -> list[dict[str, Any]]:
        """Every recorded change of a config value (key, old, new, time, step, source)."""
        return list(self._config_document.get("changes") or [])

    def document(self) -> dict[str, Any]:
        """The run as a filterable document (``config.*``, ``summary.*``, ``state`` ...)."""
        return {
            "id": self.id,
            "name": self.name,
            "project": self.project,
            "entity": self.entity,
            "state": self.state,
            "tags": self.tags,
            "notes": self.notes,
            "group": self.group,
            "job_type": self.job_type,
            "created_at": self._document.get("created_at"),
            "runtime": self._document.get("runtime"),
            "config": self.config,
            "summary": self.summary,
        }

    # -- history ---------------------------------------------------------------------------------
    def scan_history(
        self,
        keys: Sequence[str] | None = None,
        page_size: int = 1000,
        min_step: int | None = None,
        max_step: int | None = None,
        *,
        include_superseded: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every history row in order, unsampled (W&B's ``scan_history``; ``page_size`` is accepted
        for compatibility). With ``keys``, only rows holding all of them, reduced to those keys and
        ``_step``; ``min_step``/``max_step`` keep the steps in that range (both ends included). Rows a
        rewind (``init(resume_from_step=N)``) superseded are left out unless ``include_superseded=True``;
        then they come flagged ``"_superseded": True``."""
        if keys is not None and (isinstance(keys, str) or not isinstance(keys, Sequence)):
            raise UsageError(f"scan_history(keys=...) takes a list of metric names; got {keys!r}.")
        rows = self._store.scan_history(self.project, self.id, keys=None if keys is None else list(keys),
                                        min_step=min_step, max_step=max_step, include_superseded=include_superseded)
        if keys is None:
            return rows  # no per-row generator step on the common path
        return _select(rows, list(keys))

    def history_keys(self) -> dict[str, KeyInfo]:
        """Every metric the run logged, with its count, first and last step and type (``number``,
        ``string`` or ``other``); kept by the store as rows are written, so this reads no history."""
        return self._store.history_keys(self.project, self.id)

    def keys(self) -> list[str]:
        """The names of the logged metrics, sorted."""
        return sorted(self.history_keys())

    def history(
        self, keys: Sequence[str] | None = None, samples: int | None = None, pandas: bool = True, x_axis: str = "_step"
    ) -> Any:
        """History rows; a pandas DataFrame when pandas is installed (and ``pandas=True``), else a list of dicts.

        Without ``samples``, every row (as ``scan_history``). With ``samples=N``, the numeric
        metrics (``keys``, default all) cut into at most ``N`` equal-width buckets along ``x_axis``
        (``_step``, ``_timestamp``, ``_runtime`` or a metric), one row per bucket: the ``x_axis``
        value of the bucket's first point, each key's last value under its own name, and
        ``<key>/min`` and ``<key>/max``, so no spike between two rows is lost. Strings are left out
        of sampled history (``scan_history`` has them)."""
        if keys is not None and (isinstance(keys, str) or not isinstance(keys, Sequence)):
            raise UsageError(f"history(keys=...) takes a list of metric names; got {keys!r}.")
        if samples is None:
            rows = list(self.scan_history(keys))
        else:
            if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
                raise UsageError(f"history(samples=...) must be a positive int; got {samples!r}.")
            if keys is None:
                keys = sorted(k for k, info in self.history_keys().items() if info["type"] == "number")
            wanted = [k for k in keys if k != x_axis and k not in _AXES]
            series = self._store.sample_history(self.project, self.id, wanted, x=x_axis, samples=samples) if wanted else {}
            rows = bucket_rows(series, x_axis, samples)
        if pandas:
            try:
                import pandas as pd  # type: ignore[import-untyped]
            except ImportError:
                return rows
            return pd.DataFrame.from_records(rows)
        return rows

    # -- editing ---------------------------------------------------------------------------------
    def update(self) -> None:
        """Save what was edited since the run was loaded: ``tags``, ``notes``, ``name``, ``group``,
        ``job_type``, config keys and summary keys. Only the changes are sent, and the store merges
        them into the run as it is now, never its state: a run that finished meanwhile stays finished,
        and a run still training keeps the edits when it writes again. Config changes are recorded
        with source ``api``; edited summary values are kept over logged ones."""
        from ._config import same_value as _same
        from ._edits import DELETE

        meta: dict[str, Any] = {}
        for field, value in (("name", self.name), ("tags", list(self.tags)), ("notes", self.notes),
                             ("group", self.group), ("job_type", self.job_type)):
            loaded: Any = self._document.get(field, self.id if field == "name" else None)
            if field == "tags":
                loaded = list(loaded or [])
            if not _same(loaded, value):
                meta[field] = value
        config: dict[str, Any] = {".".join(path): DELETE for path in _removed_paths(self._loaded_config, self.config, ())}
        config.update(_changed_paths(self._loaded_config, self.config, ()))
        summary: dict[str, Any] = {key: DELETE for key in self._loaded_summary if key not in self.summary}
        summary.update({key: value for key, value in self.summary.items()
                        if key not in self._loaded_summary or not _same(self._loaded_summary[key], value)})
        if meta or config or summary:
            self._store.edit_run(self.project, self.id, meta=meta or None, config=config or None, summary=summary or None)
        self.load()

    def delete(self) -> None:
        """Delete the run and its history from the store."""
        self._store.delete_run(self.project, self.id)

    # -- run context: system metrics and files (core/_api_context.py) ----------------------------
    def system_metrics(self, keys: Sequence[str] | None = None, samples: int | None = None, pandas: bool = True) -> Any:
        """The system stream (CPU, memory, disk, network, GPUs; keys in ``trackkit._system_metrics``),
        one row per sample keyed by ``_timestamp``; with ``samples``, cut into that many time buckets.
        A pandas DataFrame when pandas is installed (and ``pandas=True``), else a list of dicts."""
        from ._api_context import system_metrics

        return system_metrics(self._store, self.project, self.id, keys, samples, pandas)

    def files(self) -> list[Any]:
        """The run's files (``output.log``, ``diff.patch``, ``requirements.txt``, ``run.save`` files), by name."""
        from ._api_context import list_run_files

        return list_run_files(self._store, self.project, self.id)

    def file(self, name: str) -> Any:
        """One file of the run: ``run.file("output.log").download(root=".")``."""
        from ._api_context import run_file

        return run_file(self._store, self.project, self.id, name)


def _removed_paths(before: Mapping[str, Any], after: Mapping[str, Any], prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Paths present in ``before`` and deleted from the edited ``after``."""
    removed: list[tuple[str, ...]] = []
    for key, value in before.items():
        if key not in after:
            removed.append(prefix + (key,))
        elif isinstance(value, dict) and isinstance(after[key], dict):
            removed.extend(_removed_paths(value, after[key], prefix + (key,)))
    return removed


def _changed_paths(before: Mapping[str, Any], after: Mapping[str, Any], prefix: tuple[str, ...]) -> dict[str, Any]:
    """Dotted keys of the values added or changed in the edited ``after`` (NaN equals NaN)."""
    from ._config import same_value as _same

    changed: dict[str, Any] = {}
    for key, value in after.items():
        path = prefix + (str(key),)
        old = before.get(key, _NOT_THERE)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            changed.update(_changed_paths(old, value, path))
        elif old is _NOT_THERE or not _same(old, value):
            changed[".".join(path)] = _deep_copy(value)
    return changed


_NOT_THERE = object()


def _select(rows: Iterator[dict[str, Any]], wanted: list[str]) -> Iterator[dict[str, Any]]:
    for row in rows:
        if all(key in row for key in wanted):
            selected = {"_step": row.get("_step")}
            for key in wanted:
                selected[key] = row[key]
            yield selected


_AXES = ("_step", "_timestamp", "_runtime")


def bucket_rows(series: Mapping[str, SampledSeries], x_axis: str, samples: int) -> list[dict[str, Any]]:
    """Sampled series as rows, one per bucket: ``x_axis`` (the x of the bucket's first point over
    all keys), each key's ``last`` under its name, ``<key>/min`` and ``<key>/max``."""
    from ._sampling import bucket_index

    by_bucket: dict[int, dict[str, Any]] = {}
    for key, sampled in series.items():
        start, stop = sampled["start"], sampled["stop"]
        for i, x in enumerate(sampled["x"]):
            index = 0 if start is None or stop is None else bucket_index(x, start, stop, samples)
            row = by_bucket.get(index)
            if row is None:
                row = by_bucket[index] = {x_axis: x}
            elif x < row[x_axis]:
                row[x_axis] = x
            row[key] = sampled["last"][i]
            row[f"{key}/min"] = sampled["min"][i]
            row[f"{key}/max"] = sampled["max"][i]
    rows = [by_bucket[index] for index in sorted(by_bucket)]
    if x_axis == "_step":
        for row in rows:
            step = row["_step"]
            if isinstance(step, float) and step.is_integer():
                row["_step"] = int(step)
    return rows


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _iso(timestamp: Any) -> str:
    if not isinstance(timestamp, (int, float)):
        return ""
    import datetime

    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc).isoformat()


class Runs(Sequence[ApiRun]):
    """A lazy sequence of runs, fetched from the store as it is used: nothing is read until it is
    iterated, indexed or measured; ``len()`` and ``runs[0]`` ask for one page of ``per_page`` runs,
    and going further fetches pages that grow (8x each time), so listing every run of a large project
    takes a few queries, not one per ``per_page`` runs."""

    _GROWTH = 8

    def __init__(
        self,
        store: Store,
        project: str | None,
        filters: Mapping[str, Any] | None,
        order: str | Sequence[str] | None,
        per_page: int = 50,
    ) -> None:
        self._store = store
        self._project = project
        self._filters = dict(filters) if filters is not None else None
        self._order = order or "-created_at"
        self._per_page = per_page
        self._fetched: list[ApiRun] = []  # the runs from the first on, in order
        self._total: int | None = None

    def _fetch(self, wanted: int) -> None:
        """Fetch until the first ``wanted`` runs (or all of them) are at hand."""
        while len(self._fetched) < wanted and (self._total is None or len(self._fetched) < self._total):
            limit = max(self._per_page, self._GROWTH * len(self._fetched))
            result = self._store.query_runs(self._project, self._filters, self._order, limit=limit, offset=len(self._fetched))
            self._total = result["total"]
            self._fetched.extend(
                ApiRun(self._store, document.get("project") or self._project or "", document["id"], document=document)
                for document in result["runs"]
            )
            if len(result["runs"]) < limit:  # the end (runs deleted meanwhile may make it come early)
                self._total = len(self._fetched)

    @property
    def total(self) -> int:
        """How many runs match (as of the first query)."""
        if self._total is None:
            self._fetch(1)
        assert self._total is not None
        return self._total

    @overload
    def __getitem__(self, index: int) -> ApiRun: ...

    @overload
    def __getitem__(self, index: slice) -> list[ApiRun]: ...

    def __getitem__(self, index: int | slice) -> ApiRun | list[ApiRun]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = index + len(self) if index < 0 else index
        if position >= 0:
            self._fetch(position + 1)
        if not 0 <= position < len(self._fetched):
            raise IndexError(f"run index {index} out of range ({len(self)} runs)")
        return self._fetched[position]

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[ApiRun]:
        position = 0
        while True:
            self._fetch(position + 1)
            if position >= len(self._fetched):
                return
            yield self._fetched[position]
            position += 1

    def __repr__(self) -> str:
        return f"<Runs {self._project or '*'} filters={self._filters!r} order={self._order!r}>"


class Api:
    """Read and edit runs in a store: ``store=`` (a store, path or URL), else ``dir=``, else
    ``TRACKKIT_STORE``, else ``TRACKKIT_DIR``, else ``./trackkit-runs``.

    Example:
        >>> api = trackkit.Api()
        >>> best = api.runs("mnist", filters={"config.lr": {"$gt": 0.01}}, order="-summary.val_acc")[0]
        >>> best.config["lr"], best.summary["val_acc"]
    """

    def __init__(self, dir: str | os.PathLike[str] | None = None, *, store: Store | str | os.PathLike[str] | None = None) -> None:
        from ._stores import resolve_store  # store= > dir= > TRACKKIT_STORE > TRACKKIT_DIR > ./trackkit-runs

        self.store: Store = resolve_store(store, dir)

    def projects(self) -> list[Project]:
        """The projects in the store, with their run counts."""
        from ._session import _entity

        entity = _entity()
        return [Project(info["name"], entity, info["run_count"], info["running"], info["last_activity"])
                for info in self.store.project_infos()]

    def runs(
        self,
        path: str | None = None,
        filters: Mapping[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        per_page: int = 50,
    ) -> Runs:
        """Runs of a project (``"project"`` or ``"entity/project"``; all projects when None),
        filtered with MongoDB-style ``filters`` and sorted by ``order`` (``"-summary.acc"``, or a list
        of such keys), fetched ``per_page`` at a time. Ordering: numbers by value, then strings, then
        booleans and others; missing keys, None and NaN last in both directions; ties by creation
        time, then id."""
        check_filters(filters)  # a bad operator or $regex fails here, even in an empty project
        parse_order(order)
        if isinstance(per_page, bool) or not isinstance(per_page, int) or per_page < 1:
            raise UsageError(f"per_page must be a positive int; got {per_page!r}.")
        project = None if path is None else path.strip("/").split("/")[-1]
        return Runs(self.store, project, filters, order, per_page)

    def _is_entity_of_runs_run(self, entity: str, run_id: str) -> bool:
        """Whether ``entity/runs/run_id`` names run ``run_id`` of a project called "runs" (rather
        than run ``run_id`` of project ``entity`` in W&B's ``project/runs/run_id`` form)."""
        if run_id not in self.store.run_ids("runs"):
            return False
        if run_id not in self.store.run_ids(entity):
            return True
        return bool(ApiRun(self.store, "runs", run_id).entity == entity)

    def run(self, path: str) -> ApiRun:
        """A run by ``"project/run_id"``, ``"entity/project/run_id"``, ``"entity/project/runs/run_id"``,
        ``"project:run_id"`` or a bare id."""
        parts = [p for p in path.replace(":", "/").strip("/").split("/") if p]
        # W&B's "entity/project/runs/id" (and "project/runs/id"), but a project may be named "runs"
        if len(parts) == 4 and parts[2] == "runs":
            del parts[2]
        elif len(parts) == 3 and parts[1] == "runs" and not self._is_entity_of_runs_run(parts[0], parts[2]):
            del parts[1]
        if not parts or len(parts) > 3:
            raise UsageError(f"run path {path!r} is not valid; use 'project/run_id' or 'entity/project/run_id'.")
        run_id = parts[-1]
        if len(parts) >= 2:
            return ApiRun(self.store, parts[-2], run_id)
        page = self.store.query_runs(None, {"id": run_id}, fields=[])
        found = sorted({str(document.get("project")) for document in page["runs"]})
        if not found:
            raise RunNotFoundError(f"no run with id {run_id!r} in {self.store.location}.")
        if len(found) > 1:
            raise UsageError(f"run id {run_id!r} is in several projects ({', '.join(found)}); use 'project/{run_id}'.")
        return ApiRun(self.store, found[0], run_id)
