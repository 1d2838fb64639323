"""The history index on disk (``_history_index`` describes the layout): writing it as the run's
writer appends rows, reading it back only as far as it can be trusted, rebuilding it when not.

A reader trusts ``index/`` only up to the byte of ``history.jsonl`` that ``meta.json`` names, after
checking that the history there is still the same bytes (a fingerprint of the 32 bytes before it),
and reads the rows after that byte itself. Column files are appended, then ``meta.json`` is replaced
(the commit point); bytes beyond what ``meta.json`` counts are cut off by the next write. One writer
at a time holds ``index/lock``: the run's writer, or a reader of a run that nobody writes.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from ._history_index import AXES, INDEX_DIR, VERSION, Column, IndexState, KeyColumns, Lazy, fill_buffers
from ._jsonl import decode_array

__all__ = ["IndexCache", "IndexDamaged", "IndexWriter", "load_index"]


def _fingerprint(path: str, size: int) -> str:
    """The last 32 bytes of the history before ``size``, to tell a rewritten file apart."""
    if size == 0:
        return ""
    with open(path, "rb") as handle:
        handle.seek(max(size - 32, 0))
        return handle.read(min(size, 32)).hex()


def _column_files(state: IndexState) -> list[tuple[str, Column, str]]:
    files = [(f"{axis}.x", state.axes[axis], "d") for axis in AXES]
    for columns in state.keys.values():
        files.append((f"{columns.file}.v", columns.values, "d"))
        if columns.rows is not None:
            files.append((f"{columns.file}.r", columns.rows, "q"))
        for level, (mins, maxs, nans) in columns.levels.items():
            files += [(f"{columns.file}.m{level}", mins, "d"), (f"{columns.file}.M{level}", maxs, "d"),
                      (f"{columns.file}.n{level}", nans, "q")]
    return files


class _OnDisk:
    """Stands for the part of a column the writer has flushed and no longer holds."""

    __slots__ = ("count",)

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count


def write_state(index_dir: str, state: IndexState, history_path: str, *, release: bool) -> None:
    """Append every column's tail to its file, then replace ``meta.json`` (the commit point). The
    caller holds the index lock. With ``release`` (the writer) the written values leave memory."""
    os.makedirs(index_dir, exist_ok=True)
    for name, column, code in _column_files(state):
        if not column.tail:  # nothing new (bytes a crash left past the count are cut by the next append)
            continue
        path = os.path.join(index_dir, name)
        expected = column.n_disk * array(code).itemsize
        with open(path, "ab") as handle:
            if handle.tell() != expected:  # a crash after the data but before meta.json: drop the excess
                handle.truncate(expected)
                handle.seek(expected)
            handle.write(column.tail.tobytes())
        if release:
            column.disk = _OnDisk(column.n_disk + len(column.tail))
            column.n_disk = column.disk.count
            column.tail = array(code)
    meta = {
        "version": VERSION, "byteorder": sys.byteorder, "history_size": state.history_size,
        "fingerprint": _fingerprint(history_path, state.history_size), "rows": state.rows, "slow": state.slow,
        "axes": state.axis_info, "keys": {name: columns.meta() for name, columns in state.keys.items()},
        "partials": state.partials, "dead": state.dead,
    }
    tmp = os.path.join(index_dir, f"meta.json.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(meta, handle, allow_nan=True)
    os.replace(tmp, os.path.join(index_dir, "meta.json"))


class _IndexLock:
    """An exclusive flock on ``index/lock`` while the index files are written."""

    def __init__(self, index_dir: str, *, wait: bool) -> None:
        self.index_dir, self.wait = index_dir, wait
        self.handle: Any = None

    def __enter__(self) -> bool:
        os.makedirs(self.index_dir, exist_ok=True)
        self.handle = open(os.path.join(self.index_dir, "lock"), "a+")  # noqa: SIM115 - closed in __exit__
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: only the run's writer writes the index there
            return self.wait
        try:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


class ColumnFile(Lazy):
    """A column file, read whole on first use (not mapped: a mapping holds a file descriptor, and a
    UI charting many runs would run out of them)."""

    __slots__ = ("path", "count", "code", "loaded")

    def __init__(self, path: str, count: int, code: str, loaded: list[int]) -> None:
        self.path, self.count, self.code, self.loaded = path, count, code, loaded

    def load(self) -> array[Any]:
        values = self.read_range(0, self.count)
        self.loaded[0] += len(values) * values.itemsize
        return values

    def read_range(self, a: int, b: int) -> array[Any]:
        values = array(self.code)
        if b <= a:
            return values
        with open(self.path, "rb") as handle:
            handle.seek(a * values.itemsize)
            try:
                values.fromfile(handle, b - a)  # straight into the array (one copy, not two)
            except EOFError:
                raise IndexDamaged(f"{self.path} is shorter than its index says") from None
        return values


class IndexDamaged(ValueError):
    """A column file does not hold what ``meta.json`` says: the index is rebuilt."""


def _read_state(index_dir: str, history_path: str, history_size: int) -> IndexState | None:
    """The state ``meta.json`` describes, its columns read from disk on first use; None if it
    cannot be trusted."""
    try:
        with open(os.path.join(index_dir, "meta.json"), encoding="utf-8") as handle:
            meta = json.load(handle)
        if meta.get("version") != VERSION or meta.get("byteorder") != sys.byteorder:
            return None
        size = int(meta["history_size"])
        if size > history_size or _fingerprint(history_path, size) != meta["fingerprint"]:
            return None
        state = IndexState()
        state.history_size, state.rows, state.slow = size, int(meta["rows"]), bool(meta["slow"])
        state.axis_info = meta["axes"]
        state.partials, state.dead = meta["partials"], list(meta["dead"])
        loaded = state.loaded
        for axis in AXES:
            state.axes[axis] = Column(ColumnFile(os.path.join(index_dir, f"{axis}.x"), state.rows, "d", loaded), array("d"))
        for name, entry in meta["keys"].items():
            columns = KeyColumns(name, entry["file"])
            columns.info, columns.points, columns.dense_from = entry["info"], int(entry["points"]), entry["dense_from"]
            columns.rolled1, columns.rolled2 = int(entry["rolled1"]), int(entry["rolled2"])
            base = os.path.join(index_dir, columns.file)
            columns.values = Column(ColumnFile(base + ".v", columns.points, "d", loaded), array("d"))
            if columns.dense_from is None:
                columns.rows = Column(ColumnFile(base + ".r", columns.points, "q", loaded), array("q"))
            for level, count in ((1, columns.rolled1), (2, columns.rolled2)):
                columns.levels[level] = (Column(ColumnFile(f"{base}.m{level}", count, "d", loaded), array("d")),
                                         Column(ColumnFile(f"{base}.M{level}", count, "d", loaded), array("d")),
                                         Column(ColumnFile(f"{base}.n{level}", count, "q", loaded), array("q")))
            columns.buf1 = None  # read back from disk when rows are added (fill_buffers)
            state.keys[name] = columns
        return state
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _parse_lines(body: bytes) -> list[dict[str, Any]]:
    """The rows of complete JSON lines (one C-level parse; line by line if one is damaged)."""
    try:
        rows = decode_array(b"[" + body[:-1].replace(b"\n", b",") + b"]")
    except ValueError:
        rows = []
        for line in body.split(b"\n"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return [row for row in rows if isinstance(row, dict)]


def _catch_up(state: IndexState, history_path: str, size: int, chunk: int = 32 << 20) -> None:
    """Fold the complete rows of the history from ``state.history_size`` to ``size`` into the
    state, a few MB at a time (a rebuild never holds the whole history in memory)."""
    with open(history_path, "rb") as handle:
        handle.seek(state.history_size)
        while state.history_size < size:
            data = handle.read(min(chunk, size - state.history_size))
            end = data.rfind(b"\n") + 1
            if not end:
                if len(data) < size - state.history_size:  # one line longer than a chunk
                    chunk *= 2
                    handle.seek(state.history_size)
                    continue
                return  # an unterminated last line: a row being written
            state.add_rows(_parse_lines(data[:end]))
            state.history_size += end
            handle.seek(state.history_size)


def load_index(run_dir: str, *, persist: bool) -> IndexState | None:
    """The index of a run, caught up with its history: the files as far as they can be trusted, the
    rest of the history read into the tail. With ``persist`` (nobody is writing the run) what was
    read is written to the index, so the next reader need not. None when the run has no history."""
    history_path = os.path.join(run_dir, "history.jsonl")
    try:
        history_size = os.stat(history_path).st_size
    except FileNotFoundError:
        return None
    index_dir = os.path.join(run_dir, INDEX_DIR)
    state = _read_state(index_dir, history_path, history_size)
    rebuilt = state is None
    if state is None:
        state = IndexState()
    if state.history_size < history_size:
        covered = state.history_size
        try:
            _catch_up(state, history_path, history_size)
        except (OSError, ValueError):  # the files changed under us (a writer rebuilt them): start over
            state, rebuilt, covered = IndexState(), True, 0
            _catch_up(state, history_path, history_size)
        if persist and state.history_size > covered:
            try:
                with _IndexLock(index_dir, wait=False) as locked:
                    if locked and (rebuilt or _meta_size(index_dir) == covered):
                        if rebuilt:
                            _clear_files(index_dir)
                        write_state(index_dir, state, history_path, release=False)
            except OSError:
                pass  # a read-only store: the index lives in memory for this read
    return state


def _meta_size(index_dir: str) -> int | None:
    """The history size the index on disk covers (None without a readable meta.json)."""
    try:
        with open(os.path.join(index_dir, "meta.json"), encoding="utf-8") as handle:
            return int(json.load(handle)["history_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _clear_files(index_dir: str) -> None:
    """Remove the index files (not the lock, which the caller holds)."""
    try:
        names = os.listdir(index_dir)
    except OSError:
        return
    for name in names:
        if name != "lock":
            try:
                os.unlink(os.path.join(index_dir, name))
            except OSError:
                pass


class IndexWriter:
    """Keeps a run's index up to date as its writer appends rows (``LocalRunSink``). Memory stays
    flat: what is flushed leaves memory, only the last partial rollup blocks stay."""

    FLUSH_ROWS = 8192

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.index_dir = os.path.join(run_dir, INDEX_DIR)
        self.history_path = os.path.join(run_dir, "history.jsonl")
        self.state: IndexState | None = None
        self._unflushed = 0
        self.broken = False

    def appended(self, rows: Sequence[dict[str, Any]], start: int, end: int) -> None:
        """Rows were written to the history at bytes ``[start, end)``."""
        if self.broken:
            return
        try:
            state = self.state
            if state is None or state.history_size != start:
                state = self.state = self._caught_up(start)
            state.add_rows(rows)
            state.history_size = end
            self._unflushed += len(rows)
            if self._unflushed >= self.FLUSH_ROWS:
                self.flush()
        except Exception:  # the index is an optimisation: never let it cost a row
            self._break()

    def _caught_up(self, start: int) -> IndexState:
        """The state on disk (or a new one), caught up to byte ``start`` of the history."""
        with _IndexLock(self.index_dir, wait=True):
            state = _read_state(self.index_dir, self.history_path, start)
            if state is None:
                _clear_files(self.index_dir)
                state = IndexState()
            for columns in state.keys.values():  # the writer keeps no column, only what is not rolled up
                if columns.buf1 is None:
                    fill_buffers(columns)
            _catch_up(state, self.history_path, start)
            if state.history_size != start:
                raise ValueError("the history before this append does not end in a complete line")
            write_state(self.index_dir, state, self.history_path, release=True)
        return state

    def flush(self) -> None:
        """Write what the index holds in memory."""
        if self.broken or self.state is None or not self._unflushed:
            return
        try:
            with _IndexLock(self.index_dir, wait=True):
                write_state(self.index_dir, self.state, self.history_path, release=True)
            self._unflushed = 0
        except Exception:
            self._break()

    def _break(self) -> None:
        """Stop maintaining the index and remove it (readers rebuild it); never raises."""
        self.broken = True
        self.state = None
        try:
            with _IndexLock(self.index_dir, wait=True):
                _clear_files(self.index_dir)
        except Exception:
            pass  # a stale index is detected by its size and fingerprint anyway


class IndexCache:
    """Loaded indexes of a store's runs, reused while the history and the index are unchanged; at
    most ``size`` runs and about ``max_bytes`` of column data are kept."""

    def __init__(self, size: int = 512, max_bytes: int = 256 << 20) -> None:
        self.size, self.max_bytes = size, max_bytes
        # run dir -> (stat key, index, its loaded bytes as last counted in ``_bytes``)
        self._entries: dict[str, tuple[tuple[Any, ...], IndexState | None, int]] = {}
        self._bytes = 0  # the sum of the counted bytes: kept as entries come and go, not summed per call
        self._lock = threading.Lock()

    def get(self, run_dir: str, persist: Callable[[], bool]) -> IndexState | None:
        """The run's index; ``persist()`` says whether nobody writes the run (then a missing or
        stale index is written back)."""
        key = (_stat_key(os.path.join(run_dir, "history.jsonl")), _stat_key(os.path.join(run_dir, INDEX_DIR, "meta.json")))
        with self._lock:  # the server reads runs from several threads: the count stays exact
            self._recount_last()  # columns are read after ``get`` returns: count what the last one read since
            cached = self._entries.pop(run_dir, None)
            if cached is not None:
                self._bytes -= cached[2]
        if cached is not None and cached[0] == key and key[0] is not None:
            state = cached[1]
        else:
            state = load_index(run_dir, persist=persist())  # covers at least what ``key`` saw
        counted = state.loaded[0] if state is not None else 0
        with self._lock:
            replaced = self._entries.pop(run_dir, None)  # another thread's, meanwhile
            if replaced is not None:
                self._bytes -= replaced[2]
            self._entries[run_dir] = (key, state, counted)  # most recently used last
            self._bytes += counted
            while len(self._entries) > self.size or (len(self._entries) > 1 and self._bytes > self.max_bytes):
                self._bytes -= self._entries.pop(next(iter(self._entries)))[2]
        return state

    def _recount_last(self) -> None:
        """Update the most recently used entry's count (the one whose columns were read last)."""
        if not self._entries:
            return
        run_dir = next(reversed(self._entries))
        key, state, counted = self._entries[run_dir]
        if state is not None and state.loaded[0] != counted:
            self._entries[run_dir] = (key, state, state.loaded[0])
            self._bytes += state.loaded[0] - counted

    def forget(self, run_dir: str, *, discard: bool) -> None:
        """Drop a run's index from the cache; with ``discard`` (nobody writes the run) remove its
        files too, so the next read rebuilds them."""
        with self._lock:
            dropped = self._entries.pop(run_dir, None)
            if dropped is not None:
                self._bytes -= dropped[2]
        if discard:
            index_dir = os.path.join(run_dir, INDEX_DIR)
            try:
                with _IndexLock(index_dir, wait=False) as locked:
                    if locked:
                        _clear_files(index_dir)
            except OSError:
                pass


def _stat_key(path: str) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)
