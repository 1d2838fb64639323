"""What a run records about the process it runs in: the machine, the Python, the job launcher, the
frameworks installed and the git checkout. W&B shows the same facts on every run page.

Every function here is called on a helper thread (never during ``init`` itself), reads without
importing any framework (versions come from ``importlib.metadata``) and never raises: a fact that
cannot be read is left out.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "FRAMEWORKS",
    "distributed_facts",
    "environment_facts",
    "framework_versions",
    "git_facts",
    "requirements_text",
    "strip_credentials",
]

#: Distributions whose version a run records (``run.metadata["frameworks"]``), by display name.
FRAMEWORKS = {
    "torch": "torch",
    "lightning": "lightning",
    "pytorch_lightning": "pytorch-lightning",
    "keras": "keras",
    "tensorflow": "tensorflow",
    "tensorflow-cpu": "tensorflow-cpu",
    "transformers": "transformers",
    "jax": "jax",
    "numpy": "numpy",
}

_SLURM = {
    "SLURM_JOB_ID": "job_id",
    "SLURM_JOB_NAME": "job_name",
    "SLURM_ARRAY_JOB_ID": "array_job_id",
    "SLURM_ARRAY_TASK_ID": "array_task_id",
    "SLURM_PROCID": "procid",
    "SLURM_LOCALID": "localid",
    "SLURM_NTASKS": "ntasks",
    "SLURM_NODEID": "nodeid",
    "SLURM_JOB_NODELIST": "nodelist",
    "SLURM_CLUSTER_NAME": "cluster_name",
    "SLURM_JOB_PARTITION": "partition",
}


def environment_facts() -> dict[str, Any]:
    """Machine and interpreter facts, W&B-named (``os``, ``executable``, ``program``, ``args``, ...)."""
    import platform

    facts: dict[str, Any] = {
        "os": _safe(platform.platform, ""),
        "python_implementation": platform.python_implementation(),
        "python_version": platform.python_version(),
        "executable": sys.executable,
        "program": _program(),
        "args": list(sys.argv[1:]),
        "cpu_count": _physical_cpus(),
        "cpu_count_logical": os.cpu_count(),
    }
    total = _memory_total()
    if total is not None:
        facts["memory"] = {"total": total}
    slurm = {name: os.environ[var] for var, name in _SLURM.items() if os.environ.get(var)}
    if slurm:
        facts["slurm"] = slurm
    distributed = distributed_facts(os.environ)
    if distributed:
        facts["distributed"] = distributed
    return facts


def distributed_facts(environ: Any) -> dict[str, Any]:
    """The launcher (``torchrun``, ``slurm``, ``mpi``) and this process's rank, local rank and world size."""
    def number(*names: str) -> int | None:
        for name in names:
            raw = environ.get(name)
            if raw not in (None, ""):
                try:
                    return int(raw)
                except ValueError:
                    return None
        return None

    if environ.get("TORCHELASTIC_RUN_ID") or (environ.get("LOCAL_RANK") is not None and environ.get("WORLD_SIZE")):
        launcher = "torchrun"
        rank, local, world = number("RANK"), number("LOCAL_RANK"), number("WORLD_SIZE")
    elif environ.get("SLURM_JOB_ID") and environ.get("SLURM_PROCID") is not None:
        launcher = "slurm"
        rank, local, world = number("SLURM_PROCID"), number("SLURM_LOCALID"), number("SLURM_NTASKS")
    elif environ.get("OMPI_COMM_WORLD_RANK") is not None or environ.get("PMI_RANK") is not None:
        launcher = "mpi"
        rank = number("OMPI_COMM_WORLD_RANK", "PMI_RANK")
        local = number("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID")
        world = number("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
    else:
        return {}
    facts: dict[str, Any] = {"launcher": launcher, "rank": rank, "local_rank": local, "world_size": world}
    if launcher == "torchrun" and environ.get("TORCHELASTIC_RUN_ID"):
        facts["run_id"] = environ["TORCHELASTIC_RUN_ID"]
    return facts


@functools.lru_cache(maxsize=1)
def framework_versions() -> dict[str, str]:
    """Versions of the installed frameworks (``{"torch": "2.13.0", ...}``), read from package metadata
    without importing them. Cached: installed packages do not change under a running process."""
    from importlib import metadata

    versions: dict[str, str] = {}
    for display, distribution in FRAMEWORKS.items():
        try:
            versions[display] = metadata.version(distribution)
        except Exception:  # not installed, or broken metadata
            continue
    return versions


@functools.lru_cache(maxsize=1)
def requirements_text() -> str:
    """``pip freeze``-style lines (``name==version``) of every installed distribution, sorted."""
    from importlib import metadata

    lines = set()
    for distribution in metadata.distributions():
        try:
            name = distribution.metadata["Name"]
            if name:
                lines.add(f"{name}=={distribution.version}")
        except Exception:
            continue
    return "".join(line + "\n" for line in sorted(lines, key=str.lower))


# -- git ---------------------------------------------------------------------------------------
def git_facts(cwd: str, *, max_diff_bytes: int) -> tuple[dict[str, Any], bytes] | None:
    """The checkout ``cwd`` is in: ``commit``, ``branch``, ``remote`` (credentials stripped), ``root``,
    ``dirty`` (and ``diff_bytes``, ``diff_truncated``), with the uncommitted diff against ``HEAD``
    capped at ``max_diff_bytes``. None outside a git work tree or without git."""
    status = _git(cwd, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if status is None:
        return None
    facts: dict[str, Any] = {}
    diff = b""
    dirty = False
    for line in status.decode("utf-8", "replace").splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2]
            if oid != "(initial)":
                facts["commit"] = oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            facts["branch"] = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    facts["dirty"] = dirty
    root = _git(cwd, "rev-parse", "--show-toplevel")
    if root:
        facts["root"] = root.decode("utf-8", "replace").strip()
    remote = _remote_url(cwd, facts.get("branch"))
    if remote:
        facts["remote"] = strip_credentials(remote)
    if dirty and "commit" in facts and max_diff_bytes > 0:
        diff, total = _git_capped(cwd, max_diff_bytes, "diff", "HEAD", "--no-color", "--no-ext-diff", "--binary")
        facts["diff_bytes"] = total
        if total > len(diff):
            facts["diff_truncated"] = True
    return facts, diff


def _remote_url(cwd: str, branch: str | None) -> str | None:
    """The URL of the branch's upstream remote, else ``origin``, else the first remote."""
    names: list[str] = []
    if branch:
        tracked = _git(cwd, "config", "--get", f"branch.{branch}.remote")
        if tracked:
            names.append(tracked.decode().strip())
    names.append("origin")
    for name in names:
        url = _git(cwd, "config", "--get", f"remote.{name}.url")
        if url:
            return url.decode("utf-8", "replace").strip()
    remotes = _git(cwd, "remote")
    if remotes:
        first = remotes.decode().split()
        if first:
            url = _git(cwd, "config", "--get", f"remote.{first[0]}.url")
            if url:
                return url.decode("utf-8", "replace").strip()
    return None


def strip_credentials(url: str) -> str:
    """A remote URL without user name, password or token: ``https://tok@host/r.git`` -> ``https://host/r.git``.

    scp-like addresses (``git@github.com:org/repo.git``) carry an SSH user, not a secret, and stay as they are.
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _git_env() -> dict[str, str]:
    # No prompt for credentials, no pager, and no optional index lock: `git status` must never make
    # the user's own `git commit` fail with "index.lock exists" while a run starts.
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat", "LC_ALL": "C"}


def _git(cwd: str, *args: str, timeout: float = 5.0) -> bytes | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, env=_git_env(), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _git_capped(cwd: str, cap: int, *args: str, timeout: float = 10.0) -> tuple[bytes, int]:
    """At most ``cap`` bytes of a git command's output, and its full size (read to the end, not kept)."""
    try:
        process = subprocess.Popen(
            ["git", *args], cwd=cwd, env=_git_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
    except OSError:
        return b"", 0
    kept: list[bytes] = []
    size = total = 0
    assert process.stdout is not None
    try:
        while True:
            chunk = process.stdout.read(65536)
            if not chunk:
                break
            total += len(chunk)
            if size < cap:
                piece = chunk[: cap - size]
                kept.append(piece)
                size += len(piece)
        process.wait(timeout)
    except (OSError, subprocess.SubprocessError):
        process.kill()
    finally:
        process.stdout.close()
    if process.returncode not in (0, None):
        return b"", 0
    return b"".join(kept), total


# -- small readers -----------------------------------------------------------------------------
def _safe(function: Any, default: Any) -> Any:
    try:
        return function()
    except Exception:
        return default


def _program() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if isinstance(path, str) and path:
        return os.path.abspath(path)
    return sys.argv[0] if sys.argv and sys.argv[0] else "<interactive>"


def _physical_cpus() -> int | None:
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        count = psutil.cpu_count(logical=False)
        return int(count) if count else os.cpu_count()
    except Exception:
        return os.cpu_count()


def _memory_total() -> int | None:
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        return int(psutil.virtual_memory().total)
    except Exception:
        return None
