"""``_index_sampling._sample_sorted`` with numpy, when numpy is installed (the ``server`` extra brings
it): the same buckets, to the bit, in a fraction of the time (a chart of 100 runs asks for 100 keys).

Nothing here changes a rule: exact buckets are ``_sampling``'s, wide ones ``_block_sampling``'s (the
pure-Python code, which ``import trackkit`` and every store without numpy use). The points and the
whole blocks of a key in ``[start, stop]`` become "units" in written order (a point, or a block of 32
taken whole), each with its bucket, x, first/last non-NaN value, min, max, count and NaN count; the
buckets only grow along them, so each bucket is a run of units reduced at once (``ufunc.reduceat``).
numpy is imported on first use, never by ``import trackkit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._block_sampling import WIDE_BLOCKS, WIDE_POINTS, first_valid, last_valid, whole
from ._history_index import BLOCK, Column, KeyColumns
from ._sampling import Accumulator

__all__ = ["numpy_or_none", "sample_sorted_numpy"]

ENABLED = True  # tests switch it off to check the pure-Python path against the same cases
_NUMPY: list[Any] = []


def numpy_or_none() -> Any:
    """The numpy module, or None when it is not installed (or switched off)."""
    if not ENABLED:
        return None
    if not _NUMPY:
        try:
            import numpy
        except ImportError:
            _NUMPY.append(None)
        else:
            _NUMPY.append(numpy)
    return _NUMPY[0]


def _buckets(np: Any, x: Any, lo: float, hi: float, samples: int) -> Any:
    """``bucket_index`` of every x (the same float operations, in the same order)."""
    if hi <= lo:
        return np.zeros(len(x), dtype=np.int64)
    return np.minimum(((x - lo) * samples / (hi - lo)).astype(np.int64), samples - 1)


def sample_sorted_numpy(np: Any, axis: Column, columns: KeyColumns, accumulator: Accumulator,
                        dead_positions: Sequence[int], first: int, end: int) -> None:
    """Fill ``accumulator`` with the buckets of positions ``[first, end)`` of a key along a growing
    ``axis``; ``dead_positions`` (sorted) are the key's positions in that range a later row replaced."""
    lo, hi, samples = accumulator.start, accumulator.stop, accumulator.samples
    f8 = np.float64
    gx = np.frombuffer(whole(axis), dtype=f8)
    values = whole(columns.values)
    v = np.frombuffer(values, dtype=f8)
    if columns.rows is None:
        offset = int(columns.dense_from or 0)
        xs = gx[offset + first: offset + end]
    else:
        xs = gx[np.frombuffer(whole(columns.rows), dtype=np.int64)[first:end]]
    vs = v[first:end]
    n = end - first
    live = n - len(dead_positions)
    j0, j1 = -(-first // BLOCK), min(end // BLOCK, columns.rolled1)
    wide = hi > lo and live >= WIDE_POINTS and live >= WIDE_BLOCKS * BLOCK * samples and j1 > j0
    dead = np.asarray(dead_positions, dtype=np.int64) - first
    if not wide:  # every point is a unit
        keep = np.ones(n, dtype=bool)
        keep[dead] = False
        positions = np.flatnonzero(keep) if len(dead) else np.arange(n)
        ux = xs[positions]
        uv = vs[positions]
        _reduce(np, accumulator, _buckets(np, ux, lo, hi, samples), ux, uv, uv, uv, uv,
                np.ones(len(positions), dtype=np.int64), np.isnan(uv).astype(np.int64))
        return
    starts = np.arange(j0, j1, dtype=np.int64) * BLOCK - first  # block starts, relative to first
    bf = _buckets(np, xs[starts], lo, hi, samples)
    bl = _buckets(np, xs[starts + BLOCK - 1], lo, hi, samples)
    taken = bl - bf <= 1  # the rule: a block over at most two neighbouring buckets is taken whole
    if len(dead):
        inside = dead[(dead >= j0 * BLOCK - first) & (dead < j1 * BLOCK - first)]
        taken[(inside + first) // BLOCK - j0] = False
    mins, maxs, nans = (np.frombuffer(whole(c), dtype=t)[j0:j1][taken]
                        for c, t in zip(columns.levels[1], (f8, f8, np.int64)))
    block_at = starts[taken]
    # points that are their own units: before the first whole block, in blocks not taken, after the last
    split = starts[~taken]
    pieces = [np.arange(0, j0 * BLOCK - first, dtype=np.int64)]
    if len(split):
        pieces.append((split[:, None] + np.arange(BLOCK, dtype=np.int64)).ravel())
    pieces.append(np.arange(j1 * BLOCK - first, n, dtype=np.int64))
    points = np.concatenate(pieces)
    if len(dead):
        points = points[~np.isin(points, dead)]
    pv = vs[points]
    all_nan = nans == BLOCK
    block_first = vs[block_at]
    block_last = vs[block_at + BLOCK - 1]
    block_min = np.where(all_nan, np.nan, mins)
    block_max = np.where(all_nan, np.nan, maxs)
    some_nan = np.flatnonzero(nans > 0)
    if len(some_nan):  # first/last non-NaN of the few blocks holding a NaN
        block_first = block_first.copy()
        block_last = block_last.copy()
        for b in some_nan.tolist():
            a = int(block_at[b]) + first
            found = first_valid(values, a, a + BLOCK)
            block_first[b] = np.nan if found is None else found
            found = last_valid(values, a, a + BLOCK)
            block_last[b] = np.nan if found is None else found
    at = np.concatenate([block_at, points])
    order = np.argsort(at, kind="stable")
    _reduce(np, accumulator,
            np.concatenate([bf[taken], _buckets(np, xs[points], lo, hi, samples)])[order],
            np.concatenate([xs[block_at], xs[points]])[order],
            np.concatenate([block_first, pv])[order], np.concatenate([block_last, pv])[order],
            np.concatenate([block_min, pv])[order], np.concatenate([block_max, pv])[order],
            np.concatenate([np.full(len(block_at), BLOCK, dtype=np.int64), np.ones(len(points), dtype=np.int64)])[order],
            np.concatenate([nans, np.isnan(pv).astype(np.int64)])[order])


def _reduce(np: Any, accumulator: Accumulator, bucket: Any, x: Any, first: Any, last: Any, low: Any, high: Any,
            count: Any, nan: Any) -> None:
    """Units (in written order, their buckets never going back) as the accumulator's buckets (it holds none yet)."""
    units = len(bucket)
    if not units:
        return
    starts = np.concatenate([np.zeros(1, dtype=np.int64), np.flatnonzero(bucket[1:] != bucket[:-1]) + 1])
    counts = np.add.reduceat(count, starts)
    nans = np.add.reduceat(nan, starts)
    if not nans.any():  # no NaN anywhere (the usual case): plain ends, plain min/max
        ends = np.concatenate([starts[1:], np.full(1, units, dtype=np.int64)]) - 1
        accumulator.columns = [x[starts].tolist(), first[starts].tolist(), last[ends].tolist(),
                               np.minimum.reduceat(low, starts).tolist(), np.maximum.reduceat(high, starts).tolist(),
                               counts.tolist(), nans.tolist()]
        accumulator.total = int(counts.sum())
        return
    index = np.arange(units, dtype=np.int64)
    first_at = np.minimum.reduceat(np.where(np.isnan(first), units, index), starts)
    last_at = np.maximum.reduceat(np.where(np.isnan(last), -1, index), starts)
    lows = np.fmin.reduceat(low, starts)
    highs = np.fmax.reduceat(high, starts)
    empty = first_at >= units
    first_values = np.where(empty, np.nan, first[np.minimum(first_at, units - 1)])
    last_values = np.where(empty, np.nan, last[np.maximum(last_at, 0)])
    columns = [x[starts].tolist(), first_values.tolist(), last_values.tolist(), lows.tolist(), highs.tolist(),
               counts.tolist(), nans.tolist()]
    if empty.any():  # buckets of NaN only: no first/last/min/max
        for i in np.flatnonzero(empty).tolist():
            for column in columns[1:5]:
                column[i] = None
    accumulator.columns = columns
    accumulator.total = int(counts.sum())
