"""Rollups of each key's points along ``_step`` (``history_blocks``, migration 004), kept at ingest,
and ``sample_history(x="_step")`` for many runs at once in one statement that reads them.

The numeric points of a (run, key) are numbered in written order; point n belongs to block
``n // BLOCK``. A block keeps its visible points (the ones with a step) as arrays and their
aggregates: the smallest and largest step, the first point (a bucket's x), first/last non-NaN value
with their seq, min/max, count and NaN count.

Sampling reads every block of a key in ``[start, stop]``: a block whose smallest and largest step
fall into one bucket (the bucket function only grows with x) stands for all its points by its
aggregates; a block across a bucket edge (or across start/stop) is split point by point from its
arrays. first/last/x of a bucket are taken by seq, so the result is exactly what
``trackkit._sampling.sample_rows`` gives over the rows, whatever order the steps were written in.
A run sampled at 1,000 buckets over 100,000 steps reads ~3,000 block rows, not 100,000 points.

Blocks reflect the default view (dropped checkpoints and superseded rows left out): when ingest
drops or supersedes points, the blocks over their seqs are rebuilt from ``history_points``.
``include_superseded=True`` and the other axes keep the exact per-point path of ``_pg_history``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["BLOCK", "add_blocks", "rebuild_blocks", "sample_step"]

BLOCK = 32  # points per block; the migration's backfill uses the same number


def _array(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal of numbers (``repr`` round-trips floats; nan/inf are read back)."""
    return "{" + ",".join(map(repr, values)) + "}"


def add_blocks(conn: Any, run_pk: int, base: dict[int, int], key_ids: Sequence[int], seqs: Sequence[int],
               steps: Sequence[int | None], values: Sequence[float]) -> None:
    """Add a batch's points (in written order) to their blocks; ``base`` is each key's number of points
    before the batch. New points have higher seqs than any stored, so a block only grows at its end."""
    groups: dict[tuple[int, int], list[int]] = {}
    counter = dict(base)
    for index, key_id in enumerate(key_ids):
        ordinal = counter[key_id]
        counter[key_id] = ordinal + 1
        groups.setdefault((key_id, ordinal // BLOCK), []).append(index)
    columns: list[list[Any]] = [[] for _ in range(19)]
    for (key_id, block), members in groups.items():
        kept = [i for i in members if steps[i] is not None]
        vals = [values[i] for i in kept]
        finite = [i for i in kept if values[i] == values[i]]
        numbers = [values[i] for i in finite]
        block_steps = [steps[i] for i in kept]
        row = [key_id, block, seqs[members[0]], seqs[members[-1]],
               min(block_steps) if kept else None, max(block_steps) if kept else None,  # type: ignore[type-var]
               seqs[kept[0]] if kept else None, steps[kept[0]] if kept else None,
               seqs[finite[0]] if finite else None, values[finite[0]] if finite else None,
               seqs[finite[-1]] if finite else None, values[finite[-1]] if finite else None,
               min(numbers) if numbers else None, max(numbers) if numbers else None,
               len(kept), len(kept) - len(finite),
               _array([seqs[i] for i in kept]), _array(block_steps), _array(vals)]
        for column, value in zip(columns, row):
            column.append(value)
    conn.execute(
        "INSERT INTO history_blocks AS b (run_pk, key_id, block, seq_lo, seq_hi, step_lo, step_hi, x_seq, x, "
        "first_seq, first_v, last_seq, last_v, low, high, count, nan, seqs, steps, vals) "
        "SELECT %s, u.key_id, u.block, u.seq_lo, u.seq_hi, u.step_lo, u.step_hi, u.x_seq, u.x, u.first_seq, u.first_v, "
        "u.last_seq, u.last_v, u.low, u.high, u.count, u.nan, u.seqs::bigint[], u.steps::bigint[], u.vals::float8[] "
        "FROM unnest(%s::int[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], "
        "%s::bigint[], %s::bigint[], %s::float8[], %s::bigint[], %s::float8[], %s::float8[], %s::float8[], %s::int[], "
        "%s::int[], %s::text[], %s::text[], %s::text[]) AS u(key_id, block, seq_lo, seq_hi, step_lo, step_hi, x_seq, x, "
        "first_seq, first_v, last_seq, last_v, low, high, count, nan, seqs, steps, vals) "
        "ON CONFLICT (run_pk, key_id, block) DO UPDATE SET seq_hi = excluded.seq_hi, "
        "step_lo = least(b.step_lo, excluded.step_lo), step_hi = greatest(b.step_hi, excluded.step_hi), "
        "x_seq = CASE WHEN b.count > 0 THEN b.x_seq ELSE excluded.x_seq END, "
        "x = CASE WHEN b.count > 0 THEN b.x ELSE excluded.x END, "
        "first_seq = coalesce(b.first_seq, excluded.first_seq), "
        "first_v = CASE WHEN b.first_seq IS NOT NULL THEN b.first_v ELSE excluded.first_v END, "
        "last_seq = coalesce(excluded.last_seq, b.last_seq), "
        "last_v = CASE WHEN excluded.last_seq IS NOT NULL THEN excluded.last_v ELSE b.last_v END, "
        "low = least(b.low, excluded.low), high = greatest(b.high, excluded.high), "
        "count = b.count + excluded.count, nan = b.nan + excluded.nan, "
        "seqs = b.seqs || excluded.seqs, steps = b.steps || excluded.steps, vals = b.vals || excluded.vals",
        (run_pk, *columns),
    )


def rebuild_blocks(conn: Any, run_pk: int, seqs: Sequence[int]) -> None:
    """Recompute the blocks over ``seqs`` (points a checkpoint drop or a rewind just hid)."""
    if not seqs:
        return
    conn.execute(
        "UPDATE history_blocks b SET (step_lo, step_hi, x_seq, x, first_seq, first_v, last_seq, last_v, low, high, "
        "count, nan, seqs, steps, vals) = (SELECT * FROM tk_block(b.run_pk, b.key_id, b.seq_lo, b.seq_hi)) "
        "WHERE b.run_pk = %s AND b.seq_hi >= %s AND b.seq_lo <= %s",
        (run_pk, min(seqs), max(seqs)),
    )


# The bucket of x, exactly as trackkit._sampling.bucket_index computes it in float8.
_BUCKET = ("CASE WHEN {t}.hi <= {t}.lo THEN 0 "
           "ELSE least(floor(({x} - {t}.lo) * %(n)s / ({t}.hi - {t}.lo)), %(n)s - 1)::int END")
_WHOLE = "blk.i0 = blk.i1 AND blk.step_lo::float8 >= blk.lo AND blk.step_hi::float8 <= blk.hi"
_SAMPLE = f"""
WITH t AS (
    SELECT * FROM unnest(%(tags)s::int[], %(runs)s::bigint[], %(keys)s::int[], %(lo)s::float8[], %(hi)s::float8[])
        AS t(tag, run_pk, key_id, lo, hi)
), blk AS (
    SELECT t.tag, t.lo, t.hi, b.step_lo, b.step_hi, b.x_seq, b.x, b.first_seq, b.first_v, b.last_seq, b.last_v,
           b.low, b.high, b.count, b.nan, b.steps, b.vals, b.seqs,
           {_BUCKET.format(t="t", x="b.step_lo::float8")} AS i0, {_BUCKET.format(t="t", x="b.step_hi::float8")} AS i1
    FROM t JOIN history_blocks b ON b.run_pk = t.run_pk AND b.key_id = t.key_id
    WHERE b.count > 0 AND b.step_hi::float8 >= t.lo AND b.step_lo::float8 <= t.hi
), parts AS (
    SELECT blk.tag, blk.i0 AS bucket, blk.x_seq, blk.x::float8 AS x, blk.first_seq, blk.first_v, blk.last_seq,
           blk.last_v, blk.low, blk.high, blk.count, blk.nan
    FROM blk WHERE {_WHOLE}
    UNION ALL
    SELECT blk.tag, s.bucket, blk.seqs[s.x_at], blk.steps[s.x_at]::float8, blk.seqs[s.first_at], blk.vals[s.first_at],
           blk.seqs[s.last_at], blk.vals[s.last_at], s.low, s.high, s.count, s.nan
    FROM blk CROSS JOIN LATERAL (
        SELECT {_BUCKET.format(t="blk", x="u.step::float8")} AS bucket, min(u.at) AS x_at,
               min(u.at) FILTER (WHERE u.v <> 'NaN') AS first_at, max(u.at) FILTER (WHERE u.v <> 'NaN') AS last_at,
               min(u.v) FILTER (WHERE u.v <> 'NaN') AS low, max(u.v) FILTER (WHERE u.v <> 'NaN') AS high,
               count(*)::int AS count, (count(*) FILTER (WHERE u.v = 'NaN'))::int AS nan
        FROM unnest(blk.steps, blk.vals) WITH ORDINALITY AS u(step, v, at)
        WHERE u.step::float8 >= blk.lo AND u.step::float8 <= blk.hi
        GROUP BY 1
    ) AS s
    WHERE NOT ({_WHOLE})
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
    for tag, *bucket in conn.execute(_SAMPLE, params):
        result[tag].append(tuple(bucket))
    return result
