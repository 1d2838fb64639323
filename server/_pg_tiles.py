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
(steps out of order) are split point by point, exactly. Narrower buckets (small runs, zoomed
ranges) keep the exact path of ``_pg_rollups.sample_step``: there the result is exactly
``trackkit._sampling.sample_rows``'s, as on the local store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._pg_rollups import BLOCK

__all__ = ["WIDE_BLOCKS", "WIDE_POINTS", "sample_tiles"]

WIDE_BLOCKS = 2  # a bucket averages at least this many blocks ...
WIDE_POINTS = 16_384  # ... and the target has at least this many points in range: whole blocks at edges

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

_POINTS = """
SELECT u.tag, u.block, a.steps, a.vals
FROM unnest(%(tags)s::int[], %(runs)s::bigint[], %(keys)s::int[], %(blocks)s::bigint[]) AS u(tag, run_pk, key_id, block)
JOIN history_block_points a ON a.run_pk = u.run_pk AND a.key_id = u.key_id AND a.block = u.block
"""


def _bucket(np: Any, x: Any, lo: float, hi: float, samples: int) -> Any:
    """``trackkit._sampling.bucket_index`` over an array of float64 (the same operations, so the same buckets)."""
    if hi <= lo:
        return np.zeros(len(x), dtype=np.int64)
    return np.minimum(np.floor((x - lo) * float(samples) / (hi - lo)), samples - 1).astype(np.int64)


def _buckets(np: Any, parts: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Buckets ``(index, x, first, last, min, max, count, nan)`` from parts (whole blocks and single
    points) with their bucket and written order."""
    if len(parts["bucket"]) == 0:
        return []
    order = np.lexsort((parts["order"], parts["bucket"]))
    bucket = parts["bucket"][order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(bucket)) + 1))
    x = parts["x"][order][starts]
    count = np.add.reduceat(parts["count"][order], starts)
    nan = np.add.reduceat(parts["nan"][order], starts)
    low = np.fmin.reduceat(parts["low"][order], starts)  # fmin/fmax skip NaN: a bucket of NaN only stays NaN
    high = np.fmax.reduceat(parts["high"][order], starts)
    firsts, lasts = parts["first"][order], parts["last"][order]
    position = np.arange(len(bucket))
    first_at = np.minimum.reduceat(np.where(np.isnan(firsts), len(bucket), position), starts)
    last_at = np.maximum.reduceat(np.where(np.isnan(lasts), -1, position), starts)
    first = np.where(first_at < len(bucket), firsts[np.minimum(first_at, len(bucket) - 1)], np.nan)
    last = np.where(last_at >= 0, lasts[np.maximum(last_at, 0)], np.nan)

    def floats(column: Any) -> list[Any]:
        return [None if v != v else v for v in column.tolist()]

    return list(zip(bucket[starts].tolist(), x.tolist(), floats(first), floats(last), floats(low), floats(high),
                    count.tolist(), nan.tolist()))


def sample_tiles(conn: Any, targets: Sequence[tuple[int, int, float, float]],
                 samples: int) -> tuple[dict[int, list[tuple[Any, ...]]], list[int]]:
    """Buckets ``(index, x, first, last, min, max, count, nan)`` of the targets ``(run_pk, key_id,
    start, stop)`` whose buckets are wide, by position in ``targets``; and the positions of the
    others (for the exact path)."""
    import numpy as np

    record = np.dtype(_RECORD)
    params = {"tags": list(range(len(targets))), "runs": [t[0] for t in targets], "keys": [t[1] for t in targets],
              "lo": [float(t[2]) for t in targets], "hi": [float(t[3]) for t in targets]}
    chunks: dict[int, list[bytes]] = {}
    with conn.cursor(binary=True) as cursor:
        for tag, data in cursor.execute(_READ, params):
            chunks.setdefault(tag, []).append(data)
    wide: dict[int, Any] = {}
    narrow: list[int] = []
    for tag, (_, _, lo, hi) in enumerate(targets):
        blocks = np.frombuffer(b"".join(chunks.pop(tag, [])), dtype=record)
        blocks = blocks[(blocks["count"] > 0) & (blocks["step_hi"] >= lo) & (blocks["step_lo"] <= hi)]
        points = int(blocks["count"].sum())
        if points < WIDE_POINTS or points < WIDE_BLOCKS * BLOCK * samples:
            narrow.append(tag)
        else:
            wide[tag] = blocks
    found: dict[int, list[tuple[Any, ...]]] = {}
    split: dict[int, tuple[Any, Any, Any]] = {}
    for tag, blocks in wide.items():
        lo, hi = float(targets[tag][2]), float(targets[tag][3])
        step_lo, step_hi = blocks["step_lo"].astype(np.float64), blocks["step_hi"].astype(np.float64)
        whole = ((step_lo >= lo) & (step_hi <= hi)
                 & (_bucket(np, step_hi, lo, hi, samples) - _bucket(np, step_lo, lo, hi, samples) <= 1))
        taken = blocks[whole]
        split[tag] = (taken, np.asarray(blocks["block"][~whole], dtype=np.int64), (lo, hi))
    wanted = [(tag, int(block)) for tag, (_, cut, _) in split.items() for block in cut]
    cut_points: dict[int, list[tuple[int, list[int], list[float]]]] = {}
    if wanted:
        rows = conn.execute(_POINTS, {"tags": [w[0] for w in wanted], "runs": [targets[w[0]][0] for w in wanted],
                                      "keys": [targets[w[0]][1] for w in wanted], "blocks": [w[1] for w in wanted]})
        for tag, block, steps, vals in rows:
            cut_points.setdefault(tag, []).append((block, steps, vals))
    for tag, (taken, _, (lo, hi)) in split.items():
        x = taken["x"].astype(np.float64)
        parts = {"bucket": _bucket(np, x, lo, hi, samples), "order": taken["block"].astype(np.int64) * (BLOCK + 1),
                 "x": x, "first": taken["first"].astype(np.float64), "last": taken["last"].astype(np.float64),
                 "low": taken["low"].astype(np.float64), "high": taken["high"].astype(np.float64),
                 "count": taken["count"].astype(np.int64), "nan": taken["nan"].astype(np.int64)}
        singles = [(block * (BLOCK + 1) + 1 + i, float(step), float(v))
                   for block, steps, vals in cut_points.get(tag, []) for i, (step, v) in enumerate(zip(steps, vals))
                   if lo <= step <= hi]
        if singles:
            order, xs, vs = (np.array(column) for column in zip(*singles))
            isnan = np.isnan(vs)
            extra = {"bucket": _bucket(np, xs, lo, hi, samples), "order": order.astype(np.int64), "x": xs,
                     "first": vs, "last": vs, "low": vs, "high": vs, "count": np.ones(len(xs), dtype=np.int64),
                     "nan": isnan.astype(np.int64)}
            parts = {name: np.concatenate((parts[name], extra[name])) for name in parts}
        found[tag] = _buckets(np, parts)
    return found, narrow
