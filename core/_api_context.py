"""Reading a run's context back through ``ApiRun``: its files (``files()``, ``file(name).download()``)
and its system metrics (``system_metrics()``), over any store's query side."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import IO, Any

from ._errors import RunNotFoundError, UsageError
from ._store import FileInfo

__all__ = ["File", "list_run_files", "run_file", "system_metrics"]


class File:
    """A file of a run (``diff.patch``, ``output.log``, ``requirements.txt``, files from ``run.save``).

    Example:
        >>> run = trackkit.Api().run("mnist/3xk2a9q1")
        >>> [f.name for f in run.files()]
        ['diff.patch', 'output.log', 'requirements.txt']
        >>> run.file("output.log").download("logs/", replace=True)
        'logs/output.log'
    """

    def __init__(self, store: Any, project: str, run_id: str, info: FileInfo) -> None:
        self._store = store
        self._project = project
        self._run_id = run_id
        self.name: str = info["name"]
        self.size: int = int(info["size"])
        self.updated_at: float = float(info["updated_at"])

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size:,} bytes)>"

    def open(self) -> IO[bytes]:
        """The file for reading, binary."""
        handle: IO[bytes] = self._store.open_file(self._project, self._run_id, self.name)
        return handle

    def read_text(self, encoding: str = "utf-8") -> str:
        """The whole file as text."""
        with self.open() as handle:
            return handle.read().decode(encoding, "replace")

    def download(self, root: str | os.PathLike[str] = ".", replace: bool = False, exist_ok: bool = False) -> str:
        """Copy the file to ``root/<name>`` (folders made as needed) and return that path, as W&B's
        ``File.download``. An existing file raises ``UsageError`` unless ``replace`` (overwrite) or
        ``exist_ok`` (keep it)."""
        target = os.path.join(os.fspath(root), *self.name.split("/"))
        if os.path.exists(target) and not replace:
            if exist_ok:
                return target
            raise UsageError(f"{target} already exists; pass replace=True to overwrite it or exist_ok=True to keep it.")
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        tmp = f"{target}.{os.getpid()}.part"
        with self.open() as source, open(tmp, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        os.replace(tmp, target)
        return target


def list_run_files(store: Any, project: str, run_id: str) -> list[File]:
    """Every file of the run, by name."""
    return [File(store, project, run_id, info) for info in store.list_files(project, run_id)]


def run_file(store: Any, project: str, run_id: str, name: str) -> File:
    """One file of the run; ``RunNotFoundError`` names the files there are."""
    infos = store.list_files(project, run_id)
    for info in infos:
        if info["name"] == name:
            return File(store, project, run_id, info)
    names = ", ".join(info["name"] for info in infos) or "none"
    raise RunNotFoundError(f"run {project}/{run_id} has no file {name!r}; its files: {names}.")


def system_metrics(
    store: Any, project: str, run_id: str, keys: Sequence[str] | None, samples: int | None, pandas: bool
) -> Any:
    """The run's system-metrics rows (``_timestamp``, ``_runtime`` and the metrics), all of them or cut
    into ``samples`` time buckets (each key's last value, plus ``<key>/min`` and ``<key>/max``)."""
    if keys is not None and (isinstance(keys, str) or not isinstance(keys, Sequence)):
        raise UsageError(f"system_metrics(keys=...) takes a list of metric names; got {keys!r}.")
    if samples is None:
        rows = list(store.scan_system(project, run_id))
        if keys is not None:
            wanted = list(keys)
            rows = [
                {k: row[k] for k in ("_timestamp", "_runtime", *wanted) if k in row}
                for row in rows
                if any(k in row for k in wanted)
            ]
    else:
        if samples < 1:
            raise UsageError(f"system_metrics(samples=...) must be at least 1; got {samples!r}.")
        series = store.sample_system(project, run_id, list(keys) if keys is not None else None, samples=samples)
        by_x: dict[float, dict[str, Any]] = {}
        for key, sampled in series.items():
            for index, x in enumerate(sampled["x"]):
                row = by_x.setdefault(x, {"_timestamp": x})
                row[key] = sampled["last"][index]
                row[f"{key}/min"] = sampled["min"][index]
                row[f"{key}/max"] = sampled["max"][index]
        rows = [by_x[x] for x in sorted(by_x)]
    if pandas:
        try:
            import pandas as pd  # type: ignore[import-untyped]
        except ImportError:
            return rows
        return pd.DataFrame.from_records(rows)
    return rows
