"""Exceptions raised by trackkit.

One root, a few structured subclasses. Misuse is an exception at the call site; storage
trouble never is (it becomes a warning, see ``StorageWarning``)::

    TrackkitError
    ├── UsageError (ValueError)            a call that cannot be honoured as made
    │   ├── NoActiveRunError               trackkit.log() & co. before trackkit.init()
    │   ├── RunFinishedError               run.log() after run.finish()
    │   └── ConfigChangeError              a changed config value under strict_config=True
    ├── InvalidLogDataError (TypeError)    log() data that is not a dict of str keys to values
    ├── ConfigFileError (ValueError)       a malformed or missing YAML config file
    ├── RunNotFoundError (LookupError)     Api().run("project/id") with no such run
    └── RunInUseError (RuntimeError)       a run id already open for writing in another process
"""

from __future__ import annotations

__all__ = [
    "ConfigChangeError",
    "ConfigFileError",
    "InvalidLogDataError",
    "NoActiveRunError",
    "RunFinishedError",
    "RunInUseError",
    "RunNotFoundError",
    "StorageWarning",
    "TrackkitError",
    "UsageError",
]


class TrackkitError(Exception):
    """Root of every exception trackkit raises."""


class UsageError(TrackkitError, ValueError):
    """A call that cannot be honoured as made; the message says how to fix it."""


class NoActiveRunError(UsageError):
    """A module-level call (``trackkit.log`` ...) made before ``trackkit.init()``."""


class RunFinishedError(UsageError):
    """A write to a run that has already finished."""


class ConfigChangeError(UsageError):
    """A config value changed under ``strict_config=True`` without ``allow_val_change``."""


class InvalidLogDataError(TrackkitError, TypeError):
    """``log()`` data that is not a dict of string keys to loggable values."""


class ConfigFileError(TrackkitError, ValueError):
    """A YAML config file that is missing or malformed; the message names file and line."""


class RunNotFoundError(TrackkitError, LookupError):
    """A run or project that the store does not hold."""


class RunInUseError(TrackkitError, RuntimeError):
    """A run that another live process holds open for writing."""


class StorageWarning(UserWarning):
    """Trouble writing to the store; the run goes on and the data is kept or counted."""
