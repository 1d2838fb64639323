"""Wide buckets from the history index's block rollups: a chart of a long run costs its blocks, not its points.

A key's numeric points are numbered in written order, ``BLOCK`` (32) to a block; the index keeps the
min, max and NaN count of every block (``_history_index``). When the buckets are wide, that is when
the key has at least ``WIDE_POINTS`` points in ``[start, stop]`` and a bucket averages at least
``WIDE_BLOCKS`` blocks (100,000 points in 1,000 buckets: ~3 blocks), ``sample_history`` along an axis
that only grows (``_step`` without rewinds, ``_timestamp``, ``_runtime``) reads the blocks instead of
the points, with the rule the PostgreSQL store's blocks follow (``server/_pg_tiles.py``):

    A block whose points fall in at most two neighbouring buckets is taken whole into the bucket
    of its first point.

So a point may be counted in the bucket left of its own, never further, and only when its block
crosses that edge (at most ``BLOCK - 1`` points per edge); every value still lands in a bucket, so a
spike is never hidden, and the counts add up to the points in range. A bucket's ``x``, ``first`` and
``last`` are its first and last points in written order, as ever. Blocks cut by ``start`` or ``stop``
(a zoom), blocks spread over more buckets (a pause in ``_timestamp``) and blocks holding a row that a
later row replaced (a dropped checkpoint) are split point by point, exactly. Narrower buckets keep
the exact per-point rule of ``_sampling`` (``_index_sampling._sample_sorted``): there a run gives
exactly what its rows give.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

from ._history_index import BLOCK, Column, KeyColumns
from ._sampling import Accumulator

__all__ = ["WIDE_BLOCKS", "WIDE_POINTS", "dead_positions", "first_valid", "last_valid", "sample_blocks", "whole"]

WIDE_BLOCKS = 2  # a bucket averages at least this many blocks ...
WIDE_POINTS = 16_384  # ... and the key has at least this many points in range: whole blocks at edges

Stats = Callable[[int, int], "tuple[float, float, int]"]


def whole(column: Column) -> Any:
    """The column's values as one sequence (the part on disk, with the tail appended when there is one)."""
    disk = column.disk
    return disk + column.tail if len(column.tail) else disk


def first_valid(values: Any, a: int, b: int) -> float | None:
    for index in range(a, b):
        value = values[index]
        if value == value:
            return float(value)
    return None


def last_valid(values: Any, a: int, b: int) -> float | None:
    for index in range(b - 1, a - 1, -1):
        value = values[index]
        if value == value:
            return float(value)
    return None


def sample_blocks(axis: Column, columns: KeyColumns, accumulator: Accumulator, dead_rows: Sequence[int],
                  first: int, end: int, block_stats: Stats) -> bool:
    """Fill ``accumulator`` with the buckets of the key's positions ``[first, end)`` (its points
    inside ``[start, stop]`` along ``axis``, which only grows) from whole blocks where the rule
    allows. False, with nothing done, when the buckets are too narrow: the caller takes the exact
    path. ``block_stats(a, b)`` gives min, max and NaN count of the blocks ``[a, b)``."""
    samples, lo, hi = accumulator.samples, accumulator.start, accumulator.stop
    dead = dead_positions(columns, dead_rows, first, end)
    points = end - first - len(dead)
    if hi <= lo or points < WIDE_POINTS or points < WIDE_BLOCKS * BLOCK * samples:
        return False
    j0 = -(-first // BLOCK)  # the whole blocks inside the range: [j0, j1)
    j1 = min(end // BLOCK, columns.rolled1)
    if j1 <= j0:
        return False
    values = whole(columns.values)
    mins, maxs, nans = (whole(c) for c in columns.levels[1])
    gx = whole(axis)
    dense_from = int(columns.dense_from or 0)
    rows = None if columns.rows is None else whole(columns.rows)
    if rows is None:  # the x of each block's first point
        first_x = gx[dense_from + j0 * BLOCK: dense_from + j1 * BLOCK: BLOCK]
    else:
        first_x = [gx[r] for r in rows[j0 * BLOCK: j1 * BLOCK: BLOCK]]

    def x_at(position: int) -> float:
        return float(gx[position + dense_from if rows is None else rows[position]])

    span, top = hi - lo, samples - 1
    # each block's bucket: its first point's, by bucket_index's arithmetic (the last bucket is closed)
    buckets = [int((x - lo) * samples / span) for x in first_x]
    for j in range(len(buckets) - 1, -1, -1):
        if buckets[j] <= top:
            break
        buckets[j] = top
    dead_set = set(dead)
    # blocks holding a dead row are split point by point (numbers relative to j0)
    breaks = sorted({p // BLOCK - j0 for p in dead if j0 * BLOCK <= p < j1 * BLOCK})
    add = accumulator.add

    def exact(a: int, b: int) -> None:
        for position in range(a, b):
            if position not in dead_set:
                add(x_at(position), float(values[position]))

    exact(first, j0 * BLOCK)
    seen = accumulator.buckets
    bisect_right = bisect.bisect_right
    ja, nb, bi = 0, j1 - j0, 0
    stop_at = breaks[0] if breaks else nb
    while ja < nb:
        if ja == stop_at:
            exact((j0 + ja) * BLOCK, (j0 + ja + 1) * BLOCK)
            ja += 1
            bi += 1
            stop_at = breaks[bi] if bi < len(breaks) else nb
            continue
        k = buckets[ja]
        jb = bisect_right(buckets, k, ja, stop_at)
        # only the group's last block can reach past the next bucket (when the next block starts
        # further on: a gap in x); spread over more than two buckets, it is split point by point
        cut = (jb == nb or buckets[jb] > k + 1) and min(int((x_at((j0 + jb) * BLOCK - 1) - lo) * samples / span), top) > k + 1
        if cut:
            jb -= 1
        if jb > ja:
            _blocks(accumulator, seen, k, first_x[ja], values, mins, maxs, nans, j0 + ja, j0 + jb, block_stats)
        if cut:
            exact((j0 + jb) * BLOCK, (j0 + jb + 1) * BLOCK)
            jb += 1
        ja = jb
    exact(j1 * BLOCK, end)
    return True


def _blocks(accumulator: Accumulator, seen: dict[int, list[Any]], k: int, x: float, values: Any, mins: Any, maxs: Any,
            nans: Any, a: int, b: int, block_stats: Stats) -> None:
    """Blocks ``[a, b)`` into bucket ``k`` (after whatever it holds)."""
    pa, pb = a * BLOCK, b * BLOCK
    count = pb - pa
    if b - a > 2 * BLOCK:
        low, high, nan = block_stats(a, b)
    else:
        nan = sum(nans[a:b])
        if nan < count:
            low, high = min(mins[a:b]), max(maxs[a:b])
    if nan == count:
        item: list[Any] = [x, None, None, None, None, count, nan]
    elif nan:
        item = [x, first_valid(values, pa, pb), last_valid(values, pa, pb), low, high, count, nan]
    else:
        item = [x, values[pa], values[pb - 1], low, high, count, 0]
    accumulator.total += count
    bucket = seen.get(k)
    if bucket is None:
        seen[k] = item
    else:
        _merge(bucket, item)


def _merge(bucket: list[Any], item: list[Any]) -> None:
    """Fold ``item`` (blocks written after what the bucket holds) into ``bucket``, in place."""
    bucket[5] += item[5]
    bucket[6] += item[6]
    if item[1] is None:
        return
    if bucket[1] is None:
        bucket[1], bucket[3], bucket[4] = item[1], item[3], item[4]
    else:
        bucket[3] = min(bucket[3], item[3])
        bucket[4] = max(bucket[4], item[4])
    bucket[2] = item[2]


def dead_positions(columns: KeyColumns, dead_rows: Sequence[int], first: int, end: int) -> list[int]:
    """The key's positions in ``[first, end)`` whose row a later row replaced, sorted."""
    out = []
    for row in dead_rows:
        position = columns.position_of_row(row)
        if first <= position < end and columns.row_of(position) == row:
            out.append(position)
    return sorted(out)
