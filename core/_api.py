"""The public API: read, query and edit runs in a store, as W&B users do with ``wandb.Api()``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

from ._errors import RunNotFoundError, UsageError
from ._filters import check_filters, matches, parse_order, sort_documents
from ._store import Store

__all__ = ["Api", "ApiRun", "Project", "Runs"]


class Project:
    """A project in the store."""

    def __init__(self, name: str, entity: str, run_count: int) -> None:
        self.name = name
        self.entity = entity
        self.run_count = run_count

    def __repr__(self) -> str:
        return f"<Project {self.name} ({self.run_count} runs)>"


class ApiRun:
    """A run read from the store. Edit ``config``, ``summary``, ``tags``, ``notes`` or ``name``,
    then call ``update()`` to save the edits."""

    def __init__(self, store: Store, project: str, run_id: str) -> None:
        self._store = store
        self.project = project
        self.id = run_id
        self.load()

    def load(self) -> ApiRun:
        """(Re)read the run from the store."""
        record = self._store.read_run(self.project, self.id)
        meta = record["meta"]
        self._meta = meta
        self._config_document = record["config"]
        self._summary_document = record["summary"]
        self.name: str = meta.get("name", self.id)
        self.entity: str = meta.get("entity", "local")
        self.state: str = meta.get("state", "running")
        self.tags: list[str] = list(meta.get("tags") or [])
        self.notes: str | None = meta.get("notes")
        self.group: str | None = meta.get("group")
        self.job_type: str | None = meta.get("job_type")
        self.config: dict[str, Any] = _deep_copy(record["config"].get("values") or {})
        self.summary: dict[str, Any] = dict(record["summary"].get("values") or {})
        self._loaded_config = _deep_copy(self.config)
        self._loaded_summary = dict(self.summary)
        return self

    def __repr__(self) -> str:
        return f"<ApiRun {self.project}/{self.id} name={self.name!r} state={self.state}>"

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"

    @property
    def created_at(self) -> str:
        """Creation time, ISO 8601 in UTC."""
        return _iso(self._meta.get("created_at"))

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
            "created_at": self._meta.get("created_at"),
            "runtime": self._meta.get("runtime"),
            "config": self.config,
            "summary": self.summary,
        }

    # -- history ---------------------------------------------------------------------------------
    def scan_history(self, keys: Sequence[str] | None = None, *, include_superseded: bool = False) -> Iterator[dict[str, Any]]:
        """Every history row in order. With ``keys``, only rows holding all of them, reduced to
        those keys and ``_step``. Rows a rewind (``init(resume_from_step=N)``) superseded are left
        out unless ``include_superseded=True``; then they come flagged ``"_superseded": True``."""
        rows = self._store.iter_history(self.project, self.id, include_superseded=include_superseded)
        if keys is None:
            return rows  # no per-row generator step on the common path
        return _select(rows, list(keys))

    def history(self, keys: Sequence[str] | None = None, samples: int | None = None, pandas: bool = True) -> Any:
        """History rows, evenly sampled down to ``samples`` when given; a pandas DataFrame when
        pandas is installed (and ``pandas=True``), else a list of dicts."""
        if keys is not None and (isinstance(keys, str) or not isinstance(keys, Sequence)):
            raise UsageError(f"history(keys=...) takes a list of metric names; got {keys!r}.")
        rows = list(self.scan_history(keys))
        if samples is not None and 0 < samples < len(rows):
            last = len(rows) - 1
            rows = [rows[round(i * last / (samples - 1))] for i in range(samples)] if samples > 1 else rows[:1]
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
        from ._config import _same
        from ._edits import DELETE

        meta: dict[str, Any] = {}
        for field, value in (("name", self.name), ("tags", list(self.tags)), ("notes", self.notes),
                             ("group", self.group), ("job_type", self.job_type)):
            loaded = self._meta.get(field, self.id if field == "name" else None)
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
    from ._config import _same

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
    """A lazy sequence of runs: nothing is read until it is iterated, indexed or measured."""

    def __init__(
        self, store: Store, projects: list[str], filters: Mapping[str, Any] | None, order: str | Sequence[str] | None
    ) -> None:
        self._store = store
        self._projects = projects
        self._filters = filters
        self._order = order or "-created_at"
        self._runs: list[ApiRun] | None = None

    def _load(self) -> list[ApiRun]:
        if self._runs is None:
            runs = []
            for project in self._projects:
                for run_id in self._store.run_ids(project):
                    try:
                        run = ApiRun(self._store, project, run_id)
                    except RunNotFoundError:  # deleted while we listed
                        continue
                    if matches(run.document(), self._filters):
                        runs.append(run)
            self._runs = sort_documents(runs, self._order, ApiRun.document)
        return self._runs

    @overload
    def __getitem__(self, index: int) -> ApiRun: ...

    @overload
    def __getitem__(self, index: slice) -> list[ApiRun]: ...

    def __getitem__(self, index: int | slice) -> ApiRun | list[ApiRun]:
        return self._load()[index]

    def __len__(self) -> int:
        return len(self._load())

    def __iter__(self) -> Iterator[ApiRun]:
        return iter(self._load())

    def __repr__(self) -> str:
        return f"<Runs {','.join(self._projects)} filters={self._filters!r} order={self._order!r}>"


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
        """The projects in the store."""
        from ._session import _entity

        return [Project(name, _entity(), len(self.store.run_ids(name))) for name in self.store.projects()]

    def runs(
        self, path: str | None = None, filters: Mapping[str, Any] | None = None, order: str | Sequence[str] | None = None
    ) -> Runs:
        """Runs of a project (``"project"`` or ``"entity/project"``; all projects when None),
        filtered with MongoDB-style ``filters`` and sorted by ``order`` (``"-summary.acc"``, or a list
        of such keys). Ordering: numbers by value, then strings, then booleans and others; missing
        keys, None and NaN last in both directions; ties by creation time, then id."""
        check_filters(filters)  # a bad operator or $regex fails here, even in an empty project
        parse_order(order)
        if path is None:
            projects = self.store.projects()
        else:
            projects = [path.strip("/").split("/")[-1]]
        return Runs(self.store, projects, filters, order)

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
        found = [project for project in self.store.projects() if run_id in self.store.run_ids(project)]
        if not found:
            raise RunNotFoundError(f"no run with id {run_id!r} in {self.store.location}.")
        if len(found) > 1:
            raise UsageError(f"run id {run_id!r} is in several projects ({', '.join(found)}); use 'project/{run_id}'.")
        return ApiRun(self.store, found[0], run_id)
