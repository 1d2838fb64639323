"""A per-run index of ``history.jsonl``: per-key columns and min/max rollups, so that a chart of one
key out of a million rows is read in milliseconds and ``history_keys`` is never a scan.

Layout, in ``<run>/index/``::

    meta.json        what the files hold, up to which byte of history.jsonl (replaced atomically)
    _step.x ...      one float64 per row for each row axis (NaN where a row lacks it)
    k<N>.v           the numeric values of key N, float64, in written order
    k<N>.r           their row numbers, int64 (only once the key skipped a row: dense keys have none)
    k<N>.m1/.M1/.n1  min, max and NaN count of each block of 32 values (level 1), float64/float64/int64
    k<N>.m2/.M2/.n2  the same over blocks of 1,024 values (level 2)

``history.jsonl`` stays the source of truth. The index is written by the run's writer as it appends
rows (``_index_files.IndexWriter``), flushed every few thousand rows and at close; a reader trusts it
only up to the byte ``meta.json`` names, after checking that the history there is still the same
bytes, and reads the rows after that byte itself (``_index_files.load_index``). This module is the
index in memory (``IndexState``: how rows become columns); ``_index_files`` puts it on disk. An index that is missing, from another
machine's byte order, or does not match the history is rebuilt (or, while the run is being written,
built in memory). Checkpoint rows (``_partial``) that a later row replaced are tracked as dead; a
rewind marker (``_rewind``) sends readers to the plain path, which applies ``resolve_history``.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from ._store import CHECKPOINT_KEY, REPLACES_KEY, KeyInfo

__all__ = ["AXES", "BLOCK", "INDEX_DIR", "Column", "IndexState", "KeyColumns", "Lazy", "fill_buffers"]

INDEX_DIR = "index"
VERSION = 2  # 2: blocks of 32 values (the PostgreSQL store's), so both stores bucket wide charts alike
AXES = ("_step", "_timestamp", "_runtime")
REWIND_KEY = "_rewind"
_SKIP = frozenset(AXES) | {CHECKPOINT_KEY, REPLACES_KEY, REWIND_KEY, "_writer"}
BLOCK = 32  # values per level-1 block, and level-1 blocks per level-2 block
_NUMERIC = {float, int}
_ONLY_NUMBERS = {"number"}
_MARKERS = frozenset({CHECKPOINT_KEY, REPLACES_KEY, REWIND_KEY})
_NAN = float("nan")


class Lazy:
    """A column's values on disk, read on first use (``_index_files.ColumnFile``)."""

    count = 0

    def __len__(self) -> int:
        return self.count

    def load(self) -> Any:
        raise NotImplementedError

    def read_range(self, a: int, b: int) -> array[Any]:
        raise NotImplementedError


class Column:
    """A column: the part on disk (read on first use) followed by values not yet on disk."""

    __slots__ = ("_disk", "tail", "n_disk")

    def __init__(self, disk: Any, tail: array[Any]) -> None:
        self._disk = disk
        self.tail = tail
        self.n_disk = len(disk)

    @property
    def disk(self) -> Any:
        disk = self._disk
        if isinstance(disk, Lazy):
            disk = self._disk = disk.load()
        return disk

    @disk.setter
    def disk(self, value: Any) -> None:
        self._disk = value

    def since(self, a: int) -> list[Any]:
        """The values on disk from position ``a`` on (without reading the rest of the file)."""
        disk = self._disk
        if isinstance(disk, Lazy):
            return list(disk.read_range(a, self.n_disk))
        return list(disk[a: self.n_disk])

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
        self.buf1: array[float] | None = array("d")  # values not yet in a level-1 block (< 32); None: not read yet
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


def fill_buffers(columns: KeyColumns) -> array[float]:
    """Read back the values and level-1 entries not yet rolled up (< BLOCK each) of a key from disk."""
    columns.buf1 = array("d", columns.values.since(columns.rolled1 * BLOCK))
    start = columns.rolled2 * BLOCK
    level1 = columns.levels[1]
    columns.buf2 = (array("d", level1[0].since(start)), array("d", level1[1].since(start)), array("q", level1[2].since(start)))
    if len(columns.buf1) >= BLOCK or len(columns.buf2[0]) >= BLOCK:
        raise ValueError(f"the index of {columns.name!r} does not add up")
    return columns.buf1


class IndexState:
    """Everything the index knows, with new rows appended in memory (the tail) until flushed."""

    def __init__(self) -> None:
        self.history_size = 0
        self.rows = 0
        self.loaded = [0]  # bytes of column files read into memory (IndexCache bounds it)
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
        buf = columns.buf1 if columns.buf1 is not None else fill_buffers(columns)
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
