-- trackkit schema, version 4: rollups of each key's points along _step, kept at ingest, so that
-- sample_history(x="_step") reads a few rows per bucket instead of every point (server/_pg_rollups.py).
--
-- The numeric points of a (run, key) are numbered 0, 1, 2 ... in written order (history_keys.points
-- is the next number); point n belongs to block n / 32. Over its visible points (not dropped, not
-- superseded) that have a _step, in written order, a block keeps (history_blocks, narrow rows):
--   step_lo, step_hi    the smallest and largest step: when both fall in one bucket, the whole block
--                       does, and its aggregates stand for it
--   x_seq, x            the first point (NaN included): a bucket's x
--   first_*, last_*     the first and last non-NaN value, with their seq
--   low, high           min and max of the non-NaN values; count (NaN included) and nan
-- and its points (history_block_points, read only for a block across a bucket edge).
-- seq_lo and seq_hi bound the seqs the block was given (hidden points included): when a checkpoint
-- is dropped or a rewind supersedes rows, the blocks over those seqs are rebuilt at ingest.
ALTER TABLE history_keys ADD COLUMN points bigint NOT NULL DEFAULT 0;

CREATE TABLE history_blocks (
    run_pk      bigint NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    key_id      int NOT NULL,
    block       bigint NOT NULL,
    seq_lo      bigint NOT NULL,
    seq_hi      bigint NOT NULL,
    step_lo     bigint,
    step_hi     bigint,
    x_seq       bigint,
    x           bigint,
    first_seq   bigint,
    first_v     float8,
    last_seq    bigint,
    last_v      float8,
    low         float8,
    high        float8,
    count       int NOT NULL DEFAULT 0,
    nan         int NOT NULL DEFAULT 0,
    PRIMARY KEY (run_pk, key_id, block)
);
CREATE INDEX history_blocks_seq ON history_blocks (run_pk, seq_hi);

-- The points of each block, read only for blocks across a bucket edge (so the narrow rows above stay
-- small for the blocks read whole). seqs/steps/vals are the points; when steps never go back
-- within the block (sorted), the prefix and suffix aggregates split it at an edge in constant time
-- (position k found by binary search over steps): pre_* over points 1..k, suf_* over k..count;
-- pre_last and suf_first are positions of the last/first non-NaN value (0: none), first_at and
-- last_at the block's. Blocks written before version 4, or rebuilt in SQL, have no prefix arrays
-- (NULL) and are split point by point.
CREATE TABLE history_block_points (
    run_pk      bigint NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    key_id      int NOT NULL,
    block       bigint NOT NULL,
    seqs        bigint[] NOT NULL,
    steps       bigint[] NOT NULL,
    vals        float8[] NOT NULL,
    sorted      boolean NOT NULL DEFAULT false,
    first_at    int,
    last_at     int,
    pre_low     float8[],
    pre_high    float8[],
    pre_nan     int[],
    pre_last    int[],
    suf_low     float8[],
    suf_high    float8[],
    suf_first   int[],
    PRIMARY KEY (run_pk, key_id, block)
) WITH (toast_tuple_target = 4080);

-- A block's aggregates from step_lo on, computed from its points (the backfill below).
CREATE FUNCTION tk_block(p_run bigint, p_key int, p_lo bigint, p_hi bigint)
RETURNS TABLE (step_lo bigint, step_hi bigint, x_seq bigint, x bigint, first_seq bigint, first_v float8,
               last_seq bigint, last_v float8, low float8, high float8, count int, nan int)
LANGUAGE sql STABLE AS $$
    SELECT min(step), max(step),
           (array_agg(seq ORDER BY seq))[1], (array_agg(step ORDER BY seq))[1],
           (array_agg(seq ORDER BY seq) FILTER (WHERE value <> 'NaN'))[1],
           (array_agg(value ORDER BY seq) FILTER (WHERE value <> 'NaN'))[1],
           (array_agg(seq ORDER BY seq DESC) FILTER (WHERE value <> 'NaN'))[1],
           (array_agg(value ORDER BY seq DESC) FILTER (WHERE value <> 'NaN'))[1],
           min(value) FILTER (WHERE value <> 'NaN'), max(value) FILTER (WHERE value <> 'NaN'),
           count(*)::int, (count(*) FILTER (WHERE value = 'NaN'))::int
    FROM history_points
    WHERE run_pk = p_run AND key_id = p_key AND seq BETWEEN p_lo AND p_hi
      AND NOT dropped AND NOT superseded AND step IS NOT NULL
$$;

-- Blocks of the points already stored (a database migrated from version 3).
INSERT INTO history_blocks
SELECT b.run_pk, b.key_id, b.block, b.seq_lo, b.seq_hi, r.*
FROM (
    SELECT run_pk, key_id, block, min(seq) AS seq_lo, max(seq) AS seq_hi
    FROM (SELECT run_pk, key_id, seq, (row_number() OVER (PARTITION BY run_pk, key_id ORDER BY seq) - 1) / 32 AS block
          FROM history_points) AS numbered
    GROUP BY run_pk, key_id, block
) AS b, LATERAL tk_block(b.run_pk, b.key_id, b.seq_lo, b.seq_hi) AS r;

UPDATE history_keys k SET points = c.n
FROM (SELECT run_pk, key_id, count(*) AS n FROM history_points GROUP BY run_pk, key_id) AS c
WHERE k.run_pk = c.run_pk AND k.key_id = c.key_id;

INSERT INTO history_block_points (run_pk, key_id, block, seqs, steps, vals)
SELECT b.run_pk, b.key_id, b.block, coalesce(array_agg(p.seq ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL), '{}'),
       coalesce(array_agg(p.step ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL), '{}'),
       coalesce(array_agg(p.value ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL), '{}')
FROM history_blocks b LEFT JOIN history_points p ON p.run_pk = b.run_pk AND p.key_id = b.key_id
     AND p.seq BETWEEN b.seq_lo AND b.seq_hi AND NOT p.dropped AND NOT p.superseded AND p.step IS NOT NULL
GROUP BY b.run_pk, b.key_id, b.block;
