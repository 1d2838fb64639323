"""trackkit: a local-first experiment tracker with a W&B-shaped API.

    import trackkit

    with trackkit.init(project="mnist", config={"lr": 0.01}) as run:
        for step in range(100):
            run.log({"loss": 1 / (step + 1)})

    trackkit.Api().runs("mnist", order="-summary.loss")
"""

from __future__ import annotations

from typing import Any

from ._api import Api, ApiRun, Project, Runs
from ._config import Config, ConfigNode
from ._context import Settings
from ._errors import (
    ConfigChangeError,
    ConfigFileError,
    InvalidLogDataError,
    NoActiveRunError,
    RunFinishedError,
    RunInUseError,
    RunNotFoundError,
    StorageWarning,
    TrackkitError,
    UsageError,
)
from ._local_store import LocalStore
from ._run import Run
from ._session import current_run as _current_run
from ._session import init
from ._session import require_run as _require_run
from ._store import RunSink, Store
from ._stores import open_store
from ._summary import Summary

__version__ = "0.1.0"

__all__ = [
    "Api",
    "ApiRun",
    "Config",
    "ConfigChangeError",
    "ConfigFileError",
    "ConfigNode",
    "InvalidLogDataError",
    "LocalStore",
    "NoActiveRunError",
    "Project",
    "Run",
    "RunFinishedError",
    "RunInUseError",
    "RunNotFoundError",
    "RunSink",
    "Runs",
    "Settings",
    "StorageWarning",
    "Store",
    "Summary",
    "TrackkitError",
    "UsageError",
    "__version__",
    "config",
    "define_metric",
    "finish",
    "init",
    "log",
    "open_store",
    "run",
    "summary",
]


def log(data: dict[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """``run.log`` on the current run (see ``Run.log``)."""
    _require_run("trackkit.log()").log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """``run.finish`` on the current run; does nothing when no run is active."""
    run = _current_run()
    if run is not None:
        run.finish(exit_code=exit_code, quiet=quiet)


def define_metric(name: str, step_metric: str | None = None, **kwargs: Any) -> Any:
    """``run.define_metric`` on the current run."""
    return _require_run("trackkit.define_metric()").define_metric(name, step_metric, **kwargs)


class _BeforeInit:
    """Stands in for ``trackkit.config`` / ``trackkit.summary`` until ``trackkit.init()`` is called."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise NoActiveRunError(f"call trackkit.init() before using trackkit.{self._name}.")

    __getitem__ = __setitem__ = __contains__ = __iter__ = __len__ = _fail
    update = get = keys = items = values = as_dict = _fail

    def __getattr__(self, name: str) -> Any:
        return self._fail()

    def __setattr__(self, name: str, value: Any) -> None:
        self._fail()

    def __repr__(self) -> str:
        return f"<trackkit.{self._name}: no active run; call trackkit.init() first>"


def __getattr__(name: str) -> Any:
    """``trackkit.run``, ``trackkit.config`` and ``trackkit.summary`` follow the current run."""
    if name == "run":
        return _current_run()
    if name in ("config", "summary"):
        current = _current_run()
        return getattr(current, name) if current is not None else _BeforeInit(name)
    raise AttributeError(f"module 'trackkit' has no attribute {name!r}")


def _load_integration_hooks() -> None:
    """Let installed integrations register lazily (``report_to="trackkit"``); imports no framework."""
    try:
        from . import integrations  # noqa: F401
    except ImportError:
        pass


_load_integration_hooks()
