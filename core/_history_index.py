"""A per-run index of ``history.jsonl``: per-key columns and min/max rollups, so that a chart of one
key out of a million rows is read in milliseconds and ``history_keys`` is never a scan.

Layout, in ``<run>/index/``::

    meta.json        what the files hold, up to which byte of history.jsonl (replaced atomically)
    _step.x ...      one float64 per row for each row axis (NaN where a row lacks it)
    k<N>.v           the numeric values of key N, float64, in written order
    k<N>.r           their row numbers, int64 (only once the key skipped a row: dense keys have none)
    k<N>.m1/.M1/.n1  min, max and NaN count of each block of 64 values (level 1), float64/float64/int64
    k<N>.m2/.M2/.n2  the same over blocks of 4,096 values (level 2)

``history.jsonl`` stays the source of truth. The index is written by the run's writer as it appends
rows (``IndexWriter``), flushed every few thousand rows and at close; a reader trusts it only up to
the byte ``meta.json`` names, after checking that the history there is still the same bytes, and
reads the rows after that byte itself (``load_index``). An index that is missing, from another
machine's byte order, or does not match the history is rebuilt (or, while the run is being written,
built in memory). Checkpoint rows (``_partial``) that a later row replaced are tracked as dead; a
rewind marker (``_rewind``) sends readers to the plain path, which applies ``resolve_history``.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import sys
from array import array
from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any

from ._jsonl import decode_array
from ._store import CHECKPOINT_KEY, REPLACES_KEY, KeyInfo

__all__ = ["AXES", "INDEX_DIR", "IndexCache", "IndexState", "IndexWriter", "load_index"]

INDEX_DIR = "index"
VERSION = 1
AXES = ("_step", "_timestamp", "_runtime")
REWIND_KEY = "_rewind"
_SKIP = frozenset(AXES) | {CHECKPOINT_KEY, REPLACES_KEY, REWIND_KEY, "_writer"}
BLOCK = 64
_NUMERIC = {float, int}
_ONLY_NUMBERS = {"number"}
_MARKERS = frozenset({CHECKPOINT_KEY, REPLACES_KEY, REWIND_KEY})
_NAN = float("nan")


class Column:
    """A column read from disk (a memoryview over a mapped file) followed by values not yet on disk."""

    __slots__ = ("disk", "tail", "n_disk")

    def __init__(self, disk: Any, tail: array[Any]) -> None:
        self.disk = disk
        self.tail = tail
        self.n_disk = len(disk)

    def __len__(self) -> int:
        return self.n_disk + len(self.tail)

    def __getitem__(self, index: int) -> Any:
        return self.disk[index] if index < self.n_disk else self.tail[index - self.n_disk]

    def parts(self, a: int, b: int) -> list[Any]:
        """The values ``[a, b)`` as at most two sequences."""
        n = self.n_disk
        if b <= n:
            return [self.disk[a:b]]
        if a >= n:
            return [self.tail[a - n: b - n]]
        return [self.disk[a:n], self.tail[: b - n]]

    def bisect_left(self, value: float, lo: int = 0) -> int:
        """The first position whose value is >= ``value`` (the column is sorted)."""
        import bisect

        n = self.n_disk
        if n and (lo < n) and self.disk[n - 1] >= value:
            return bisect.bisect_left(self.disk, value, lo, n)
        return n + bisect.bisect_left(self.tail, value, max(lo - n, 0))

    def bisect_right(self, value: float) -> int:
        """The first position whose value is > ``value`` (the column is sorted)."""
        import bisect

        n = self.n_disk
        if n and self.disk[n - 1] > value:
            return bisect.bisect_right(self.disk, value, 0, n)
        return n + bisect.bisect_right(self.tail, value)


class KeyColumns:
    """One key's index state: its info, and its columns (values, rows, rollups)."""

    __slots__ = ("name", "file", "info", "points", "dense_from", "values", "rows", "rolled1", "rolled2", "levels",
                 "buf1", "buf2")

    def __init__(self, name: str, file: str) -> None:
        self.name, self.file = name, file
        self.info: dict[str, Any] = {}
        self.points = 0  # numeric points on disk + in the tail
        self.dense_from: int | None = None  # rows are dense_from .. dense_from + points - 1
        self.values: Column = Column(array("d"), array("d"))
        self.rows: Column | None = None
        self.rolled1 = 0  # level-1 blocks computed (on disk + tail)
        self.rolled2 = 0
        # level -> (min, max, nan) columns
        self.levels: dict[int, tuple[Column, Column, Column]] = {
            1: (Column(array("d"), array("d")), Column(array("d"), array("d")), Column(array("q"), array("q"))),
            2: (Column(array("d"), array("d")), Column(array("d"), array("d")), Column(array("q"), array("q"))),
        }
        self.buf1 = array("d")  # values not yet in a level-1 block (< 64)
        # level-1 entries not yet in a level-2 block
        self.buf2: tuple[array[float], array[float], array[int]] = (array("d"), array("d"), array("q"))

    def row_of(self, position: int) -> int:
        if self.rows is None:
            return int(self.dense_from or 0) + position
        return int(self.rows[position])

    def position_of_row(self, row: int) -> int:
        """The first position whose row is >= ``row``."""
        if self.rows is None:
            return min(max(row - int(self.dense_from or 0), 0), self.points)
        return self.rows.bisect_left(row)

    def meta(self) -> dict[str, Any]:
        return {"file": self.file, "info": self.info, "points": self.points, "dense_from": self.dense_from,
                "rolled1": self.rolled1, "rolled2": self.rolled2}


def _kind(types: set[type]) -> set[str]:
    kinds = set()
    for t in types:
        if t is float or t is int:
            kinds.add("number")
        elif t is str:
            kinds.add("string")
        else:
            kinds.add("other")
    return kinds


def _block_stats(values: Sequence[float]) -> tuple[float, float, int]:
    """min, max (NaN left out; +inf/-inf when all NaN) and NaN count of some values."""
    total = sum(values)
    if total == total:
        return min(values), max(values), 0
    kept = [v for v in values if v == v]
    if not kept:
        return math.inf, -math.inf, len(values)
    return min(kept), max(kept), len(values) - len(kept)


class IndexState:
    """Everything the index knows, with new rows appended in memory (the tail) until flushed."""

    def __init__(self) -> None:
        self.history_size = 0
        self.rows = 0
        self.slow = False  # a rewind or something the index does not model: readers take the plain path
        self.axes: dict[str, Column] = {axis: Column(array("d"), array("d")) for axis in AXES}
        self.axis_info: dict[str, dict[str, Any]] = {axis: {"monotone": True, "min": None, "max": None, "last": None}
                                                     for axis in AXES}
        self.keys: dict[str, KeyColumns] = {}
        self.partials: dict[str, list[Any]] = {}  # checkpoint id -> [row, [keys]]
        self.dead: list[int] = []  # rows of checkpoints that a later row replaced (sorted)

    # -- appending rows ------------------------------------------------------------------------------
    def add_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Fold rows (in written order) into the state; consecutive rows with the same keys (in the
        same order) are transposed into columns at once."""
        for shape, group in groupby(rows, key=tuple):
            if _MARKERS.isdisjoint(shape):
                self._add_group(shape, list(group))
            else:
                for row in group:
                    self._add_marked(row)

    def _add_marked(self, row: dict[str, Any]) -> None:
        if REWIND_KEY in row:
            self.slow = True
            return
        replaced = row.get(REPLACES_KEY)
        if replaced is not None and str(replaced) in self.partials:
            self._kill(str(replaced))
        checkpoint = row.get(CHECKPOINT_KEY)
        plain = {k: v for k, v in row.items() if k != CHECKPOINT_KEY and k != REPLACES_KEY}
        if checkpoint is not None:
            if str(checkpoint) in self.partials:
                self._kill(str(checkpoint))
            self.partials[str(checkpoint)] = [self.rows, [k for k in plain if k not in _SKIP]]
        self._add_group(tuple(plain), [plain])

    def _kill(self, checkpoint: str) -> None:
        row, keys = self.partials.pop(checkpoint)
        self.dead.append(row)
        self.dead.sort()
        for key in keys:
            columns = self.keys.get(key)
            if columns is not None:
                columns.info["count"] -= 1

    def _add_group(self, shape: tuple[str, ...], group: Sequence[dict[str, Any]]) -> None:
        n = len(group)
        first_row = self.rows
        self.rows += n
        by_key = dict(zip(shape, zip(*map(dict.values, group))))
        steps = by_key.get("_step")
        for axis in AXES:
            values = by_key.get(axis)
            self._extend_axis(axis, values, n)
        first_step = steps[0] if steps is not None and type(steps[0]) is int else None
        last_step = steps[-1] if steps is not None and type(steps[-1]) is int else None
        for key, values in by_key.items():
            if key in _SKIP:
                continue
            self._extend_key(key, values, first_row, first_step, last_step)

    def _extend_axis(self, axis: str, values: Sequence[Any] | None, n: int) -> None:
        info = self.axis_info[axis]
        column = self.axes[axis]
        if values is not None and set(map(type, values)) <= _NUMERIC:
            floats: Sequence[float] = array("d", values)
            column.tail.extend(floats)
            if not math.isfinite(sum(floats)):  # a NaN or an inf (or a sum too big: then look closer)
                finite = [v for v in floats if math.isfinite(v)]
                if len(finite) < len(floats):
                    info["monotone"] = False
                    floats = finite
        else:
            info["monotone"] = False
            column.tail.extend([_NAN] * n if values is None else
                               [float(v) if type(v) in _NUMERIC else _NAN for v in values])
            floats = [float(v) for v in (values or ()) if type(v) in _NUMERIC and math.isfinite(v)]
        if not floats:
            return
        if info["monotone"]:
            last = info["last"]
            if (last is not None and floats[0] < last) or list(floats) != sorted(floats):
                info["monotone"] = False
        if info["monotone"]:
            low, high = floats[0], floats[-1]
        else:
            low, high = min(floats), max(floats)
        info["last"] = floats[-1]
        info["min"] = low if info["min"] is None or low < info["min"] else info["min"]
        info["max"] = high if info["max"] is None or high > info["max"] else info["max"]

    def _extend_key(self, key: str, values: Sequence[Any], first_row: int, first_step: int | None,
                    last_step: int | None) -> None:
        columns = self.keys.get(key)
        if columns is None:
            columns = self.keys[key] = KeyColumns(key, f"k{len(self.keys)}")
        types = set(map(type, values))
        kinds = _ONLY_NUMBERS if types <= _NUMERIC else _kind(types)
        info = columns.info
        if not info:
            info.update(count=0, first_step=first_step, last_step=last_step,
                        type="number" if "number" in kinds else next(iter(kinds)) if len(kinds) == 1 else "other")
        elif "number" in kinds:
            info["type"] = "number"
        elif info["type"] != "number" and (len(kinds) > 1 or info["type"] not in kinds):
            info["type"] = "other"
        info["count"] += len(values)
        if info["first_step"] is None:
            info["first_step"] = first_step
        if last_step is not None:
            info["last_step"] = last_step
        if types <= _NUMERIC:
            numeric = array("d", values)
            rows: Sequence[int] = range(first_row, first_row + len(values))
        else:
            picked = [(first_row + i, v) for i, v in enumerate(values) if type(v) in _NUMERIC]
            if not picked:
                return
            rows = [r for r, _ in picked]
            numeric = array("d", [v for _, v in picked])
        self._append_points(columns, rows, numeric)

    def _append_points(self, columns: KeyColumns, rows: Sequence[int], numeric: array[float]) -> None:
        if columns.points == 0 and columns.rows is None:
            columns.dense_from = rows[0]
        dense = (columns.rows is None and rows[0] == int(columns.dense_from or 0) + columns.points
                 and rows[-1] - rows[0] == len(rows) - 1)
        if not dense and columns.rows is None:  # materialise the implicit rows once
            start = int(columns.dense_from or 0)
            columns.rows = Column(array("q"), array("q", range(start, start + columns.points)))
            columns.dense_from = None
        if columns.rows is not None:
            columns.rows.tail.extend(rows)
        columns.values.tail.extend(numeric)
        columns.points += len(numeric)
        self._roll(columns, numeric)

    def _roll(self, columns: KeyColumns, numeric: array[float]) -> None:
        """Compute the rollup blocks that became complete (from buffers: no column is read back)."""
        buf = columns.buf1
        buf.extend(numeric)
        if len(buf) < BLOCK:
            return
        mins1, maxs1, nans1 = columns.levels[1]
        mins2, maxs2, nans2 = columns.levels[2]
        pending_min, pending_max, pending_nan = columns.buf2
        used = 0
        while len(buf) - used >= BLOCK:
            low, high, nan = _block_stats(buf[used: used + BLOCK])
            used += BLOCK
            mins1.tail.append(low)
            maxs1.tail.append(high)
            nans1.tail.append(nan)
            columns.rolled1 += 1
            pending_min.append(low)
            pending_max.append(high)
            pending_nan.append(nan)
            if len(pending_min) == BLOCK:
                mins2.tail.append(min(pending_min))
                maxs2.tail.append(max(pending_max))
                nans2.tail.append(sum(pending_nan))
                columns.rolled2 += 1
                del pending_min[:], pending_max[:], pending_nan[:]
        del buf[:used]

    def key_infos(self) -> dict[str, KeyInfo]:
        """``history_keys`` from the state."""
        return {name: dict(columns.info) for name, columns in self.keys.items() if columns.info.get("count")}  # type: ignore[misc]


# -- files ---------------------------------------------------------------------------------------------
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
        if not column.tail and column.n_disk == 0 and not os.path.exists(os.path.join(index_dir, name)):
            continue
        path = os.path.join(index_dir, name)
        expected = column.n_disk * array(code).itemsize
        with open(path, "ab") as handle:
            if handle.tell() != expected:  # a crash after the data but before meta.json: drop the excess
                handle.truncate(expected)
                handle.seek(expected)
            if column.tail:
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


def _map(path: str, count: int, code: str) -> Any:
    if count == 0:
        return memoryview(b"").cast(code)  # type: ignore[call-overload]
    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), count * array(code).itemsize, access=mmap.ACCESS_READ)
    return memoryview(mapped).cast(code)  # type: ignore[call-overload]


def _read_state(index_dir: str, history_path: str, history_size: int) -> IndexState | None:
    """The state ``meta.json`` describes, its columns mapped from disk; None if it cannot be trusted."""
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
        for axis in AXES:
            state.axes[axis] = Column(_map(os.path.join(index_dir, f"{axis}.x"), state.rows, "d"), array("d"))
        for name, entry in meta["keys"].items():
            columns = KeyColumns(name, entry["file"])
            columns.info, columns.points, columns.dense_from = entry["info"], int(entry["points"]), entry["dense_from"]
            columns.rolled1, columns.rolled2 = int(entry["rolled1"]), int(entry["rolled2"])
            base = os.path.join(index_dir, columns.file)
            columns.values = Column(_map(base + ".v", columns.points, "d"), array("d"))
            if columns.dense_from is None:
                columns.rows = Column(_map(base + ".r", columns.points, "q"), array("q"))
            for level, count in ((1, columns.rolled1), (2, columns.rolled2)):
                columns.levels[level] = (Column(_map(f"{base}.m{level}", count, "d"), array("d")),
                                         Column(_map(f"{base}.M{level}", count, "d"), array("d")),
                                         Column(_map(f"{base}.n{level}", count, "q"), array("q")))
            columns.buf1 = array("d", columns.values.disk[columns.rolled1 * BLOCK:])
            level1 = columns.levels[1]
            columns.buf2 = (array("d", level1[0].disk[columns.rolled2 * BLOCK:]),
                            array("d", level1[1].disk[columns.rolled2 * BLOCK:]),
                            array("q", level1[2].disk[columns.rolled2 * BLOCK:]))
            if len(columns.buf1) >= BLOCK or len(columns.buf2[0]) >= BLOCK:
                return None
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
    read is written to the index, so the next reader maps it. None when the run has no history."""
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
        _catch_up(state, history_path, history_size)
        if persist and state.history_size > covered:
            try:
                with _IndexLock(index_dir, wait=False) as locked:
                    if locked and _meta_size(index_dir) == (None if rebuilt else covered):
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
    """Loaded indexes of a store's runs, reused while the history and the index are unchanged."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._entries: dict[str, tuple[tuple[Any, ...], IndexState | None]] = {}

    def get(self, run_dir: str, persist: Callable[[], bool]) -> IndexState | None:
        """The run's index; ``persist()`` says whether nobody writes the run (then a missing or
        stale index is written back)."""
        key = (_stat_key(os.path.join(run_dir, "history.jsonl")), _stat_key(os.path.join(run_dir, INDEX_DIR, "meta.json")))
        cached = self._entries.get(run_dir)
        if cached is not None and cached[0] == key and key[0] is not None:
            return cached[1]
        state = load_index(run_dir, persist=persist())  # covers at least what ``key`` saw
        if len(self._entries) >= self.size:
            self._entries.pop(next(iter(self._entries)))
        self._entries[run_dir] = (key, state)
        return state


def _stat_key(path: str) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)
