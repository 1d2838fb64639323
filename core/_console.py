"""Console capture: a copy of what the process prints to ``sys.stdout`` and ``sys.stderr``, kept in a
log file that the run stores as ``output.log``.

How (W&B's "wrap" mode): the ``write`` method of the *existing* stream objects is replaced by one that
calls the original and then copies the text to the log. ``sys.stdout`` stays the very same object, so
what the user sees is unchanged and everything that asks the stream (``isatty()``, ``fileno()``,
``encoding``, ``isinstance`` checks, ``logging`` handlers created before ``init``) gets its usual
answer: tqdm and rich draw their progress bars as before. Output written below Python (C extensions,
``os.write``, subprocesses) does not pass through ``write`` and is not in the log.

The log is line-buffered: a line is written when it ends. Carriage returns are resolved the way a
terminal shows them (a tqdm bar that redraws itself with ``\\r`` leaves one line: its last state).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

__all__ = ["ConsoleLog", "attach", "detach"]

_lock = threading.RLock()
_logs: list[ConsoleLog] = []
_patched: dict[str, Any] = {}  # stream name -> (stream, our write)
_local = threading.local()
_fork_hook = False


class ConsoleLog:
    """One run's copy of the console, appended to ``path`` line by line, up to ``max_bytes``."""

    def __init__(self, path: str, max_bytes: int = 50 * 1024 * 1024) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.bytes_written = 0
        self.version = 0  # bumped whenever a line is written: the caller re-puts the file when it changed
        self.capped = False
        self._pending: dict[str, str] = {}
        self._file: Any = open(path, "a", encoding="utf-8", errors="replace", newline="")  # noqa: SIM115 - open for the run
        self._lock = threading.Lock()

    def feed(self, stream: str, text: str) -> None:
        """Take text written to ``stream`` ("stdout" or "stderr"); write the lines it completes."""
        with self._lock:
            if self._file is None:
                return
            data = self._pending.get(stream, "") + text
            if "\n" not in data:
                self._pending[stream] = _resolve(data) if "\r" in data else data
                return
            lines = data.split("\n")
            last = lines.pop()
            self._pending[stream] = _resolve(last) if "\r" in last else last
            self._write("".join((_resolve(line) if "\r" in line else line) + "\n" for line in lines))

    def _write(self, text: str) -> None:
        if self.capped:
            return
        encoded = len(text.encode("utf-8", "replace"))
        if self.bytes_written + encoded > self.max_bytes:
            self.capped = True
            text = f"[trackkit: output.log stops here, at its limit of {self.max_bytes:,} bytes]\n"
            encoded = len(text)
        try:
            self._file.write(text)
            self._file.flush()
        except (OSError, ValueError):
            return
        self.bytes_written += encoded
        self.version += 1

    def close(self) -> None:
        """Write the unfinished last lines and close the file."""
        with self._lock:
            if self._file is None:
                return
            rest = "".join(line + "\n" for line in self._pending.values() if line.strip())
            self._pending.clear()
            if rest:
                self._write(rest)
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None


def _resolve(line: str) -> str:
    r"""What a terminal shows for a line with carriage returns: its last non-empty segment
    (``"\r 10%\r 20%"`` -> ``" 20%"``; a trailing ``\r``, as in ``\r\n``, changes nothing)."""
    for segment in reversed(line.split("\r")):
        if segment:
            return segment
    return ""


def attach(log: ConsoleLog) -> None:
    """Start copying the console into ``log`` (the streams are patched for the first log)."""
    global _fork_hook
    with _lock:
        if log in _logs:
            return
        _logs.append(log)
        if not _fork_hook and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _fork_hook = True
        for name in ("stdout", "stderr"):
            if name not in _patched:
                _patch(name)


def detach(log: ConsoleLog) -> None:
    """Stop copying into ``log``; the last log to go restores the streams' own ``write``."""
    with _lock:
        if log in _logs:
            _logs.remove(log)
        if not _logs:
            for name in list(_patched):
                _unpatch(name)
    log.close()


def _patch(name: str) -> None:
    stream = getattr(sys, name, None)
    if stream is None:
        return
    original = stream.write

    def write(text: Any) -> Any:
        result = original(text)
        if type(text) is str and text and not getattr(_local, "busy", False):
            _local.busy = True  # a log that prints (a warning) must not feed itself
            try:
                for log in list(_logs):
                    log.feed(name, text)
            except Exception:
                pass
            finally:
                _local.busy = False
        return result

    underneath = stream.__dict__.get("write") if hasattr(stream, "__dict__") else None  # another tool's wrap
    try:
        stream.write = write
    except (AttributeError, TypeError):  # a stream without instance attributes: leave it alone
        return
    _patched[name] = (stream, write, underneath)


def _unpatch(name: str) -> None:
    stream, write, underneath = _patched.pop(name)
    try:
        if stream.__dict__.get("write") is write:
            if underneath is not None:
                stream.write = underneath  # another tool wrapped write before us: give it back
            else:
                del stream.write  # the class's own write shows through again
    except (AttributeError, TypeError):
        pass


def _after_fork_in_child() -> None:
    """A forked child (a DataLoader worker) writes to its own console only: the parent owns the log."""
    global _lock
    _lock = threading.RLock()
    _logs.clear()
    for name in list(_patched):
        _unpatch(name)
