"""Charts of long runs along ``_step``: the block aggregates of ``_pg_rollups`` read as packed tiles
(``history_tiles``, migration 005) and bucketed with numpy.

A tile is one row per 256 blocks of a (run, key): fixed-size records (block, count, NaN count,
smallest/largest/first step, first/last non-NaN value, min, max), so a chart of 100 runs x 100,000
steps reads ~1,300 rows (~20 MB) instead of ~312,000 block rows and ~90,000 edge blocks' arrays.

When buckets are wide (a target has at least ``WIDE_POINTS`` points in range and a bucket averages
at least ``WIDE_BLOCKS`` blocks), a block whose steps fall in at most two neighbouring buckets is
taken whole into the bucket of its first point (its ``x``) instead of being split at the edge: a
point can land in the bucket next to its own, never further, and only when its block crosses that
edge (at most ``BLOCK - 1`` points per edge). Counts still add up to the points in range; every
value still lands in a bucket, so a spike is never hidden; a bucket's ``x``/``first``/``last`` are
taken in written order as ever. Blocks across ``start``/``stop`` or spread over more buckets
(steps out of order) are split point by point, exactly.

Narrower buckets (small runs, zoomed ranges) are exact: the result of ``_pg_rollups.sample_step``,
so ``trackkit._sampling.sample_rows``'s, as on the local store, computed here from the same tiles. A
block whose steps all fall in one bucket inside ``[start, stop]`` stands for its points. The others
are split from the point tiles (``history_point_tiles``, migration 006: the visible points of 32
blocks packed in one row, ~24 kB): a point tile holding a block across several edges, across
``start``/``stop`` or with steps out of order, or holding at least ``HALVES_PER_TILE`` blocks across
one edge, is read whole and all its blocks are taken point by point (consecutive points of a tile in one
bucket folded first); a sorted block across one edge elsewhere is split by the database into two halves
(its prefix and suffix arrays in ``history_block_points``, as ``sample_step`` does). Every part is
folded in written order. A zoom of 100 runs at 1,000 buckets over 10,000 steps reads ~1,100 point
tiles (~26 MB) instead of ~31,000 rows of ``history_block_points`` (~2.5 kB each). ``sample_step``
(one SQL statement) remains as the fallback when a point tile does not hold the points its blocks count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._pg_rollups import BLOCK, POINT_TILE

__all__ = ["WIDE_BLOCKS", "WIDE_POINTS", "sample_tiles"]

WIDE_BLOCKS = 2  # a bucket averages at least this many blocks ...
WIDE_POINTS = 16_384  # ... and the target has at least this many points in range: whole blocks at edges
HALVES_PER_TILE = 8  # blocks of a point tile split in halves from which its points are read instead

# The record of tk_pack_tiles (big-endian, as int4send/int8send/float8send write them).
_RECORD = [("block", ">i4"), ("count", ">i2"), ("nan", ">i2"), ("step_lo", ">i8"), ("step_hi", ">i8"), ("x", ">i8"),
           ("first", ">f8"), ("last", ">f8"), ("low", ">f8"), ("high", ">f8")]

_READ = """
SELECT t.tag, h.data
FROM unnest(%(tags)s::int[], %(runs)s::bigint[], %(keys)s::int[], %(lo)s::float8[], %(hi)s::float8[])
    AS t(tag, run_pk, key_id, lo, hi)
JOIN history_tiles h ON h.run_pk = t.run_pk AND h.key_id = t.key_id
WHERE h.step_hi::float8 >= t.lo AND h.step_lo::float8 <= t.hi
ORDER BY t.tag, h.tile
"""

# The point tiles (history_point_tiles, migration 006) an exact (narrow) bucketing splits point by point,
# numbered as asked; records of tk_pack_points.
_POINT_TILES = """
SELECT u.n, h.data
FROM unnest(%(tags)s::text::int[], %(tiles)s::text::bigint[]) WITH ORDINALITY AS u(tag, tile, n)
JOIN unnest(%(targets)s::int[], %(runs)s::bigint[], %(keys)s::int[]) AS t(tag, run_pk, key_id) ON t.tag = u.tag,
LATERAL (SELECT h.data FROM history_point_tiles h WHERE h.run_pk = t.run_pk AND h.key_id = t.key_id AND h.tile = u.tile
         OFFSET 0) AS h  -- one lookup by primary key each (a hash join would read the whole table)
"""
_POINT = [("seq", ">i8"), ("step", ">i8"), ("value", ">f8")]

# A block across one bucket edge whose steps are sorted, split at the edge in the database as
# _pg_rollups does: k, the number of its steps up to ``edge`` (the last integer step before the edge,
# found by binary search), then the two halves' aggregates from its prefix and suffix arrays (NaN:
# none), one record each; NULL when the block has no prefix arrays or k leaves a half empty. The
# caller checks k against the bucket function (steps[k] and steps[k + 1]) and splits any other block
# point by point.
_HALVES = """
SELECT c.n, CASE WHEN c.k BETWEEN 1 AND c.count - 1 THEN
    int4send(c.k) || int4send(c.pre_nan[c.k]) || int8send(c.steps[c.k]) || int8send(c.steps[c.k + 1])
    || float8send(coalesce(CASE WHEN c.first_at <= c.k THEN c.vals[c.first_at] END, 'NaN'))
    || float8send(coalesce(c.vals[c.pre_last[c.k]], 'NaN')) || float8send(coalesce(c.pre_low[c.k], 'NaN'))
    || float8send(coalesce(c.pre_high[c.k], 'NaN')) || float8send(coalesce(c.vals[c.suf_first[c.k + 1]], 'NaN'))
    || float8send(coalesce(CASE WHEN c.last_at > c.k THEN c.vals[c.last_at] END, 'NaN'))
    || float8send(coalesce(c.suf_low[c.k + 1], 'NaN')) || float8send(coalesce(c.suf_high[c.k + 1], 'NaN')) END
FROM (
    SELECT u.n, cardinality(a.steps) AS count, a.steps, a.vals, a.first_at, a.last_at, a.pre_nan, a.pre_last, a.pre_low,
           a.pre_high, a.suf_first, a.suf_low, a.suf_high,
           CASE WHEN a.sorted AND a.pre_low IS NOT NULL THEN width_bucket(u.edge, a.steps) END AS k
    FROM unnest(%(tags)s::text::int[], %(blocks)s::text::bigint[], %(edges)s::text::bigint[]) WITH ORDINALITY
        AS u(tag, block, edge, n)
    JOIN unnest(%(targets)s::int[], %(runs)s::bigint[], %(keys)s::int[]) AS t(tag, run_pk, key_id) ON t.tag = u.tag,
    LATERAL (SELECT * FROM history_block_points a WHERE a.run_pk = t.run_pk AND a.key_id = t.key_id AND a.block = u.block
             OFFSET 0) AS a  -- one lookup by primary key each
) AS c
"""
_HALF = [("k", ">i4"), ("p_nan", ">i4"), ("k_step", ">i8"), ("s_x", ">i8"), ("p_first", ">f8"), ("p_last", ">f8"),
         ("p_low", ">f8"), ("p_high", ">f8"), ("s_first", ">f8"), ("s_last", ">f8"), ("s_low", ">f8"), ("s_high", ">f8")]

_POINTS = """
SELECT u.tag, u.block, a.steps, a.vals
FROM unnest(%(tags)s::int[], %(runs)s::bigint[], %(keys)s::int[], %(blocks)s::bigint[]) AS u(tag, run_pk, key_id, block)
JOIN history_block_points a ON a.run_pk = u.run_pk AND a.key_id = u.key_id AND a.block = u.block
"""


def _bucket(np: Any, x: Any, lo: Any, hi: Any, samples: int) -> Any:
    """``trackkit._sampling.bucket_index`` over arrays of float64 (the same operations, so the same buckets)."""
    width = np.where(hi > lo, hi - lo, 1.0)
    index = np.minimum(np.floor((x - lo) * float(samples) / width), samples - 1).astype(np.int64)
    return np.where(hi > lo, index, 0)


Columns = tuple[list[Any], list[Any], list[Any], list[Any], list[Any], list[int], list[int]]


def _floats(np: Any, column: Any) -> list[Any]:
    """A float64 column as a list, NaN (no value) as None."""
    values = column.tolist()
    for index in np.flatnonzero(np.isnan(column)).tolist():
        values[index] = None
    return values


def _reduce(np: Any, parts: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    """Parts (whole blocks and single points) sorted by group (target and bucket), each group in
    written order, folded into buckets: their groups and columns ``(x, first, last, min, max, count, nan)``."""
    group = parts["group"]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(group)) + 1))
    size = len(group)
    if np.isnan(parts["first"]).any():  # a part with no value (NaN only): the first/last part with one
        position = np.arange(size)
        first_at = np.minimum.reduceat(np.where(np.isnan(parts["first"]), size, position), starts)
        last_at = np.maximum.reduceat(np.where(np.isnan(parts["last"]), -1, position), starts)
        first = np.where(first_at < size, parts["first"][np.minimum(first_at, size - 1)], np.nan)
        last = np.where(last_at >= 0, parts["last"][np.maximum(last_at, 0)], np.nan)
    else:
        first, last = parts["first"][starts], parts["last"][np.append(starts[1:], size) - 1]
    low = np.fmin.reduceat(parts["low"], starts)  # fmin/fmax skip NaN: a bucket of NaN only stays NaN
    high = np.fmax.reduceat(parts["high"], starts)
    return group[starts], (parts["x"][starts], first, last, low, high, np.add.reduceat(parts["count"], starts),
                           np.add.reduceat(parts["nan"], starts))


def sample_tiles(conn: Any, targets: Sequence[tuple[int, int, float, float]],
                 samples: int) -> tuple[dict[int, Columns], list[int]]:
    """Bucket columns ``(x, first, last, min, max, count, nan)`` of the targets ``(run_pk, key_id,
    start, stop)`` whose buckets are wide, by position in ``targets``; and the positions of the
    others (for the exact path)."""
    import numpy as np

    params = {"tags": list(range(len(targets))), "runs": [t[0] for t in targets], "keys": [t[1] for t in targets],
              "lo": [float(t[2]) for t in targets], "hi": [float(t[3]) for t in targets]}
    tags: list[int] = []
    chunks: list[bytes] = []
    with conn.cursor(binary=True) as cursor:
        for tag, data in cursor.execute(_READ, params).fetchall():  # in target order, then tile order
            tags.append(tag)
            chunks.append(data)
    record = np.dtype(_RECORD)
    blocks = np.frombuffer(b"".join(chunks), dtype=record).astype([(name, "=" + kind[1:]) for name, kind in _RECORD])
    tag = np.repeat(np.array(tags, dtype=np.int64), [len(chunk) // record.itemsize for chunk in chunks])
    lo, hi = np.array(params["lo"], dtype=np.float64)[tag], np.array(params["hi"], dtype=np.float64)[tag]
    step_lo, step_hi = blocks["step_lo"].astype(np.float64), blocks["step_hi"].astype(np.float64)
    count = blocks["count"].astype(np.int64)
    inside = (count > 0) & (step_hi >= lo) & (step_lo <= hi)
    points = np.bincount(tag[inside], weights=count[inside], minlength=len(targets))
    is_wide = (points >= WIDE_POINTS) & (points >= WIDE_BLOCKS * BLOCK * samples)
    narrow = np.flatnonzero(~is_wide).tolist()
    keep = inside & is_wide[tag]
    low_bucket = _bucket(np, step_lo, lo, hi, samples)
    found: dict[int, Columns] = {}
    if narrow:  # exact buckets: whole blocks within one bucket, the points of the others
        exact = _exact(np, conn, targets, samples, blocks, tag, lo, hi, low_bucket, inside & ~is_wide[tag])
        if exact is not None:
            found.update(_hand_over(np, *exact, narrow, samples))
            narrow = []
    if not keep.any():
        return found, narrow
    whole = keep & (step_lo >= lo) & (step_hi <= hi) & (_bucket(np, step_hi, lo, hi, samples) - low_bucket <= 1)
    cut = keep & ~whole
    x = blocks["x"].astype(np.float64)
    moved = x != step_lo  # x is step_lo unless steps go back within the block
    bucket = np.where(moved, _bucket(np, x, lo, hi, samples), low_bucket) if moved.any() else low_bucket
    columns = {"group": bucket + tag * samples, "order": blocks["block"].astype(np.int64) * (BLOCK + 1), "x": x,
               "first": blocks["first"], "last": blocks["last"], "low": blocks["low"], "high": blocks["high"],
               "count": count, "nan": blocks["nan"].astype(np.int64)}
    parts = columns if whole.all() else {name: column[whole] for name, column in columns.items()}
    if cut.any():  # blocks across start/stop or spread over more buckets: their points one by one
        wanted = list(zip(tag[cut].tolist(), blocks["block"][cut].tolist()))
        singles: list[tuple[int, int, float, float]] = []
        for t, block, steps, vals in conn.execute(_POINTS, {
                "tags": [w[0] for w in wanted], "runs": [targets[w[0]][0] for w in wanted],
                "keys": [targets[w[0]][1] for w in wanted], "blocks": [w[1] for w in wanted]}):
            start, stop = float(targets[t][2]), float(targets[t][3])
            singles.extend((t, block * (BLOCK + 1) + 1 + i, float(step), float(v))
                           for i, (step, v) in enumerate(zip(steps, vals)) if start <= step <= stop)
        if singles:
            t_s, order, xs, vs = (np.array(column) for column in zip(*singles))
            t_s = t_s.astype(np.int64)
            extra = {"group": _bucket(np, xs, np.array(params["lo"])[t_s], np.array(params["hi"])[t_s], samples)
                     + t_s * samples, "order": order.astype(np.int64), "x": xs, "first": vs, "last": vs, "low": vs,
                     "high": vs, "count": np.ones(len(xs), dtype=np.int64), "nan": np.isnan(vs).astype(np.int64)}
            parts = {name: np.concatenate((parts[name], extra[name])) for name in parts}
    group = parts["group"]
    if len(group) > 1 and (np.diff(group) < 0).any() or cut.any():  # steps went back, or points merged
        by_group = np.lexsort((parts["order"], group))  # each bucket in written order
        parts = {name: column[by_group] for name, column in parts.items()}
    groups, columns = _reduce(np, parts)
    found.update(_hand_over(np, groups, columns, np.flatnonzero(is_wide).tolist(), samples))
    return found, narrow


def _hand_over(np: Any, groups: Any, columns: tuple[Any, ...], wanted: list[int], samples: int) -> dict[int, Columns]:
    """The bucket columns of ``_reduce`` split by target (positions ``wanted``), as lists."""
    x, first, last, low, high, counts, nans = columns
    gaps = bool(np.isnan(first).any() or np.isnan(low).any())  # a bucket without a value (NaN only)
    starts = np.searchsorted(groups, [t * samples for t in wanted]).tolist()
    stops = np.searchsorted(groups, [(t + 1) * samples for t in wanted]).tolist()
    found: dict[int, Columns] = {}
    for t, a, b in zip(wanted, starts, stops):
        floats = [(_floats(np, c[a:b]) if gaps else c[a:b].tolist()) for c in (first, last, low, high)]
        found[t] = (x[a:b].tolist(), *floats, counts[a:b].tolist(), nans[a:b].tolist())  # type: ignore[assignment]
    return found


def _literal(column: Any) -> str:
    """An array of integers as a PostgreSQL array literal (much quicker to send than a list adapted item by item)."""
    return "{" + ",".join(map(str, column.tolist())) + "}"


def _ordered(np: Any, found: list[tuple[Any, ...]], asked: int) -> list[Any] | None:
    """The second column of rows numbered 1..asked (first column), in that order; None if one is missing."""
    if len(found) != asked:
        return None
    numbers = np.array([row[0] for row in found], dtype=np.int64)
    expected = np.arange(1, asked + 1)
    if not np.array_equal(numbers, expected):
        order = np.argsort(numbers)
        if not np.array_equal(numbers[order], expected):
            return None
        found = [found[i] for i in order.tolist()]
    return [row[1] for row in found]


def _exact(np: Any, conn: Any, targets: Sequence[tuple[int, int, float, float]], samples: int, blocks: Any, tag: Any,
           lo: Any, hi: Any, low_bucket: Any, keep: Any) -> tuple[Any, tuple[Any, ...]] | None:
    """Exact buckets of the blocks ``keep`` (narrow targets), as ``_reduce`` gives them: the result of
    ``_pg_rollups.sample_step`` (so ``sample_rows``'s), computed in numpy. A block whose steps all fall
    in one bucket inside ``[start, stop]`` stands for its points; a sorted block across one edge is
    split in two halves by the database; the point tiles (32 blocks each) of the others are read and
    every block of those tiles is taken point by point. None when the stored rows are not as expected
    (the caller falls back to ``sample_step``)."""
    step_lo, step_hi = blocks["step_lo"].astype(np.float64), blocks["step_hi"].astype(np.float64)
    in_range = keep & (step_lo >= lo) & (step_hi <= hi)
    high_bucket = _bucket(np, step_hi, lo, hi, samples)
    block_no = blocks["block"].astype(np.int64)
    tile_key = tag.astype(np.int64) * (1 << 32) + block_no // POINT_TILE  # (target, point tile) of each block
    kept = np.flatnonzero(keep)
    whole = (in_range & (high_bucket == low_bucket))[kept]  # among the kept blocks, in (target, block) order
    candidates = (in_range & (high_bucket == low_bucket + 1) & (hi > lo))[kept]
    need = np.unique(tile_key[kept[~whole & ~candidates]])  # point tiles to read: every block in them point by point
    across, many = np.unique(tile_key[kept[candidates]], return_counts=True)
    if (many >= HALVES_PER_TILE).any():  # a tile's points cost less than that many halves
        need = np.union1d(need, across[many >= HALVES_PER_TILE])
    split = np.zeros(len(kept), dtype=bool)
    params = {"targets": list(range(len(targets))), "runs": [t[0] for t in targets], "keys": [t[1] for t in targets]}
    halves: Any = None
    ask = candidates & ~np.isin(tile_key[kept], need)
    if ask.any():  # across one edge, outside those tiles: two halves from the prefix and suffix arrays
        chosen = kept[ask]
        i1 = low_bucket[chosen] + 1
        edges = np.ceil(lo[chosen] + i1 * (hi[chosen] - lo[chosen]) / samples) - 1
        with conn.cursor(binary=True) as cursor:
            found = cursor.execute(_HALVES, {**params, "tags": _literal(tag[chosen]), "blocks": _literal(block_no[chosen]),
                                             "edges": _literal(edges.astype(np.int64))}).fetchall()
        records = _ordered(np, found, len(chosen))
        if records is None:
            return None
        half = np.dtype(_HALF)
        done = np.array([record is not None and len(record) == half.itemsize for record in records], dtype=bool)
        halves = np.frombuffer(b"".join([record for record, ok in zip(records, done) if ok]), dtype=half)
        checked = np.zeros(len(chosen), dtype=bool)  # k checked against the bucket function itself
        if done.any():
            at = chosen[done]
            checked[done] = ((_bucket(np, halves["k_step"].astype(np.float64), lo[at], hi[at], samples) == low_bucket[at])
                             & (_bucket(np, halves["s_x"].astype(np.float64), lo[at], hi[at], samples) == low_bucket[at] + 1))
            halves = halves[checked[done]]
        split[np.flatnonzero(ask)[checked]] = True
        if not checked.all():  # the others point by point, with their tiles
            need = np.union1d(need, tile_key[chosen[~checked]])
    covered = np.isin(tile_key[kept], need)
    if (split & covered).any():  # halves of blocks whose tile is read anyway
        halves = halves[~covered[split]]
        split &= ~covered
    bounds = (np.array([float(t[2]) for t in targets]), np.array([float(t[3]) for t in targets]))
    point_parts = _point_parts(np, conn, params, bounds, samples, blocks, tile_key, need) if len(need) else None
    if len(need) and point_parts is None:
        return None
    kept, split = kept[~covered], split[~covered]  # every one of these whole or split in two
    parts = np.where(split, 2, 1)
    source = np.repeat(kept, parts)  # the block of each part
    group = low_bucket[source]
    x, first, last = blocks["x"][source].astype(np.float64), blocks["first"][source], blocks["last"][source]
    low, high = blocks["low"][source], blocks["high"][source]
    count, nan = blocks["count"][source].astype(np.int64), blocks["nan"][source].astype(np.int64)
    order = block_no[source] * (BLOCK + 1)
    if split.any():  # the first half where the block's part was, the second right after it
        at = (np.cumsum(parts) - parts)[split]
        second = at + 1
        first[at], last[at], low[at], high[at] = halves["p_first"], halves["p_last"], halves["p_low"], halves["p_high"]
        first[second], last[second] = halves["s_first"], halves["s_last"]
        low[second], high[second] = halves["s_low"], halves["s_high"]
        x[second] = halves["s_x"].astype(np.float64)
        group[second] += 1
        order[second] += 1
        k, p_nan = halves["k"].astype(np.int64), halves["p_nan"].astype(np.int64)
        count[second] -= k
        count[at] = k
        nan[second] -= p_nan
        nan[at] = p_nan
    group += tag[source] * samples
    columns = {"group": group, "order": order, "x": x, "first": first, "last": last, "low": low, "high": high,
               "count": count, "nan": nan}
    if point_parts is not None:
        columns = {name: np.concatenate((column, point_parts[name])) for name, column in columns.items()}
    group = columns["group"]
    if not len(group):
        empty = np.empty(0)
        return np.empty(0, dtype=np.int64), (empty, empty, empty, empty, empty, empty.astype(np.int64),
                                             empty.astype(np.int64))
    if point_parts is not None or (np.diff(group) < 0).any():  # each bucket in written order
        by_group = np.lexsort((columns["order"], group))
        columns = {name: column[by_group] for name, column in columns.items()}
    return _reduce(np, columns)


def _point_parts(np: Any, conn: Any, params: dict[str, Any], bounds: tuple[Any, Any], samples: int, blocks: Any,
                 tile_key: Any, need: Any) -> dict[str, Any] | None:
    """The points in ``[start, stop]`` of the point tiles ``need`` (``tile_key`` values, sorted), as parts
    for ``_reduce`` (one per point, ordered among the blocks' parts by ``order``); None when a tile is
    missing or does not hold the points its blocks count (the caller falls back to ``sample_step``)."""
    need_tag, need_tile = need >> 32, need & ((1 << 32) - 1)
    with conn.cursor(binary=True) as cursor:
        found = cursor.execute(_POINT_TILES, {**params, "tags": _literal(need_tag), "tiles": _literal(need_tile)}).fetchall()
    data = _ordered(np, found, len(need))
    if data is None:
        return None
    record = np.dtype(_POINT)
    sizes = np.array([len(chunk) // record.itemsize for chunk in data], dtype=np.int64)
    at = np.flatnonzero(np.isin(tile_key, need))  # every block of those tiles (their tiles were all read)
    counted = np.bincount(np.searchsorted(need, tile_key[at]), weights=blocks["count"][at].astype(np.int64),
                          minlength=len(need)).astype(np.int64)
    if not np.array_equal(counted, sizes) or sum(map(len, data)) != int(sizes.sum()) * record.itemsize:
        return None
    points = np.frombuffer(b"".join(data), dtype=record)
    steps = points["step"].astype(np.float64)
    values = points["value"].astype(np.float64)
    which = np.repeat(np.arange(len(need)), sizes)  # the tile of each point
    lo, hi = np.repeat(bounds[0][need_tag], sizes), np.repeat(bounds[1][need_tag], sizes)
    group = _bucket(np, steps, lo, hi, samples) + np.repeat(need_tag * samples, sizes)
    outside = (steps < lo) | (steps > hi)
    if outside.any():
        group[outside] = -1  # points before start or after stop: parts of their own, dropped below
    # consecutive points of one tile in one bucket are one part: no other part comes between them in written order
    starts = np.concatenate(([0], np.flatnonzero((np.diff(group) != 0) | (np.diff(which) != 0)) + 1)) if len(group) \
        else np.empty(0, dtype=np.int64)
    segment = np.zeros(len(group), dtype=np.int64)
    segment[starts[1:]] = 1
    _, columns = _reduce(np, {
        "group": np.cumsum(segment), "x": steps, "first": values, "last": values, "low": values, "high": values,
        "count": np.ones(len(steps), dtype=np.int64), "nan": np.isnan(values).astype(np.int64)}) if len(group) \
        else (None, (values, values, values, values, values, starts, starts))
    position = starts - np.repeat(np.cumsum(sizes) - sizes, sizes)[starts]  # the place of a part's first point in its tile
    parts = {"group": group[starts], "order": need_tile[which[starts]] * (POINT_TILE * (BLOCK + 1)) + position,
             **dict(zip(("x", "first", "last", "low", "high", "count", "nan"), columns))}
    if outside.any():
        kept = parts["group"] >= 0
        parts = {name: column[kept] for name, column in parts.items()}
    return parts
