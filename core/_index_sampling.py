"""``sample_history`` answered from the history index (``_history_index``) instead of the rows.

Along a row axis that only grows (``_step`` of a run without rewinds, most often ``_timestamp``),
the points of a bucket are a contiguous slice of the key's column. Wide buckets (many blocks each,
e.g. a chart of a long run) are made of whole blocks by ``_block_sampling``'s rule, reading one
rollup per block of 32 values. Narrower ones are exact: the bucket edges are found by bisection and
each bucket's min/max/NaN count is read from the rollups (blocks of 32 and 1,024 values), so the cost
depends on the number of buckets, not of points. Anything else (an axis that goes back, ``x`` a
metric) walks the key's columns point by point, still without parsing JSON. Exact buckets follow
``_sampling``'s rules: the same buckets, exactly, as ``sample_rows`` over the rows. With numpy
installed (the ``server`` extra), ``_sampling_numpy`` computes the same buckets along a growing axis.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from ._block_sampling import dead_positions, first_valid, last_valid, sample_blocks, whole
from ._history_index import AXES, BLOCK, Column, IndexState, KeyColumns
from ._sampling import Accumulator, bucket_index, empty_series
from ._sampling_numpy import numpy_or_none, sample_sorted_numpy
from ._store import SampledSeries

__all__ = ["sample_index"]


def _combine(a: tuple[float, float, int], b: tuple[float, float, int]) -> tuple[float, float, int]:
    return (a[0] if a[0] <= b[0] else b[0], a[1] if a[1] >= b[1] else b[1], a[2] + b[2])


_EMPTY = (math.inf, -math.inf, 0)


def _raw(values: Column, a: int, b: int) -> tuple[float, float, int]:
    result = _EMPTY
    for part in values.parts(a, b):
        if len(part) == 0:
            continue
        total = sum(part)
        if total == total:  # no NaN (inf - inf is also NaN: then the careful way, still right)
            result = _combine(result, (min(part), max(part), 0))
        else:
            kept = [v for v in part if v == v]
            nan = len(part) - len(kept)
            result = _combine(result, (min(kept), max(kept), nan) if kept else (math.inf, -math.inf, nan))
    return result


def _level(columns: KeyColumns, level: int, a: int, b: int) -> tuple[float, float, int]:
    if a >= b:
        return _EMPTY
    mins, maxs, nans = columns.levels[level]
    low = min(min(p) for p in mins.parts(a, b))
    high = max(max(p) for p in maxs.parts(a, b))
    return (low, high, sum(sum(p) for p in nans.parts(a, b)))


def _range(columns: KeyColumns, level: int, a: int, b: int) -> tuple[float, float, int]:
    """min, max and NaN count of entries ``[a, b)`` of a level (0: the values themselves), using
    the blocks of the next level for the whole blocks inside the range."""
    if a >= b:
        return _EMPTY

    def direct(a: int, b: int) -> tuple[float, float, int]:
        return _raw(columns.values, a, b) if level == 0 else _level(columns, level, a, b)

    covered = columns.rolled1 if level == 0 else columns.rolled2 if level == 1 else 0
    head_end = -(-a // BLOCK)
    tail_start = min(b // BLOCK, covered)
    if tail_start - head_end < 2:
        return direct(a, b)
    outer = _combine(direct(a, head_end * BLOCK), direct(tail_start * BLOCK, b))
    return _combine(outer, _range(columns, level + 1, head_end, tail_start))


def _raw_seq(part: Any) -> tuple[float, float, int]:
    total = sum(part)
    if total == total:
        return (min(part), max(part), 0)
    kept = [v for v in part if v == v]
    nan = len(part) - len(kept)
    return (min(kept), max(kept), nan) if kept else (math.inf, -math.inf, nan)


def _stats(columns: KeyColumns, a: int, b: int) -> tuple[float, float, int]:
    """``_range(columns, 0, a, b)``, unrolled for columns read whole from disk (the common case)."""
    values = columns.values
    level1, level2 = columns.levels[1], columns.levels[2]
    if values.tail or level1[0].tail or level2[0].tail:
        return _range(columns, 0, a, b)
    v = values.disk
    first_block = -(-a // BLOCK)
    end_block = min(b // BLOCK, columns.rolled1)
    if end_block - first_block < 2:
        return _raw_seq(v[a:b])
    head = v[a: first_block * BLOCK]
    tail = v[end_block * BLOCK: b]
    mins1, maxs1, nans1 = level1[0].disk, level1[1].disk, level1[2].disk
    first2 = -(-first_block // BLOCK)
    end2 = min(end_block // BLOCK, columns.rolled2)
    if end2 - first2 < 2:
        low, high, nan = min(mins1[first_block:end_block]), max(maxs1[first_block:end_block]), sum(nans1[first_block:end_block])
    else:
        mins2, maxs2, nans2 = level2[0].disk, level2[1].disk, level2[2].disk
        low, high, nan = min(mins2[first2:end2]), max(maxs2[first2:end2]), sum(nans2[first2:end2])
        if first2 * BLOCK > first_block:
            segment = slice(first_block, first2 * BLOCK)
            low, high, nan = min(low, min(mins1[segment])), max(high, max(maxs1[segment])), nan + sum(nans1[segment])
        if end_block > end2 * BLOCK:
            segment = slice(end2 * BLOCK, end_block)
            low, high, nan = min(low, min(mins1[segment])), max(high, max(maxs1[segment])), nan + sum(nans1[segment])
    for part, block in ((head, first_block - 1), (tail, end_block)):
        if len(part):
            if block < columns.rolled1 and not nans1[block]:  # the part's block holds no NaN: skip the check
                part_low, part_high, part_nan = min(part), max(part), 0
            else:
                part_low, part_high, part_nan = _raw_seq(part)
            low, high, nan = min(low, part_low), max(high, part_high), nan + part_nan
    return low, high, nan


def _first_valid(values: Column, a: int, b: int, step: int) -> float | None:
    index = a if step > 0 else b - 1
    while a <= index < b:
        value = values[index]
        if value == value:
            return float(value)
        index += step
    return None


class _Dead:
    """The rows a later row replaced (dead checkpoints), for quick range checks."""

    def __init__(self, rows: Sequence[int]) -> None:
        self.rows = sorted(rows)
        self.set = set(self.rows)

    def any_between(self, low: int, high: int) -> bool:
        if not self.rows:
            return False
        index = bisect.bisect_left(self.rows, low)
        return index < len(self.rows) and self.rows[index] <= high


def sample_index(
    state: IndexState, keys: Sequence[str], x: str, samples: int, start: float | None, stop: float | None
) -> dict[str, SampledSeries] | None:
    """The buckets of each key, or None when the index cannot answer (a rewind: read the rows)."""
    if state.slow:
        return None
    dead = _Dead(state.dead)
    if x in AXES:
        info = state.axis_info[x]
        low, high = info["min"], info["max"]
        carry = None
    else:
        carry = _carry_points(state, x, dead)
        if carry is None:
            return {}  # x never logged as a number: no key has a point
        low, high = (min(carry[1]), max(carry[1])) if carry[1] else (None, None)
    lo = start if start is not None else low
    hi = stop if stop is not None else high
    result: dict[str, SampledSeries] = {}
    for key in dict.fromkeys(keys):
        columns = state.keys.get(key)
        if columns is None or not columns.info.get("count"):
            continue
        if lo is None or hi is None or hi < lo:
            result[key] = empty_series(key, x, lo, hi)
            continue
        accumulator = Accumulator(lo, hi, samples)
        if carry is None and state.axis_info[x]["monotone"]:
            _sample_sorted(state.axes[x], columns, accumulator, dead)
        else:
            _sample_points(state, x, columns, accumulator, dead, carry)
        result[key] = accumulator.series(key, x)
    return result


def _carry_points(state: IndexState, x: str, dead: _Dead) -> tuple[list[int], list[float]] | None:
    """The rows where metric ``x`` has a finite value, and those values (a row without it carries the last)."""
    columns = state.keys.get(x)
    if columns is None:
        return None
    rows, values = [], []
    for position in range(columns.points):
        value = columns.values[position]
        row = columns.row_of(position)
        if math.isfinite(value) and row not in dead.set:
            rows.append(row)
            values.append(float(value))
    return rows, values


def _sample_points(state: IndexState, x: str, columns: KeyColumns, accumulator: Accumulator, dead: _Dead,
                   carry: tuple[list[int], list[float]] | None) -> None:
    """Point by point (an axis that goes back, or ``x`` a metric)."""
    lo, hi = accumulator.start, accumulator.stop
    axis = state.axes[x] if carry is None else None
    for position in range(columns.points):
        row = columns.row_of(position)
        if row in dead.set:
            continue
        if axis is not None:
            xv = axis[row]
            if not math.isfinite(xv):
                continue
        else:
            assert carry is not None
            found = bisect.bisect_right(carry[0], row) - 1
            if found < 0:
                continue
            xv = carry[1][found]
        if lo <= xv <= hi:
            accumulator.add(float(xv), float(columns.values[position]))


def _edges(axis: Column, columns: KeyColumns, first: int, end: int, lo: float, hi: float, samples: int,
           x_at: Any) -> list[int]:
    """The first position of each bucket (and ``end``): bisection of the axis at each bucket's lower
    edge, nudged so that every point sits in the bucket ``bucket_index`` gives it."""
    if hi <= lo:
        return [first] + [end] * samples  # one x for every point: all in the first bucket
    edges = [first]
    width = (hi - lo) / samples
    if columns.rows is None:  # a dense key: positions are rows - offset
        gx, offset = whole(axis), int(columns.dense_from or 0)
        span = hi - lo
        previous = first
        for k in range(1, samples):
            position = bisect.bisect_left(gx, lo + k * width) - offset
            position = previous if position < previous else end if position > end else position
            while position > previous and min(int((gx[offset + position - 1] - lo) * samples / span), samples - 1) >= k:
                position -= 1
            while position < end and min(int((gx[offset + position] - lo) * samples / span), samples - 1) < k:
                position += 1
            edges.append(position)
            previous = position
        edges.append(end)
        return edges
    for k in range(1, samples):
        position = columns.position_of_row(axis.bisect_left(lo + k * width))
        position = max(position, edges[-1])
        while position > edges[-1] and bucket_index(x_at(position - 1), lo, hi, samples) >= k:
            position -= 1
        while position < end and bucket_index(x_at(position), lo, hi, samples) < k:
            position += 1
        edges.append(position)
    edges.append(end)
    return edges


def _sample_sorted(axis: Column, columns: KeyColumns, accumulator: Accumulator, dead: _Dead) -> None:
    """Along an axis that never goes back: each bucket is a slice of the key's column."""
    lo, hi, samples = accumulator.start, accumulator.stop, accumulator.samples
    first = columns.position_of_row(axis.bisect_left(lo))
    end = columns.position_of_row(axis.bisect_right(hi))
    if first >= end:
        return
    np = numpy_or_none()
    if np is not None:  # the same buckets, computed by numpy
        sample_sorted_numpy(np, axis, columns, accumulator, dead_positions(columns, dead.rows, first, end), first, end)
        return
    if sample_blocks(axis, columns, accumulator, dead.rows, first, end, lambda a, b: _range(columns, 1, a, b)):
        return

    def x_at(position: int) -> float:
        return float(axis[columns.row_of(position)])

    if end - first <= 4 * samples:  # few points: one by one is as quick and trivially exact
        for position in range(first, end):
            if not dead.set or columns.row_of(position) not in dead.set:
                accumulator.add(x_at(position), float(columns.values[position]))
        return
    edges = _edges(axis, columns, first, end, lo, hi, samples, x_at)
    if columns.rows is None and not dead.any_between(columns.row_of(first), columns.row_of(end - 1)):
        _dense_buckets(columns, accumulator, edges, whole(axis), whole(columns.values))
        return
    values = columns.values
    for k in range(samples):
        a, b = edges[k], edges[k + 1]
        if a >= b:
            continue
        if dead.rows and dead.any_between(columns.row_of(a), columns.row_of(b - 1)):
            for position in range(a, b):
                if columns.row_of(position) not in dead.set:
                    accumulator.add(x_at(position), float(values[position]))
            continue
        low, high, nan = _stats(columns, a, b)
        count = b - a
        if nan == count:
            accumulator.add_bucket(k, x_at(a), None, None, None, None, count, nan)
        else:
            accumulator.add_bucket(k, x_at(a), _first_valid(values, a, b, 1), _first_valid(values, a, b, -1),
                                   low, high, count, nan)


def _dense_buckets(columns: KeyColumns, accumulator: Accumulator, edges: list[int], gx: Any, v: Any) -> None:
    """The buckets between ``edges`` of a dense key without dead rows: ``_sample_sorted``'s loop with
    the axis and the values read as plain arrays (a zoom's narrow buckets cost a few slices each)."""
    offset = int(columns.dense_from or 0)
    buckets = accumulator.buckets
    total = 0
    for k in range(accumulator.samples):
        a, b = edges[k], edges[k + 1]
        if a >= b:
            continue
        count = b - a
        total += count
        if count <= 4 * BLOCK:
            part = v[a:b]
            check = sum(part)
            if check == check:  # no NaN (nor inf - inf)
                buckets[k] = [gx[offset + a], part[0], part[-1], min(part), max(part), count, 0]
                continue
            low, high, nan = _raw_seq(part)
        else:
            low, high, nan = _stats(columns, a, b)
        if nan == count:
            buckets[k] = [gx[offset + a], None, None, None, None, count, nan]
        else:
            buckets[k] = [gx[offset + a], first_valid(v, a, b), last_valid(v, a, b), low, high, count, nan]
    accumulator.total += total
