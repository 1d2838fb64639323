"""Exit codes: while a run is active, ``sys.exit`` and ``sys.excepthook`` are hooked (as W&B does) so
that the runs finished at interpreter exit know how the program ended; on Python 3.12+ a
``sys.monitoring`` hook also sees a ``SystemExit`` leave the program's outermost frame.

``sys.exit(0)`` / ``sys.exit()`` -> finished, exit code 0; ``sys.exit(1)`` -> failed, exit code 1;
``sys.exit("message")`` -> failed, exit code 1 (Python prints the message and exits with 1); an
uncaught exception (``KeyboardInterrupt`` too) -> failed, exit code 1. A ``SystemExit`` caught and
not raised again (``pytest.raises(SystemExit)``, a CLI parser tried on bad input) is not the
program's exit code and is forgotten; one that passes through ``with`` and ``finally`` still counts.

Python hands ``atexit`` no exit code, and a ``SystemExit`` that ends the program never reaches
``sys.excepthook``: the interpreter reads its code and exits. So the only ways to learn the code
are on the exception's path: the ``sys.exit`` wrapper (every Python), and on 3.12+ a ``PY_UNWIND``
callback (PEP 669) that sees each exception leave a Python frame, among them ``raise SystemExit(n)``
written out and an ``exit`` imported with ``from sys import exit`` before the run started. The
callback costs nothing until an exception leaves a function, then about 0.2 us per frame it leaves
(one Python call and an ``isinstance``; 3.12 and 3.13). It takes a free tool id (3 or 4) and
gives it back when the last run finishes; with both taken by other tools, only the wrapper is left.

Not seen on any Python: ``os._exit`` (no exit hook runs at all) and ``sys.exit`` in a thread other
than the main one (it ends only that thread). Not seen before 3.12: ``raise SystemExit(n)`` written
out, and a ``sys.exit`` imported before the run started.
The hooks are removed when the last active run finishes.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

__all__ = ["forget_after_fork", "install", "recorded_exit", "uninstall"]

_lock = threading.Lock()
_users = 0
_original_exit: Any = None
_original_excepthook: Any = None
_uncaught: tuple[int, str] | None = None  # an exception that reached sys.excepthook in the main thread
_exit_call: SystemExit | None = None  # the SystemExit of the main thread's last sys.exit() call
_ended: tuple[int, str | None] | None = None  # 3.12+: the SystemExit that left the outermost frame
_monitor_id: int | None = None  # 3.12+: our sys.monitoring tool id while the unwind hook is on

_TOOL_IDS = (3, 4)  # the ids PEP 669 leaves unnamed (0 debugger, 1 coverage, 2 profiler, 5 optimizer)


def _exit(status: Any = None) -> None:
    """Stands in for ``sys.exit``: exit as the original would, noting the ``SystemExit`` it raises."""
    global _exit_call
    try:
        (_original_exit or _fallback_exit)(status)
    except SystemExit as exc:
        if threading.current_thread() is threading.main_thread():
            _exit_call = exc  # judged at exit (kept till then, traceback and all): did it end the program?
        raise


def _fallback_exit(status: Any = None) -> None:
    raise SystemExit(status)


def _excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    global _uncaught
    if threading.current_thread() is threading.main_thread():
        _uncaught = (1, f"{kind.__name__}: {value}" if str(value) else kind.__name__)
    hook = _original_excepthook if _original_excepthook is not None else sys.__excepthook__
    hook(kind, value, tb)


def _on_unwind(code: Any, offset: int, exc: BaseException) -> None:
    """3.12+ ``PY_UNWIND`` callback: note a ``SystemExit`` leaving the main thread's outermost frame.

    Runs for every frame an exception leaves, in every thread, so the common case is one
    ``isinstance``; it must never raise (that would replace the user's exception).
    """
    global _ended
    if not isinstance(exc, SystemExit):
        return
    try:
        frame = sys._getframe(1)  # the frame the exception is leaving
        if frame.f_back is None and threading.current_thread() is threading.main_thread() and not sys.flags.inspect:
            exit_code, reason = exit_code_of(exc.code)
            if _exit_call is not exc and reason is not None:
                reason = "SystemExit" + reason[len("sys.exit"):]  # raised as written, not through sys.exit()
            _ended = (exit_code, reason)
    except Exception:  # pragma: no cover - never let bookkeeping replace the user's exception
        pass


def exit_code_of(status: Any) -> tuple[int, str | None]:
    """The process exit code for ``sys.exit(status)``, and a reason for a non-zero one."""
    if status is None:
        return 0, None
    if isinstance(status, int) and not isinstance(status, bool):
        return status, (f"sys.exit({status})" if status else None)
    if isinstance(status, bool):
        return int(status), (f"sys.exit({status})" if status else None)
    return 1, f"sys.exit({status!r})"


def _left_the_program(exc: SystemExit) -> bool:
    """Whether the ``SystemExit`` of a ``sys.exit()`` call went on to end the program (the check used
    without the unwind hook).

    Before 3.12 an exception's ``__traceback__`` is set each time a frame enters a handler for it
    (``except``, ``finally``, the end of a ``with``), not while it merely passes through frames: so
    it starts at the last frame that handled it. If that is ``_exit`` itself, nothing handled it
    since. Else that frame swallowed it and went on, or re-raised it and nothing after handled it:
    then the frame ended on a raise, or (a ``with``) back at the instruction the exception came
    through. From 3.12 the traceback grows at every frame, so it must also start at the outermost.
    """
    tb = exc.__traceback__
    if tb is None:
        return True
    frame = tb.tb_frame
    if frame.f_code is _exit.__code__:
        return True
    if sys.version_info >= (3, 12) and frame.f_back is not None:
        return False
    code, last = frame.f_code.co_code, frame.f_lasti
    if last == tb.tb_lasti:
        return True
    import dis

    return 0 <= last < len(code) and dis.opname[code[last]] in ("RERAISE", "RAISE_VARARGS")


def recorded_exit() -> tuple[int | None, str | None]:
    """The program's exit code and reason, as far as the hooks saw it: ``(None, None)`` when it did
    not end through ``sys.exit`` / ``SystemExit`` and raised nothing uncaught (or ended some way the
    hooks cannot see)."""
    if _uncaught is not None:
        return _uncaught
    if _ended is not None:
        return _ended
    if _monitor_id is not None:  # the unwind hook was on and saw no SystemExit end the program
        return None, None
    if _exit_call is not None and _left_the_program(_exit_call):
        return exit_code_of(_exit_call.code)
    return None, None


def install() -> None:
    """Hook ``sys.exit`` and ``sys.excepthook`` (once, however many runs are active)."""
    global _users, _original_exit, _original_excepthook, _uncaught, _exit_call, _ended
    with _lock:
        _users += 1
        if _users > 1:
            return
        _uncaught = _exit_call = _ended = None
        _original_exit = sys.exit
        _original_excepthook = sys.excepthook
        sys.exit = _exit  # type: ignore[assignment]
        sys.excepthook = _excepthook
        _start_unwind_hook()


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
        _stop_unwind_hook()


def forget_after_fork() -> None:
    """In a forked child: what the parent noted is not the child's ending."""
    global _uncaught, _exit_call, _ended
    _uncaught = _exit_call = _ended = None


def _start_unwind_hook() -> None:
    global _monitor_id
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:  # Python < 3.12
        return
    for tool_id in _TOOL_IDS:
        try:
            if monitoring.get_tool(tool_id) is not None:
                continue
            monitoring.use_tool_id(tool_id, "trackkit")
        except ValueError:  # taken meanwhile
            continue
        monitoring.register_callback(tool_id, monitoring.events.PY_UNWIND, _on_unwind)
        monitoring.set_events(tool_id, monitoring.events.PY_UNWIND)
        _monitor_id = tool_id
        return


def _stop_unwind_hook() -> None:
    global _monitor_id
    monitoring = getattr(sys, "monitoring", None)
    tool_id, _monitor_id = _monitor_id, None
    if monitoring is None or tool_id is None:
        return
    try:
        if monitoring.get_tool(tool_id) == "trackkit":
            monitoring.set_events(tool_id, 0)
            monitoring.register_callback(tool_id, monitoring.events.PY_UNWIND, None)
            monitoring.free_tool_id(tool_id)
    except ValueError:  # pragma: no cover - freed by someone else
        pass
