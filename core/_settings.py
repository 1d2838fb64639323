"""Settings read from ``init()`` arguments and ``TRACKKIT_*`` environment variables.

Explicit arguments win over the environment, which wins over the defaults. The environment
is read at ``init()`` time, never at import, so tests can set it per test.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from ._errors import UsageError

__all__ = ["MODES", "RESUME_MODES", "Settings", "env_flag", "heartbeat_timeout", "resolve"]

MODES = ("local", "offline", "disabled")
RESUME_MODES = ("allow", "must", "never")


def env_flag(name: str) -> bool:
    """A boolean environment variable: 1/true/yes/on are true."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"environment variable {name}={raw!r} must be a number of seconds.") from None


def heartbeat_timeout() -> float:
    """Seconds after which a ``running`` run whose writer is gone counts as crashed (``TRACKKIT_HEARTBEAT_TIMEOUT``)."""
    return _env_float("TRACKKIT_HEARTBEAT_TIMEOUT", 30.0)


class Settings(NamedTuple):
    """Resolved settings of one run."""

    project: str
    dir: str
    mode: str
    resume: str | None
    silent: bool
    flush_interval: float
    finish_timeout: float
    max_buffered_rows: int
    max_queued_rows: int = 2_000  # rows the writer may fall behind by before log() waits (_writer)
    heartbeat_timeout: float = 30.0


def resolve(
    *, project: str | None, dir: str | os.PathLike[str] | None, mode: str | None, resume: str | bool | None, silent: bool | None
) -> Settings:
    """Combine explicit arguments with the environment; raise ``UsageError`` for bad values."""
    mode = mode or os.environ.get("TRACKKIT_MODE") or "local"
    if mode == "offline":
        mode = "local"
    if mode not in MODES:
        raise UsageError(f"mode={mode!r} is not known; use 'local' (the default) or 'disabled'.")
    if resume is None:
        resume = os.environ.get("TRACKKIT_RESUME") or None
    if resume is True:
        resume = "allow"
    elif resume is False:
        resume = None
    if resume is not None and resume not in RESUME_MODES:
        raise UsageError(f"resume={resume!r} is not known; use 'allow', 'must' or 'never'.")
    return Settings(
        project=project or os.environ.get("TRACKKIT_PROJECT") or "uncategorized",
        dir=os.fspath(dir) if dir is not None else os.environ.get("TRACKKIT_DIR") or _default_dir(),
        mode=mode,
        resume=resume,
        silent=env_flag("TRACKKIT_SILENT") if silent is None else silent,
        flush_interval=_env_float("TRACKKIT_FLUSH_INTERVAL", 1.0),
        finish_timeout=_env_float("TRACKKIT_FINISH_TIMEOUT", 10.0),
        max_buffered_rows=int(_env_float("TRACKKIT_MAX_BUFFERED_ROWS", 1_000_000)),
        max_queued_rows=int(_env_float("TRACKKIT_MAX_QUEUED_ROWS", 2_000)),
        heartbeat_timeout=heartbeat_timeout(),
    )


def _default_dir() -> str:
    from ._stores import default_store_dir  # the one place that knows the default folder

    return default_store_dir(note=False)
