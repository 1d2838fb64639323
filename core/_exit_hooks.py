"""Exit codes: while a run is active, ``sys.exit`` and ``sys.excepthook`` are hooked (as W&B does) so
that the runs finished at interpreter exit know how the program ended.

``sys.exit(0)`` / ``sys.exit()`` -> finished, exit code 0; ``sys.exit(1)`` -> failed, exit code 1;
``sys.exit("message")`` -> failed, exit code 1 (Python prints the message and exits with 1); an
uncaught exception (``KeyboardInterrupt`` too) -> failed, exit code 1.
The hooks are removed when the last active run finishes. Not seen: ``raise SystemExit(n)`` written
out, ``os._exit``, a ``sys.exit`` imported (``from sys import exit``) before the run started, and
``sys.exit`` in a thread other than the main one (it ends only that thread).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

__all__ = ["install", "recorded_exit", "uninstall"]

_lock = threading.Lock()
_users = 0
_original_exit: Any = None
_original_excepthook: Any = None
_code: int | None = None
_reason: str | None = None


def _exit(status: Any = None) -> None:
    """Stands in for ``sys.exit``: note the exit code, then exit as the original would."""
    global _code, _reason
    if threading.current_thread() is threading.main_thread():
        _code, _reason = exit_code_of(status)
    (_original_exit or _fallback_exit)(status)


def _fallback_exit(status: Any = None) -> None:
    raise SystemExit(status)


def _excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    global _code, _reason
    if threading.current_thread() is threading.main_thread():
        _code = 1
        _reason = f"{kind.__name__}: {value}" if str(value) else kind.__name__
    hook = _original_excepthook if _original_excepthook is not None else sys.__excepthook__
    hook(kind, value, tb)


def exit_code_of(status: Any) -> tuple[int, str | None]:
    """The process exit code for ``sys.exit(status)``, and a reason for a non-zero one."""
    if status is None:
        return 0, None
    if isinstance(status, int) and not isinstance(status, bool):
        return status, (f"sys.exit({status})" if status else None)
    if isinstance(status, bool):
        return int(status), (f"sys.exit({status})" if status else None)
    return 1, f"sys.exit({status!r})"


def recorded_exit() -> tuple[int | None, str | None]:
    """The exit code and reason noted by the hooks (``(None, None)`` when the program did not call
    ``sys.exit`` and raised nothing uncaught)."""
    return _code, _reason


def install() -> None:
    """Hook ``sys.exit`` and ``sys.excepthook`` (once, however many runs are active)."""
    global _users, _original_exit, _original_excepthook, _code, _reason
    with _lock:
        _users += 1
        if _users > 1:
            return
        _code = _reason = None
        _original_exit = sys.exit
        _original_excepthook = sys.excepthook
        sys.exit = _exit  # type: ignore[assignment]
        sys.excepthook = _excepthook


def uninstall() -> None:
    """Undo ``install``; the last active run puts the originals back (if nobody replaced ours since)."""
    global _users, _original_exit, _original_excepthook
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users:
            return
        if sys.exit is _exit:
            sys.exit = _original_exit
        if sys.excepthook is _excepthook:
            sys.excepthook = _original_excepthook
        # Someone who wrapped our hooks still calls them: they pass through to the originals kept here.
