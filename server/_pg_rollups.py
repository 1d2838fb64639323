"""Rollups of each key's points along ``_step`` (``history_blocks`` and ``history_block_points``,
migration 004), kept at ingest, and ``sample_history(x="_step")`` for many runs at once in one
statement that reads them.

The numeric points of a (run, key) are numbered in written order; point n belongs to block
``n // BLOCK``. A block keeps the aggregates of its visible points that have a step (smallest and
largest step, the first point for a bucket's x, first/last non-NaN value with their seq, min/max,
count and NaN count) in a narrow row, and the points themselves with prefix and suffix aggregates in
a side table.

Sampling reads every block of a key in ``[start, stop]``: a block whose smallest and largest step
fall into one bucket (the bucket function only grows with x) stands for all its points. A block
across one bucket edge whose steps are sorted is split at the edge in constant time: the position
is found by binary search over its steps (``width_bucket``) and checked with the bucket function
itself; its prefix and suffix aggregates give the two halves. Any other block (steps out of order,
several edges, start/stop inside it, or written before version 4) is split point by point from its
arrays. first/last/x of a bucket are taken by seq, so the result is exactly what
``trackkit._sampling.sample_rows`` gives over the rows, whatever order the steps were written in.
A run of 100,000 steps sampled at 1,000 buckets reads ~3,100 narrow rows and ~900 side rows.

The aggregates of every 256 blocks are also packed into one row of ``history_tiles`` (migration 005),
repacked whenever one of its blocks is written or rebuilt: what ``_pg_tiles`` reads for charts of long
runs with wide buckets (whole blocks at bucket edges) and, exactly, for narrower ones; ``sample_step`` here
is the same exact result in one SQL statement (the fallback, and the reference the tests compare with).
The visible points of every 32 blocks are packed into one row of ``history_point_tiles`` (migration 006),
repacked from the blocks' points in the same way: what ``_pg_tiles`` reads for blocks a zoom splits.

Blocks reflect the default view (dropped checkpoints and superseded rows left out): when ingest drops
or supersedes points, the blocks over their seqs are rebuilt from ``history_points`` (and their tiles repacked).
``include_superseded=True`` and the other axes (``_timestamp``, ``_runtime``, a metric) keep the
exact per-point path of ``_pg_history``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import accumulate, chain
from typing import Any

__all__ = ["BLOCK", "POINT_TILE", "TILE", "add_blocks", "rebuild_blocks", "sample_step"]

BLOCK = 32  # points per block; the migration's backfill uses the same number
TILE = 256  # blocks per packed tile (history_tiles, migration 005, read by _pg_tiles); tk_pack_tiles uses the same
POINT_TILE = 32  # blocks per tile of packed points (history_point_tiles, migration 006); tk_pack_points uses the same
_POINT_SIZE = 24  # bytes of a packed point: seq int8, step int8, value float8 (big-endian)


def _array(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal of numbers (``repr`` round-trips floats; nan/inf are read back)."""
    if None in values:
        return "{" + ",".join(["NULL" if v is None else repr(v) for v in values]) + "}"
    return "{" + ",".join(map(repr, values)) + "}"


_AGGREGATES = ("step_lo", "step_hi", "x_seq", "x", "first_seq", "first_v", "last_seq", "last_v", "low", "high", "count", "nan")
_POINTS = ("seqs", "steps", "vals", "sorted", "first_at", "last_at", "pre_low", "pre_high", "pre_nan", "pre_last",
           "suf_low", "suf_high", "suf_first")
_TYPES = {"step_lo": "bigint", "step_hi": "bigint", "x_seq": "bigint", "x": "bigint", "first_seq": "bigint",
          "first_v": "float8", "last_seq": "bigint", "last_v": "float8", "low": "float8", "high": "float8",
          "count": "int", "nan": "int", "seqs": "bigint[]", "steps": "bigint[]", "vals": "float8[]", "sorted": "boolean",
          "first_at": "int", "last_at": "int", "pre_low": "float8[]", "pre_high": "float8[]", "pre_nan": "int[]",
          "pre_last": "int[]", "suf_low": "float8[]", "suf_high": "float8[]", "suf_first": "int[]"}
def _running(vals: Sequence[float]) -> tuple[list[Any], list[Any], list[int], list[int]]:
    """Prefix min, max (None before the first non-NaN), NaN count and position of the last non-NaN (1-based, 0: none)."""
    lows: list[Any] = []
    highs: list[Any] = []
    nans: list[int] = []
    lasts: list[int] = []
    low = high = None
    nan = last = 0
    for i, v in enumerate(vals, 1):
        if v != v:
            nan += 1
        else:
            if low is None or v < low:
                low = v
            if high is None or v > high:
                high = v
            last = i
        lows.append(low)
        highs.append(high)
        nans.append(nan)
        lasts.append(last)
    return lows, highs, nans, lasts


def _block(points: Sequence[tuple[int, int, float]]) -> list[Any]:
    """A block's columns (``_AGGREGATES`` then ``_POINTS``) from its visible points ``(seq, step, value)``
    in written order; arrays as PostgreSQL literals."""
    count = len(points)
    if not count:
        return [None] * 10 + [0, 0, "{}", "{}", "{}", True, 0, 0, None, None, None, None, None, None, None]
    seqs = [p[0] for p in points]
    steps = [p[1] for p in points]
    vals = [p[2] for p in points]
    if sum(vals) == sum(vals):  # no NaN (the common case): running min/max in C
        pre_low, pre_high = list(accumulate(vals, min)), list(accumulate(vals, max))
        suf_low, suf_high = list(accumulate(reversed(vals), min))[::-1], list(accumulate(reversed(vals), max))[::-1]
        pre_nan, pre_last, suf_first = [0] * count, list(range(1, count + 1)), list(range(1, count + 1))
        nan, first_at, last_at, low, high = 0, 1, count, pre_low[-1], pre_high[-1]
    else:
        pre_low, pre_high, pre_nan, pre_last = _running(vals)
        suf_low, suf_high, _, suf_last = _running(vals[::-1])
        suf_low, suf_high = suf_low[::-1], suf_high[::-1]
        suf_first = [count + 1 - p if p else 0 for p in suf_last[::-1]]
        nan, first_at, last_at, low, high = pre_nan[-1], suf_first[0], pre_last[-1], pre_low[-1], pre_high[-1]
    aggregates = [min(steps), max(steps), seqs[0], steps[0],
                  seqs[first_at - 1] if first_at else None, vals[first_at - 1] if first_at else None,
                  seqs[last_at - 1] if last_at else None, vals[last_at - 1] if last_at else None, low, high, count, nan]
    texts = list(map(repr, vals))  # each float printed once: the running arrays reuse the text of their values
    spelled: dict[Any, str] = dict(zip(vals, texts))
    spelled[None] = "NULL"

    def floats(column: list[Any]) -> str:
        return "{" + ",".join(map(spelled.__getitem__, column)) + "}"

    arrays = [_array(seqs), _array(steps), "{" + ",".join(texts) + "}", all(a <= b for a, b in zip(steps, steps[1:])),
              first_at, last_at, floats(pre_low), floats(pre_high), _array(pre_nan), _array(pre_last),
              floats(suf_low), floats(suf_high), _array(suf_first)]
    return aggregates + arrays


def _write(conn: Any, run_pk: int, blocks: dict[tuple[int, int], tuple[int, int, list[tuple[int, int, float]]]],
           started: dict[tuple[int, int], int] | None = None) -> None:
    """Insert or replace blocks ``(key_id, block) -> (seq_lo, seq_hi, points)``; ``started`` when they
    were written at the end of their keys by ``add_blocks`` (see ``_append_points``), else None (rebuilt)."""
    if not blocks:
        return
    rows = [[key_id, block, seq_lo, seq_hi, *_block(points)] for (key_id, block), (seq_lo, seq_hi, points) in blocks.items()]
    columns = list(zip(*rows))
    names = ("key_id", "block", "seq_lo", "seq_hi", *_AGGREGATES, *_POINTS)
    types = ["int", "bigint", "bigint", "bigint", *(_TYPES[n] for n in (*_AGGREGATES, *_POINTS))]
    # arrays travel as text (unnest cannot take an array of arrays) and are cast back
    arg_types = ["text[]" if t.endswith("[]") else t + "[]" for t in types]
    source = (f"FROM unnest({', '.join(f'%s::{t}' for t in arg_types)}) AS u({', '.join(names)})")
    select = ", ".join(f"u.{n}::{t}" if t.endswith("[]") else f"u.{n}" for n, t in zip(names, types))
    params = (run_pk, *[list(c) for c in columns])
    agg_names = ("key_id", "block", "seq_lo", "seq_hi", *_AGGREGATES)
    conn.execute(
        f"INSERT INTO history_blocks (run_pk, {', '.join(agg_names)}) SELECT %s, "
        f"{', '.join(f'u.{n}' for n in agg_names)} {source} ON CONFLICT (run_pk, key_id, block) DO UPDATE SET "
        + ", ".join(f"{n} = excluded.{n}" for n in agg_names[2:]), params)
    point_names = ("key_id", "block", *_POINTS)
    selected = [part for part, n in zip(select.split(", "), names) if n in point_names]
    conn.execute(
        f"INSERT INTO history_block_points (run_pk, {', '.join(point_names)}) SELECT %s, {', '.join(selected)} {source} "
        "ON CONFLICT (run_pk, key_id, block) DO UPDATE SET " + ", ".join(f"{n} = excluded.{n}" for n in _POINTS), params)
    tiles = sorted({(key_id, block // TILE) for key_id, block in blocks})  # their tiles, packed again
    conn.execute("SELECT tk_pack_tiles(%s, %s::int[], %s::bigint[])",
                 (run_pk, [key_id for key_id, _ in tiles], [tile for _, tile in tiles]))
    if started is None:  # rebuilt blocks: their point tiles packed again from the blocks' points
        point_tiles = sorted({(key_id, block // POINT_TILE) for key_id, block in blocks})
        conn.execute("SELECT tk_pack_points(%s, %s::int[], %s::bigint[])",
                     (run_pk, [key_id for key_id, _ in point_tiles], [tile for _, tile in point_tiles]))
    else:
        _append_points(conn, run_pk, blocks, started)


def _append_points(conn: Any, run_pk: int, blocks: dict[tuple[int, int], tuple[int, int, list[tuple[int, int, float]]]],
                   started: dict[tuple[int, int], int]) -> None:
    """Append the points of blocks a batch wrote at the end of each key (``started``: the points already
    stored of a block an earlier batch began) to their point tiles, packed here as tk_pack_points packs them:
    a tile keeps its points before those blocks and gets theirs (the started block's again, in full)."""
    tiles: dict[tuple[int, int], list[Any]] = {}
    for (key_id, block), (_, _, points) in sorted(blocks.items()):
        found = tiles.setdefault((key_id, block // POINT_TILE), [started.get((key_id, block), 0), []])
        found[1].extend(points)
    keys, numbers, drops, counts, data = [], [], [], [], []
    for (key_id, tile), (drop, points) in tiles.items():
        keys.append(key_id)
        numbers.append(tile)
        drops.append(drop)
        counts.append(len(points))
        data.append(struct.pack(">" + "qqd" * len(points), *chain.from_iterable(points)))
    params = (keys, numbers, drops, counts, data, run_pk)
    # A tile already stored: its points before the written blocks, then theirs. (Never fewer than none: a
    # tile that does not hold what its blocks count is read by no chart, which falls back to sample_step,
    # and must not fail the batch.)
    conn.execute(
        "UPDATE history_point_tiles h SET points = greatest(h.points - u.drop, 0) + u.points, "
        f"data = substr(h.data, 1, {_POINT_SIZE} * greatest(h.points - u.drop, 0)) || u.data "
        "FROM unnest(%s::int[], %s::bigint[], %s::int[], %s::int[], %s::bytea[]) AS u(key_id, tile, drop, points, data) "
        "WHERE h.run_pk = %s AND h.key_id = u.key_id AND h.tile = u.tile", params)
    conn.execute(  # a new tile
        "INSERT INTO history_point_tiles (run_pk, key_id, tile, points, data) SELECT %s, u.key_id, u.tile, u.points, u.data "
        "FROM unnest(%s::int[], %s::bigint[], %s::int[], %s::bytea[]) AS u(key_id, tile, points, data) "
        "ON CONFLICT (run_pk, key_id, tile) DO NOTHING", (run_pk, keys, numbers, counts, data))


def add_blocks(conn: Any, run_pk: int, base: dict[int, int], key_ids: Sequence[int], seqs: Sequence[int],
               steps: Sequence[int | None], values: Sequence[float]) -> None:
    """Add a batch's points (in written order) to their blocks; ``base`` is each key's number of points
    before the batch. New points have higher seqs than any stored, so a block only grows at its end."""
    blocks: dict[tuple[int, int], tuple[int, int, list[tuple[int, int, float]]]] = {}
    counter = dict(base)
    for index, key_id in enumerate(key_ids):
        ordinal = counter[key_id]
        counter[key_id] = ordinal + 1
        ident = (key_id, ordinal // BLOCK)
        found = blocks.get(ident)
        if found is None:
            found = blocks[ident] = (seqs[index], seqs[index], [])
        else:
            blocks[ident] = found = (found[0], seqs[index], found[2])
        if steps[index] is not None:
            found[2].append((seqs[index], steps[index], values[index]))  # type: ignore[arg-type]
    started = [(key_id, n // BLOCK) for key_id, n in base.items() if n % BLOCK and (key_id, n // BLOCK) in blocks]
    stored: dict[tuple[int, int], int] = {}  # their points already stored
    if started:  # blocks that earlier batches began: their points come first
        wanted = set(started)
        for key_id, block, seq_lo, old_seqs, old_steps, old_vals in conn.execute(
            "SELECT b.key_id, b.block, b.seq_lo, p.seqs, p.steps, p.vals FROM history_blocks b JOIN history_block_points p "
            "ON p.run_pk = b.run_pk AND p.key_id = b.key_id AND p.block = b.block "
            "WHERE b.run_pk = %s AND b.key_id = ANY(%s::int[]) AND b.block = ANY(%s::bigint[])",  # index conditions, all three
            (run_pk, sorted({k for k, _ in started}), sorted({b for _, b in started}))):
            if (key_id, block) not in wanted:
                continue
            _, seq_hi, points = blocks[(key_id, block)]
            blocks[(key_id, block)] = (seq_lo, seq_hi, [*zip(old_seqs, old_steps, old_vals), *points])
            stored[(key_id, block)] = len(old_seqs)
    _write(conn, run_pk, blocks, stored)


def rebuild_blocks(conn: Any, run_pk: int, seqs: Sequence[int]) -> None:
    """Recompute the blocks over ``seqs`` (points a checkpoint drop or a rewind just hid)."""
    if not seqs:
        return
    bounds = (run_pk, min(seqs), max(seqs))
    blocks: dict[tuple[int, int], tuple[int, int, list[tuple[int, int, float]]]] = {
        (key_id, block): (seq_lo, seq_hi, []) for key_id, block, seq_lo, seq_hi in conn.execute(
            "SELECT key_id, block, seq_lo, seq_hi FROM history_blocks WHERE run_pk = %s AND seq_hi >= %s AND seq_lo <= %s",
            bounds)}
    for key_id, block, seq, step, value in conn.execute(
        "SELECT b.key_id, b.block, p.seq, p.step, p.value FROM history_blocks b JOIN history_points p "
        "ON p.run_pk = b.run_pk AND p.key_id = b.key_id AND p.seq BETWEEN b.seq_lo AND b.seq_hi "
        "WHERE b.run_pk = %s AND b.seq_hi >= %s AND b.seq_lo <= %s AND NOT p.dropped AND NOT p.superseded "
        "AND p.step IS NOT NULL ORDER BY b.key_id, b.block, p.seq", bounds):
        blocks[(key_id, block)][2].append((seq, step, value))
    _write(conn, run_pk, blocks)


# The bucket of x, exactly as trackkit._sampling.bucket_index computes it in float8.
_BUCKET = ("CASE WHEN {t}.hi <= {t}.lo THEN 0 "
           "ELSE least(floor(({x} - {t}.lo) * %(n)s / ({t}.hi - {t}.lo)), %(n)s - 1)::int END")
_WHOLE = "blk.i0 = blk.i1 AND blk.step_lo::float8 >= blk.lo AND blk.step_hi::float8 <= blk.hi"
# A block across one bucket edge, with sorted steps and prefix arrays: k points fall before the edge.
# k is found by binary search (width_bucket) for the first integer step past the edge, then checked
# against the bucket function itself, so a rounding slip falls back to the point-by-point split.
_K = ("CASE WHEN a.sorted AND a.pre_low IS NOT NULL AND blk.i1 = blk.i0 + 1 AND blk.step_lo::float8 >= blk.lo "
      "AND blk.step_hi::float8 <= blk.hi THEN width_bucket(ceil(blk.lo + blk.i1 * (blk.hi - blk.lo) / %(n)s)::bigint - 1, "
      "a.steps) END")
_SPLIT = ("c.k BETWEEN 1 AND c.count - 1 AND " + _BUCKET.format(t="c", x="c.steps[c.k]::float8") + " = c.i0 AND "
          + _BUCKET.format(t="c", x="c.steps[c.k + 1]::float8") + " = c.i1")
_SAMPLE = f"""
WITH t AS (
    SELECT * FROM unnest(%(tags)s::int[], %(runs)s::bigint[], %(keys)s::int[], %(lo)s::float8[], %(hi)s::float8[])
        AS t(tag, run_pk, key_id, lo, hi)
), blk AS MATERIALIZED (
    SELECT t.tag, t.lo, t.hi, b.run_pk, b.key_id, b.block, b.step_lo, b.step_hi, b.x_seq, b.x, b.first_seq, b.first_v,
           b.last_seq, b.last_v, b.low, b.high, b.count, b.nan,
           {_BUCKET.format(t="t", x="b.step_lo::float8")} AS i0, {_BUCKET.format(t="t", x="b.step_hi::float8")} AS i1
    FROM t JOIN history_blocks b ON b.run_pk = t.run_pk AND b.key_id = t.key_id
    WHERE b.count > 0 AND b.step_hi::float8 >= t.lo AND b.step_lo::float8 <= t.hi
), cut AS MATERIALIZED (  -- narrow: the two halves' aggregates of a block split at an edge, read from its arrays
    SELECT c.tag, c.lo, c.hi, c.run_pk, c.key_id, c.block, c.i0, c.i1, c.k, coalesce({_SPLIT}, false) AS split,
           c.seqs[1] AS p_xseq, c.steps[1] AS p_x, CASE WHEN c.first_at <= c.k THEN c.seqs[c.first_at] END AS p_fseq,
           CASE WHEN c.first_at <= c.k THEN c.vals[c.first_at] END AS p_fv, c.seqs[c.pre_last[c.k]] AS p_lseq,
           c.vals[c.pre_last[c.k]] AS p_lv, c.pre_low[c.k] AS p_low, c.pre_high[c.k] AS p_high, c.pre_nan[c.k] AS p_nan,
           c.seqs[c.k + 1] AS s_xseq, c.steps[c.k + 1] AS s_x, c.seqs[c.suf_first[c.k + 1]] AS s_fseq,
           c.vals[c.suf_first[c.k + 1]] AS s_fv, CASE WHEN c.last_at > c.k THEN c.seqs[c.last_at] END AS s_lseq,
           CASE WHEN c.last_at > c.k THEN c.vals[c.last_at] END AS s_lv, c.suf_low[c.k + 1] AS s_low,
           c.suf_high[c.k + 1] AS s_high, c.count - c.k AS s_count, c.nan - c.pre_nan[c.k] AS s_nan
    FROM (
        SELECT blk.tag, blk.lo, blk.hi, blk.run_pk, blk.key_id, blk.block, blk.i0, blk.i1, blk.count, blk.nan,
               a.seqs, a.steps, a.vals, a.first_at, a.last_at, a.pre_low, a.pre_high, a.pre_nan, a.pre_last, a.suf_low,
               a.suf_high, a.suf_first, {_K} AS k
        FROM blk JOIN history_block_points a ON a.run_pk = blk.run_pk AND a.key_id = blk.key_id AND a.block = blk.block
        WHERE NOT ({_WHOLE})
    ) AS c
), parts AS (
    SELECT blk.tag, blk.i0 AS bucket, blk.x_seq, blk.x::float8 AS x, blk.first_seq, blk.first_v, blk.last_seq,
           blk.last_v, blk.low, blk.high, blk.count, blk.nan
    FROM blk WHERE {_WHOLE}
    UNION ALL
    SELECT tag, i0, p_xseq, p_x::float8, p_fseq, p_fv, p_lseq, p_lv, p_low, p_high, k, p_nan FROM cut WHERE split
    UNION ALL
    SELECT tag, i1, s_xseq, s_x::float8, s_fseq, s_fv, s_lseq, s_lv, s_low, s_high, s_count, s_nan FROM cut WHERE split
    UNION ALL
    SELECT c.tag, {_BUCKET.format(t="c", x="u.step::float8")}, u.seq, u.step::float8,
           CASE WHEN u.v <> 'NaN' THEN u.seq END, CASE WHEN u.v <> 'NaN' THEN u.v END,
           CASE WHEN u.v <> 'NaN' THEN u.seq END, CASE WHEN u.v <> 'NaN' THEN u.v END,
           CASE WHEN u.v <> 'NaN' THEN u.v END, CASE WHEN u.v <> 'NaN' THEN u.v END, 1, (u.v = 'NaN')::int
    FROM cut c JOIN history_block_points a ON a.run_pk = c.run_pk AND a.key_id = c.key_id AND a.block = c.block,
         unnest(a.seqs, a.steps, a.vals) AS u(seq, step, v)
    WHERE NOT c.split AND u.step::float8 >= c.lo AND u.step::float8 <= c.hi
)
SELECT tag, bucket, (min(ARRAY[x_seq::float8, x]))[2],
       (min(ARRAY[first_seq::float8, first_v]) FILTER (WHERE first_seq IS NOT NULL))[2],
       (max(ARRAY[last_seq::float8, last_v]) FILTER (WHERE last_seq IS NOT NULL))[2],
       min(low), max(high), sum(count)::int, sum(nan)::int
FROM parts GROUP BY tag, bucket ORDER BY tag, bucket
"""


def sample_step(conn: Any, targets: Sequence[tuple[int, int, float, float]], samples: int) -> dict[int, list[tuple[Any, ...]]]:
    """Buckets ``(index, x, first, last, min, max, count, nan)`` along ``_step`` of each target
    ``(run_pk, key_id, start, stop)``, by the target's position in ``targets`` (visible rows only)."""
    params = {"tags": list(range(len(targets))), "runs": [t[0] for t in targets], "keys": [t[1] for t in targets],
              "lo": [float(t[2]) for t in targets], "hi": [float(t[3]) for t in targets], "n": float(samples)}
    result: dict[int, list[tuple[Any, ...]]] = {index: [] for index in range(len(targets))}
    with conn.transaction():
        conn.execute("SET LOCAL work_mem = '64MB'")  # a chart of 100 runs sorts ~400,000 small rows in memory
        found = conn.execute(_SAMPLE, params).fetchall()
    for tag, *bucket in found:
        result[tag].append(tuple(bucket))
    return result
