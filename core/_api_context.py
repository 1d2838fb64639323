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


# -- `trackkit show` ---------------------------------------------------------------------------
_SHOWN_METRICS = ("cpu", "proc.cpu.percent", "proc.memory.rssMB", "cpu_percent", "memory_percent")


def context_data(run: Any) -> dict[str, Any]:
    """Files and a system-metrics digest of an ``ApiRun`` for ``trackkit show --json`` (the
    environment and git facts are in its metadata already)."""
    try:
        files = [{"name": f.name, "size": f.size, "updated_at": f.updated_at} for f in run.files()]
    except Exception:  # a store without files
        files = []
    try:
        rows = run.system_metrics(pandas=False)
    except Exception:
        rows = []
    keys = sorted({k for row in rows for k in row if not k.startswith("_")})
    return {"files": files, "system_metrics": {"samples": len(rows), "keys": keys, "last": rows[-1] if rows else None}}


def context_lines(run: Any, data: dict[str, Any] | None = None) -> list[str]:
    """The "context" block of ``trackkit show``: where and how the run ran, its code, files and system metrics."""
    meta = run.metadata
    data = data if data is not None else context_data(run)
    lines = ["", "context"]

    def add(label: str, text: str | None) -> None:
        if text:
            lines.append(f"  {label:<10} {text}")

    add("host", " ".join(str(v) for v in (meta.get("host"), meta.get("os")) if v))
    python = " ".join(str(v) for v in (meta.get("python_implementation"), meta.get("python_version") or meta.get("python")) if v)
    add("python", f"{python} ({meta['executable']})" if meta.get("executable") else python)
    program = meta.get("program")
    add("command", " ".join([str(program), *map(str, meta.get("args") or [])]) if program else None)
    add("cwd", meta.get("cwd"))
    if meta.get("cpu_count_logical"):
        add("cpus", f"{meta.get('cpu_count')} cores, {meta['cpu_count_logical']} logical")
    if meta.get("gpu_count"):
        add("gpus", f"{meta['gpu_count']} x {meta.get('gpu')}")
    frameworks = meta.get("frameworks") or {}
    add("frameworks", ", ".join(f"{name} {version}" for name, version in sorted(frameworks.items())))
    launch = meta.get("distributed") or {}
    if launch:
        add("launcher", f"{launch.get('launcher')} rank {launch.get('rank')} of {launch.get('world_size')}"
            + (f", SLURM job {meta['slurm']['job_id']}" if (meta.get("slurm") or {}).get("job_id") else ""))
    git = meta.get("git") or {}
    if git:
        state = "dirty, see diff.patch" if git.get("dirty") else "clean"
        add("git", f"{str(git.get('commit') or '(no commit)')[:12]} on {git.get('branch') or '(detached)'} ({state})"
            + (f" {git['remote']}" if git.get("remote") else ""))
    if meta.get("exit_code") is not None:
        add("exit code", f"{meta['exit_code']}" + (f" ({meta['exit_reason']})" if meta.get("exit_reason") else ""))
    files = data["files"]
    add("files", ", ".join(f"{f['name']} ({_size(f['size'])})" for f in files) or "-")
    system = data["system_metrics"]
    if system["samples"]:
        last = system["last"] or {}
        shown = ", ".join(f"{k} {last[k]:.4g}" for k in (*_SHOWN_METRICS, *[k for k in system["keys"] if k.endswith(".gpu")])
                          if isinstance(last.get(k), (int, float)))
        add("system", f"{system['samples']} samples; last: {shown}")
    return lines


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover
