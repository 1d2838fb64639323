-- trackkit schema, version 5: the block aggregates of version 4 packed into tiles, so that a chart over
-- long runs reads a few hundred compact rows instead of one row per block (server/_pg_tiles.py).
--
-- A tile holds the aggregates of 256 consecutive blocks of a (run, key) (blocks 256 t ... 256 t + 255,
-- points 8,192 t ... in written order) as one bytea of fixed-size big-endian records, in block order:
--   block int4, count int2, nan int2, step_lo int8, step_hi int8, x int8,
--   first_v float8, last_v float8, low float8, high float8                          (64 bytes)
-- A block with no visible point has count 0 (its other fields are 0 / NaN); a missing first_v,
-- last_v, low or high is NaN (NaN values are never among them: NaN is only counted). step_lo and
-- step_hi of the tile (its blocks with a point) let a zoomed range skip tiles.
-- Ingest repacks the tiles of the blocks it writes or rebuilds (tk_pack_tiles), in the same transaction.
CREATE TABLE history_tiles (
    run_pk      bigint NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    key_id      int NOT NULL,
    tile        bigint NOT NULL,
    blocks      int NOT NULL,
    step_lo     bigint,
    step_hi     bigint,
    data        bytea NOT NULL,
    PRIMARY KEY (run_pk, key_id, tile)
);
-- The records are mostly random floats: compressing them costs time and gains little.
ALTER TABLE history_tiles ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE FUNCTION tk_pack_tiles(p_run bigint, p_keys int[], p_tiles bigint[]) RETURNS void
LANGUAGE sql VOLATILE AS $$
    INSERT INTO history_tiles AS h (run_pk, key_id, tile, blocks, step_lo, step_hi, data)
    SELECT p_run, t.key_id, t.tile, count(*)::int, min(b.step_lo) FILTER (WHERE b.count > 0),
           max(b.step_hi) FILTER (WHERE b.count > 0),
           string_agg(int4send(b.block::int) || int2send(b.count::int2) || int2send(b.nan::int2)
                      || int8send(coalesce(b.step_lo, 0)) || int8send(coalesce(b.step_hi, 0)) || int8send(coalesce(b.x, 0))
                      || float8send(coalesce(b.first_v, 'NaN')) || float8send(coalesce(b.last_v, 'NaN'))
                      || float8send(coalesce(b.low, 'NaN')) || float8send(coalesce(b.high, 'NaN')), ''::bytea
                      ORDER BY b.block)
    FROM (SELECT DISTINCT * FROM unnest(p_keys, p_tiles) AS u(key_id, tile)) AS t
    JOIN history_blocks b ON b.run_pk = p_run AND b.key_id = t.key_id
                         AND b.block BETWEEN t.tile * 256 AND t.tile * 256 + 255
    GROUP BY t.key_id, t.tile
    ON CONFLICT (run_pk, key_id, tile) DO UPDATE
        SET blocks = excluded.blocks, step_lo = excluded.step_lo, step_hi = excluded.step_hi, data = excluded.data
$$;

-- Tiles of the blocks already stored (a database migrated from version 4).
SELECT tk_pack_tiles(run_pk, array_agg(key_id), array_agg(tile))
FROM (SELECT DISTINCT run_pk, key_id, block / 256 AS tile FROM history_blocks) AS t
GROUP BY run_pk;
