"""Charts of long runs over PostgreSQL: with wide buckets, blocks at a bucket edge are taken whole
(a point may land in the bucket next to its own, within one block of the edge), every point is still
counted once, a spike is never hidden, rewinds and dropped checkpoints are honoured; zoomed ranges
and small runs stay exactly what ``sample_rows`` gives."""

from __future__ import annotations

import copy
import math
import random
import struct
from typing import Any

import psycopg
import pytest

from trackkit._sampling import bucket_index, sample_rows
from trackkit._store import resolve_history
from trackkit.server._pg_rollups import BLOCK
from trackkit.server._pg_tiles import WIDE_POINTS

STEPS, SPIKE_STEP, SPIKE = 24_000, 12_345, 1e6
NAN = float("nan")


def _rows(seed: int) -> list[dict[str, Any]]:
    """A long noisy run with NaN, a few step jumps and one spike."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    step = 0
    while step < STEPS:
        value = SPIKE if step == SPIKE_STEP else NAN if rng.random() < 0.02 else math.exp(-step / 8000) + rng.random() * 0.1
        rows.append({"_step": step, "loss": value})
        step += 1 if rng.random() < 0.99 else rng.randint(2, 50)
    return rows


def _write(store: Any, project: str, run_id: str, rows: list[dict[str, Any]], batch: int = 3000) -> None:
    sink, _ = store.open_run(project, run_id, resume=None)
    sink.write_meta({"id": run_id, "created_at": 1.0})
    for first in range(0, len(rows), batch):
        sink.append_history(copy.deepcopy(rows[first: first + batch]))
    sink.close()


def _points(resolved: list[dict[str, Any]], key: str, lo: float, hi: float) -> list[tuple[float, float]]:
    return [(float(r["_step"]), float(r[key])) for r in resolved if key in r and lo <= r["_step"] <= hi]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _check_wide(got: dict[str, Any], resolved: list[dict[str, Any]], samples: int, start: Any = None,
                stop: Any = None) -> None:
    """Every bucket holds the points of its own exact bucket that are more than a block away from its
    edges, and nothing from further than the neighbouring buckets; counts add up; the spike is there."""
    expected = sample_rows(resolved, ["loss"], "_step", samples, start, stop)["loss"]
    lo, hi = expected["start"], expected["stop"]
    points = _points(resolved, "loss", lo, hi)
    assert len(points) >= WIDE_POINTS  # the wide path: whole blocks at the edges
    assert got["total"] == expected["total"] == len(points) == sum(got["count"])
    assert sum(got["nan"]) == sum(expected["nan"])
    home = [bucket_index(x, lo, hi, samples) for x, _ in points]
    interior: dict[int, list[float]] = {}  # points whose whole block (any 32 neighbours) shares their bucket
    near: dict[int, list[float]] = {}
    for n, ((_, value), bucket) in enumerate(zip(points, home)):
        around = home[max(0, n - BLOCK + 1): n + BLOCK]
        if value == value:
            for b in (bucket - 1, bucket, bucket + 1):
                near.setdefault(b, []).append(value)
            if min(around) == max(around) == bucket:
                interior.setdefault(bucket, []).append(value)
    exact_counts = dict(zip([bucket_index(x, lo, hi, samples) for x in expected["x"]], expected["count"]))
    for x, low, high, count in zip(got["x"], got["min"], got["max"], got["count"]):
        bucket = bucket_index(x, lo, hi, samples)
        if bucket in interior:
            assert low <= min(interior[bucket]) and high >= max(interior[bucket]), bucket
        if low is not None:
            assert min(near[bucket]) <= low and high <= max(near[bucket]), bucket
        assert abs(count - exact_counts.get(bucket, 0)) <= 2 * (BLOCK - 1)
    assert [bucket_index(x, lo, hi, samples) for x in got["x"]] == sorted({bucket_index(x, lo, hi, samples) for x in got["x"]})
    peak = max(v for v in expected["max"] if v is not None)  # the spike, where it is in range
    peak_bucket = bucket_index(expected["x"][expected["max"].index(peak)], lo, hi, samples)
    assert any(high == peak and abs(bucket_index(x, lo, hi, samples) - peak_bucket) <= 1
               for x, high in zip(got["x"], got["max"]))


def test_wide_buckets_take_edge_blocks_whole(pg_store: Any, project: str) -> None:
    """A long run at 100 and 300 buckets: each bucket within one block of its exact content, the spike shown, counts exact."""
    rows = _rows(1)
    _write(pg_store, project, "long", rows)
    resolved = resolve_history(copy.deepcopy(rows))
    for samples in (100, 300):
        got = pg_store.sample_history(project, "long", ["loss"], samples=samples)["loss"]
        _check_wide(got, resolved, samples)
        assert SPIKE in got["max"]
    many = pg_store.sample_history_many([(project, "long")], ["loss"], samples=100)
    assert _same(many[0], pg_store.sample_history(project, "long", ["loss"], samples=100))


def test_wide_buckets_over_part_of_a_run_and_steps_logged_twice(pg_store: Any, project: str) -> None:
    """Wide buckets over a range that cuts blocks at start and stop, and a run whose steps go back
    (5,000 to 15,000 logged twice, no rewind): still within one block of the exact buckets."""
    rows = _rows(5)
    again = [row for row in rows if 5000 <= row["_step"] < 15_000]
    at = next(n for n, row in enumerate(rows) if row["_step"] >= 15_000)
    rows = rows[:at] + [{**row, "loss": row["loss"] + 0.5} for row in again] + rows[at:]
    _write(pg_store, project, "twice", rows)
    resolved = resolve_history(copy.deepcopy(rows))
    for samples, start, stop in [(100, None, None), (80, 1000.5, 20_000.5), (60, 2990, 16_010)]:
        got = pg_store.sample_history(project, "twice", ["loss"], samples=samples, start=start, stop=stop)["loss"]
        _check_wide(got, resolved, samples, start, stop)


def test_zoomed_ranges_and_one_bucket_stay_exact(pg_store: Any, project: str) -> None:
    """A zoomed range of a long run (few points per bucket) and a single bucket are exactly sample_rows."""
    rows = _rows(2)
    _write(pg_store, project, "long", rows)
    resolved = resolve_history(copy.deepcopy(rows))
    for samples, start, stop in [(100, 5000, 5999), (50, 12_000.5, 12_800), (1, None, None), (1000, None, None)]:
        expected = sample_rows(resolved, ["loss"], "_step", samples, start, stop)
        got = pg_store.sample_history(project, "long", ["loss"], samples=samples, start=start, stop=stop)
        assert _same(dict(got["loss"]), dict(expected["loss"])), (samples, start, stop)


def test_rewinds_and_dropped_checkpoints_are_honoured(pg_store: Any, project: str) -> None:
    """A long run rewound (its later rows, with a huge value, superseded) and a checkpoint replaced:
    the wide buckets show only what readers see."""
    rows = _rows(3)
    at = next(n for n, row in enumerate(rows) if row["_step"] >= 20_000)
    rows[at - 10]["loss"] = 1e9  # superseded below: must not show
    rows.append({"_rewind": 18_000, "_writer": "w2"})
    rows += [{"_step": step, "loss": 0.5 + (step % 7) / 100} for step in range(18_001, STEPS + 500)]
    rows.append({"_step": STEPS + 500, "loss": -1e9, "_partial": "c1"})  # replaced below: must not show
    rows.append({"_step": STEPS + 500, "loss": 0.25, "_replaces": "c1"})
    _write(pg_store, project, "rewound", rows, batch=2500)
    resolved = resolve_history(copy.deepcopy(rows))
    got = pg_store.sample_history(project, "rewound", ["loss"], samples=100)["loss"]
    _check_wide(got, resolved, 100)
    assert 1e9 not in got["max"] and -1e9 not in got["min"]


def test_databases_from_version_4_get_their_tiles(make_database: Any) -> None:
    """Migration 005 packs the tiles of runs stored before it: their charts are the same as if ingested after."""
    from trackkit.server.migrate import migrate, migrations
    from trackkit.server.postgres_store import PostgresStore

    conninfo = make_database()
    migrate(conninfo)
    store = PostgresStore(conninfo)
    try:
        rows = _rows(4)
        _write(store, "old", "long", rows)
        before = store.sample_history("old", "long", ["loss"], samples=200)
        with psycopg.connect(conninfo) as conn:  # back to version 4, the data kept, then migration 005 again
            conn.execute("DROP TABLE history_tiles")
            conn.execute("DROP FUNCTION tk_pack_tiles")
            conn.execute(next(sql for number, _, sql in migrations() if number == 5).encode())
        after = store.sample_history("old", "long", ["loss"], samples=200)
        assert _same(before, after)
        _check_wide(after["loss"], resolve_history(copy.deepcopy(rows)), 200)
    finally:
        store.close()


def _rewound(seed: int) -> list[dict[str, Any]]:
    """A long run rewound to step 6,000 (the later rows, with a huge value, superseded) and a checkpoint replaced."""
    rows = _rows(seed)
    at = next(n for n, row in enumerate(rows) if row["_step"] >= 7000)
    rows[at - 10]["loss"] = 1e9  # superseded below
    rows.append({"_rewind": 6000, "_writer": "w2"})
    rows += [{"_step": step, "loss": 0.5 + (step % 7) / 100} for step in range(6001, 9000)]
    rows.append({"_step": 9000, "loss": -1e9, "_partial": "c1"})  # replaced below
    rows.append({"_step": 9000, "loss": 0.25, "_replaces": "c1"})
    return rows


def _tile_points(conn: Any, run_pk: int, key_id: int) -> list[list[float]]:
    """The [step, value] of a key's point tiles (migration 006), tile after tile, as stored."""
    found: list[list[float]] = []
    for (data,) in conn.execute("SELECT data FROM history_point_tiles WHERE run_pk = %s AND key_id = %s ORDER BY tile",
                                (run_pk, key_id)):
        found.extend([float(step), value] for _, step, value in struct.iter_unpack(">qqd", bytes(data)))
    return found


@pytest.mark.parametrize("halves_per_tile", [1, 10**9])
def test_narrow_buckets_of_many_runs_are_exactly_the_sql_path(pg_store: Any, project: str, halves_per_tile: int,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Zoomed (narrow) buckets of several runs at once, bucketed from the tiles, the point tiles and the
    halves of blocks across one edge: the same columns as the exact SQL statement over the blocks
    (``sample_step``) and as ``sample_rows``, for ranges that cut blocks, steps logged twice, NaN-only
    stretches, blocks with steps out of order, a rewound run with a replaced checkpoint and a range with no
    point; with blocks across one edge split in halves (as few as possible) or read from their point tiles
    (as many as possible).
    The point tiles hold exactly the points readers see, in written order."""
    from trackkit.server import _pg_tiles
    from trackkit.server._pg_rollups import sample_step
    from trackkit.server._pg_sampling import _columns
    from trackkit.server._pg_tiles import sample_tiles

    monkeypatch.setattr(_pg_tiles, "HALVES_PER_TILE", halves_per_tile)
    runs = {"plain": _rows(6), "twice": _rows(7), "nan": _rows(8), "rewound": _rewound(9), "shuffled": _rows(12)}
    for first in range(0, len(runs["shuffled"]) - BLOCK, 5 * BLOCK):  # every fifth block's steps backwards (unsorted)
        chunk = runs["shuffled"][first: first + BLOCK]
        for row, step in zip(chunk, [row["_step"] for row in chunk][::-1]):
            row["_step"] = step
    again = [row for row in runs["twice"] if 3000 <= row["_step"] < 4000]
    at = next(n for n, row in enumerate(runs["twice"]) if row["_step"] >= 9000)
    runs["twice"] = runs["twice"][:at] + [{**row, "loss": row["loss"] + 0.5} for row in again] + runs["twice"][at:]
    for row in runs["nan"]:
        if 2000 <= row["_step"] < 2500:
            row["loss"] = NAN
    for name, rows in runs.items():
        _write(pg_store, project, name, rows)
    ranges = [(1000, 0, 10_000), (997, 3000.5, 9000.5), (250, 2100, 2400), (40, 40_000, 50_000), (2000, 0, 24_000),
              (400, None, None), (150, 0.5, 9000), (30, 1000, 2000)]
    visible = {name: [row["_step"] for row in resolve_history(copy.deepcopy(rows)) if "loss" in row]
               for name, rows in runs.items()}
    with pg_store.pool.connection() as conn:
        pks = {name: conn.execute("SELECT pk FROM runs WHERE project = %s AND run_id = %s", (project, name)).fetchone()[0]
               for name in runs}
        keys = {name: conn.execute("SELECT key_id FROM history_keys WHERE run_pk = %s AND key = 'loss'",
                                   (pks[name],)).fetchone()[0] for name in runs}
        for name, rows in runs.items():
            assert _same(_tile_points(conn, pks[name], keys[name]),
                         [list(p) for p in _points(resolve_history(copy.deepcopy(rows)), "loss", -math.inf, math.inf)]), name
        for samples, start, stop in ranges:
            targets = [(pks[name], keys[name], float(min(visible[name]) if start is None else start),
                        float(max(visible[name]) if stop is None else stop)) for name in runs]
            got, narrow = sample_tiles(conn, targets, samples)
            assert narrow == []  # no fallback: every target bucketed in numpy
            expected = sample_step(conn, targets, samples)
            for n in range(len(targets)):
                assert _same([list(c) for c in got[n]], _columns(expected[n])), (samples, start, stop, n)
    for samples, start, stop in ranges:
        many = pg_store.sample_history_many([(project, name) for name in runs], ["loss"], samples=samples,
                                            start=start, stop=stop)
        for name, found in zip(runs, many):
            want = sample_rows(resolve_history(copy.deepcopy(runs[name])), ["loss"], "_step", samples, start, stop)
            assert _same(dict(found["loss"]), dict(want["loss"])), (name, samples, start, stop)


def test_databases_from_version_5_get_their_point_tiles(make_database: Any) -> None:
    """Migration 006 packs the point tiles of runs stored before it (a rewound run among them): the same
    points as ingest packs, and the same zoomed charts."""
    from trackkit.server.migrate import migrate, migrations
    from trackkit.server.postgres_store import PostgresStore

    conninfo = make_database()
    migrate(conninfo)
    store = PostgresStore(conninfo)
    try:
        runs = {"long": _rows(10), "rewound": _rewound(11)}
        for name, rows in runs.items():
            _write(store, "old", name, rows)
        zooms = [(1000, 0, 10_000), (300, 5000.5, 8000), (None, None, None)]
        before = [store.sample_history_many([("old", name) for name in runs], ["loss"], samples=samples or 500,
                                            start=start, stop=stop) for samples, start, stop in zooms]
        with psycopg.connect(conninfo) as conn:
            targets = conn.execute("SELECT k.run_pk, k.key_id FROM history_keys k JOIN runs r ON r.pk = k.run_pk "
                                   "WHERE r.project = 'old' AND k.key = 'loss' ORDER BY r.run_id").fetchall()
            packed = [_tile_points(conn, *target) for target in targets]
        with psycopg.connect(conninfo) as conn:  # back to version 5, the data kept, then migration 006 again
            conn.execute("DROP TABLE history_point_tiles")
            conn.execute("DROP FUNCTION tk_pack_points")
            conn.execute(next(sql for number, _, sql in migrations() if number == 6).encode())
        with psycopg.connect(conninfo) as conn:
            assert _same([_tile_points(conn, *target) for target in targets], packed)
        after = [store.sample_history_many([("old", name) for name in runs], ["loss"], samples=samples or 500,
                                           start=start, stop=stop) for samples, start, stop in zooms]
        assert _same(before, after)
        for (samples, start, stop), found in zip(zooms, after):
            for name, got in zip(runs, found):
                want = sample_rows(resolve_history(copy.deepcopy(runs[name])), ["loss"], "_step", samples or 500, start, stop)
                assert _same(dict(got["loss"]), dict(want["loss"])), (name, samples, start, stop)
    finally:
        store.close()
