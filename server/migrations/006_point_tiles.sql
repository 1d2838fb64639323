-- trackkit schema, version 6: the points of the blocks of version 4 packed per 32 blocks, so that an exact
-- (zoomed) chart reads a few rows of packed points instead of one history_block_points row per block
-- across a bucket edge (server/_pg_tiles.py).
--
-- A point tile holds the visible points (those of history_block_points: not dropped, not superseded,
-- with a _step) of 32 consecutive blocks of a (run, key) (blocks 32 t ... 32 t + 31, so at most 1,024
-- points), in written order, as one bytea of fixed-size big-endian records:
--   seq int8, step int8, value float8                                               (24 bytes)
-- points is their number (the sum of the blocks' counts). Ingest repacks the point tiles of the blocks
-- it writes or rebuilds (tk_pack_points), in the same transaction as the blocks and their tiles, so
-- rewinds and dropped checkpoints hide points here exactly as in the blocks.
CREATE TABLE history_point_tiles (
    run_pk      bigint NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    key_id      int NOT NULL,
    tile        bigint NOT NULL,
    points      int NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (run_pk, key_id, tile)
);
-- Steps and random floats: compressing them costs time and gains little.
ALTER TABLE history_point_tiles ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE FUNCTION tk_pack_points(p_run bigint, p_keys int[], p_tiles bigint[]) RETURNS void
LANGUAGE sql VOLATILE AS $$
    INSERT INTO history_point_tiles AS h (run_pk, key_id, tile, points, data)
    SELECT p_run, t.key_id, t.tile, count(u.seq)::int,
           coalesce(string_agg(int8send(u.seq) || int8send(u.step) || float8send(u.v), ''::bytea ORDER BY a.block, u.n)
                        FILTER (WHERE u.seq IS NOT NULL), ''::bytea)
    FROM (SELECT DISTINCT * FROM unnest(p_keys, p_tiles) AS u(key_id, tile)) AS t
    JOIN history_block_points a ON a.run_pk = p_run AND a.key_id = t.key_id
                                AND a.block BETWEEN t.tile * 32 AND t.tile * 32 + 31
    LEFT JOIN LATERAL unnest(a.seqs, a.steps, a.vals) WITH ORDINALITY AS u(seq, step, v, n) ON true
    GROUP BY t.key_id, t.tile
    ON CONFLICT (run_pk, key_id, tile) DO UPDATE SET points = excluded.points, data = excluded.data
$$;

-- Point tiles of the blocks already stored (a database migrated from version 5).
SELECT tk_pack_points(run_pk, array_agg(key_id), array_agg(tile))
FROM (SELECT DISTINCT run_pk, key_id, block / 32 AS tile FROM history_block_points) AS t
GROUP BY run_pk;
