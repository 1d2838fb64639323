"""The background writer: takes committed rows off the training thread and persists them in
batches, so that ``run.log`` never waits for the disk.

Memory stays flat however many steps a loop logs: the training thread wakes the writer once
``WAKE_WRITER_AT`` rows wait (``Run._commit`` calls ``keep_pace``, and again every 128 rows
while they keep waiting), the writer encodes them
with orjson (``_jsonl``) in chunks of ``CHUNK_ROWS``, and if it still falls behind by more than
``max_queued_rows`` (``TRACKKIT_MAX_QUEUED_ROWS``, default 2,000 rows, under 2 MB), ``log()``
waits until the writer has brought the queue down to half of that. Each such wait is counted in
``backpressure_waits``. ``log()`` never waits on a store that fails, nor for longer than
``MAX_WAIT`` seconds at a time.

Storage errors never reach the training loop: the first one prints a warning, the rows are
kept in memory (up to ``max_buffered_rows``) and retried on the next cycle; rows that had to
be dropped beyond that bound are counted and reported at finish.
"""

from __future__ import annotations

import collections
import functools
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

from ._errors import StorageWarning
from ._store import RunSink

__all__ = ["CHUNK_ROWS", "MAX_QUEUED_ROWS", "MAX_WAIT", "BackgroundWriter"]

HEARTBEAT_INTERVAL = 5.0
#: Rows the writer encodes and appends in one store call.
CHUNK_ROWS = 500
#: The default bound on rows waiting for the writer before ``log()`` waits for it.
MAX_QUEUED_ROWS = 2_000
#: The longest one backpressure wait lasts: a stalled (not failing) store slows ``log()``, never stops it.
MAX_WAIT = 1.0


class BackgroundWriter:
    """A daemon thread that drains ``queue`` into ``sink.append_history`` every ``interval`` seconds."""

    def __init__(
        self,
        sink: RunSink,
        *,
        name: str,
        interval: float = 1.0,
        max_buffered_rows: int = 1_000_000,
        max_queued_rows: int = MAX_QUEUED_ROWS,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        on_cycle: Callable[[], None] | None = None,
    ) -> None:
        self.queue: collections.deque[dict[str, Any]] = collections.deque()
        self.rows_written = 0
        self.rows_dropped = 0
        #: How often ``log()`` waited for the writer (the queue passed ``max_queued_rows``).
        self.backpressure_waits = 0
        #: Seconds ``log()`` spent in those waits, in all.
        self.backpressure_wait_s = 0.0
        self._max_queued = max(1, max_queued_rows)
        self._heartbeat_interval = heartbeat_interval
        self._room = threading.Condition(threading.Lock())
        self._sink = sink
        self._interval = interval
        self._max_buffered = max_buffered_rows
        self._on_cycle = on_cycle
        self._retry: list[dict[str, Any]] = []
        self._tasks: collections.deque[Callable[[], object]] = collections.deque()
        self._wake = threading.Event()
        self._stop = False
        self._cycles = 0
        self._cycle_done = threading.Condition()
        self._failing = False
        self._failure_lock = threading.Lock()
        self._last_heartbeat = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name=f"trackkit-writer-{name}", daemon=True)
        self._thread.start()

    # -- called from the training thread ---------------------------------------------------------
    def wake(self) -> None:
        """Start a write cycle now instead of at the next interval."""
        self._wake.set()

    def keep_pace(self) -> None:
        """Called by the training thread while many rows wait: wake the writer, and once more than
        ``max_queued_rows`` wait, wait (at most ``MAX_WAIT`` s) until it has written half of them."""
        if not self._wake.is_set():
            self._wake.set()
        if len(self.queue) <= self._max_queued or self._failing or self._stop:
            return
        if not self._thread.is_alive():
            return
        low = self._max_queued // 2
        queue = self.queue
        start = time.perf_counter()
        with self._room:
            self._room.wait_for(lambda: len(queue) <= low or self._failing or self._stop, MAX_WAIT)
        self.backpressure_waits += 1
        self.backpressure_wait_s += time.perf_counter() - start

    def submit(self, task: Callable[[], object]) -> None:
        """Run ``task`` (a small store write) on the writer thread, in order with the rows."""
        self._tasks.append(task)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (or has failed); False on timeout."""
        if not self._thread.is_alive():
            return False
        with self._cycle_done:
            target = self._cycles + 2  # a cycle that started before this call may have missed our rows

            def done() -> bool:
                if self._cycles >= target or not self._thread.is_alive():
                    return True
                self._wake.set()  # wake the writer for each cycle we wait for, not only the first
                return False

            return self._cycle_done.wait_for(done, timeout)

    def close(self, final: Callable[[], None] | None = None, timeout: float = 10.0) -> bool:
        """Write everything, run ``final`` on the writer thread, stop; False if ``timeout`` ran out."""
        if final is not None:
            self._tasks.append(final)
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def pending_rows(self) -> int:
        """Rows not yet durable."""
        return len(self.queue) + len(self._retry)

    # -- the thread ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            stopping = self._stop
            self._cycle(final=stopping)
            with self._cycle_done:
                self._cycles += 1
                self._cycle_done.notify_all()
            if stopping:
                return

    def _cycle(self, final: bool = False) -> None:
        self._write_rows(final)
        while self._tasks:
            task = self._tasks[0]
            if not self._attempt("metadata", task) and not self._stop:
                break  # keep order: retry next cycle
            self._tasks.popleft()
        now = time.monotonic()
        if now - self._last_heartbeat >= self._heartbeat_interval:
            self._last_heartbeat = now
            self._attempt("heartbeat", self._sink.heartbeat)
        if self._on_cycle is not None:
            self._attempt("summary", self._on_cycle)

    def _write_rows(self, final: bool) -> None:
        """Write the rows queued when the cycle began, ``CHUNK_ROWS`` at a time (rows that failed
        before go first, in one batch); rows queued meanwhile wait for the next cycle."""
        queue = self.queue
        popleft = queue.popleft
        rows = self._retry
        self._retry = []
        todo = len(queue)
        while rows or todo:
            take = min(todo, max(CHUNK_ROWS - len(rows), 0))
            rows.extend([popleft() for _ in range(take)])
            todo -= take
            if not self._attempt("history", functools.partial(self._sink.append_history, rows)):
                rows.extend([popleft() for _ in range(todo)])
                overflow = len(rows) if final else len(rows) - self._max_buffered
                if overflow > 0:  # the oldest rows go first; at finish, whatever is still unsaved
                    self.rows_dropped += overflow
                    rows = rows[overflow:]
                self._retry = rows
                break
            self.rows_written += len(rows)
            rows = []
            self._made_room()
        self._made_room()  # failing now, or stopping: a waiting log() goes on

    def _made_room(self) -> None:
        with self._room:
            self._room.notify_all()

    def _attempt(self, what: str, action: Callable[[], object]) -> bool:
        try:
            action()
        except Exception as error:  # never let storage trouble kill the thread
            self.report_failure(what, error)
            return False
        if self._failing and what == "history":
            self._failing = False
            rows = "; buffered rows were written" if self.__dict__.pop("_rows_buffered", False) else ""
            _say(f"trackkit: the store is writable again (pid {os.getpid()}){rows}.")
        return True

    def report_failure(self, what: str, error: BaseException) -> None:
        """Note a failed store write; the first failure of an outage prints one warning."""
        if what == "history":
            self._rows_buffered = True  # only then does "buffered rows were written" follow
        with self._failure_lock:  # called from the writer thread and (config writes) the training thread
            first, self._failing = not self._failing, True
        if first:
            message = (
                f"trackkit could not write the run's {what} ({type(error).__name__}: {error}). Training goes on; "
                f"trackkit keeps up to {self._max_buffered:,} rows in memory and retries every "
                f"{self._interval:g}s. This warning is shown once."
            )
            try:
                warnings.warn(message, StorageWarning, stacklevel=2)
            except Exception:  # warnings turned into errors must not kill the writer thread
                _say(f"StorageWarning: {message}")


def _say(message: str) -> None:
    try:
        print(message, flush=True, file=sys.stderr)
    except Exception:  # pragma: no cover - stderr closed at shutdown
        pass
