"""The PostgreSQL store's two read targets of issue 11, measured on trackkit alone:

- chart query: one metric of 100 runs x 100,000 steps, 1,000 buckets each with min/max
  (``PostgresStore.sample_history_many``, what ``POST /api/v1/sample`` calls): target <= 300 ms;
- chart zoom: the same 100 runs, 1,000 buckets over steps 40,000-50,000 and 0-10,000 (narrow buckets,
  exact): target <= 200 ms (issue 12); also 0-40,000 at 1,000 and the full range at 2,000 buckets;
- runs query: 10,000 runs, one config filter and a summary sort, first page of 100
  (``PostgresStore.query_runs``): target <= 100 ms.

    python benchmarks/pg_sampling_bench.py [--store postgresql://postgres@127.0.0.1:5432/trackkit_bench_pg]
                                           [--repeat 9] [--rebuild]

The database is built once (one run of 100,000 rows through the ingest path, copied 99 times in SQL with
its rollups, tiles and point tiles; a database built before migration 006 gets its point tiles from
that migration's backfill when the store starts;
10,000 runs through the store's writer API) and kept for the next measurement; ``--rebuild`` drops it
first. Figures are medians (min-max) of warm repetitions, printed with the load average, since the
machine may be shared.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import time
from typing import Any

STEPS, RUNS, BUCKETS, QUERY_RUNS = 100_000, 100, 1000, 10_000
ZOOMS = [(BUCKETS, 40_000, 50_000), (BUCKETS, 0, 10_000), (BUCKETS, 0, 40_000), (2 * BUCKETS, None, None)]
TARGETED = {(40_000, 50_000), (0, 10_000)}  # the zooms of issue 12
DEFAULT = "postgresql://postgres@127.0.0.1:5432/trackkit_bench_pg"


def _ensure_database(url: str, rebuild: bool) -> None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as admin:
        if rebuild:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            admin.execute(f'CREATE DATABASE "{name}"')


def _build_chart(store: Any) -> None:
    """Run chart/r000 through the ingest path, then 99 copies of it made in SQL."""
    have = set(store.run_ids("chart"))
    if "r000" not in have:
        rng = random.Random(0)
        sink, _ = store.open_run("chart", "r000", resume=None)
        sink.write_meta({"id": "r000", "created_at": time.time()})
        began = time.perf_counter()
        for first in range(0, STEPS, 5000):
            sink.append_history([{"_step": i, "_runtime": i * 0.01, "loss": math.exp(-i / 30_000) + rng.random() * 0.1}
                                 for i in range(first, first + 5000)])
        print(f"ingest: {STEPS:,} rows in batches of 5,000 in {time.perf_counter() - began:.1f} s "
              f"(load average {os.getloadavg()[0]:.1f})")
        sink.close()
    with store.pool.connection() as conn, conn.transaction():
        source = conn.execute("SELECT pk FROM runs WHERE project = 'chart' AND run_id = 'r000'").fetchone()[0]
        for n in range(1, RUNS):
            if f"r{n:03d}" in have:
                continue
            pk = conn.execute(
                "INSERT INTO runs (project, run_id, meta, created_at, activity_at, next_seq) SELECT project, %s, "
                "jsonb_set(meta, '{id}', to_jsonb(%s::text)), created_at + %s, activity_at, next_seq FROM runs "
                "WHERE pk = %s RETURNING pk", (f"r{n:03d}", f"r{n:03d}", n, source)).fetchone()[0]
            for table in ("history_keys", "history_points", "history_blocks", "history_block_points", "history_tiles",
                          "history_point_tiles"):
                columns = [name for (name,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'run_pk' "
                    "ORDER BY ordinal_position", (table,))]
                listed = ", ".join(columns)
                conn.execute(f"INSERT INTO {table} (run_pk, {listed}) SELECT %s, {listed} FROM {table} WHERE run_pk = %s",
                             (pk, source))
        conn.execute("ANALYZE")


def _build_runs(store: Any) -> None:
    """10,000 runs with a config and a summary, written through the store's writer API."""
    have = len(store.run_ids("sweep"))
    rng = random.Random(1)
    for n in range(QUERY_RUNS):
        lr, acc = 10 ** rng.uniform(-5, -1), rng.random()
        if n < have:
            continue
        sink, _ = store.open_run("sweep", f"s{n:05d}", resume=None)
        sink.write_meta({"id": f"s{n:05d}", "created_at": 1.7e9 + n, "state": "finished"})
        sink.write_config({"values": {"lr": lr, "batch": rng.choice([32, 64, 128]), "optimizer": rng.choice(["adam", "sgd"]),
                                      "model": {"depth": rng.randint(2, 12), "width": rng.choice([128, 256])}}})
        sink.write_summary({"values": {"acc": acc, "loss": 1 - acc + rng.random() * 0.1, "epoch": 10}})
        sink.close()
    if have < QUERY_RUNS:
        with store.pool.connection() as conn:
            conn.execute("ANALYZE runs")


def _measure(label: str, call: Any, repeat: int) -> float:
    call()  # warm
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    median = statistics.median(times)
    print(f"{label}: median {median:.0f} ms (min {min(times):.0f}, max {max(times):.0f}; n={repeat}; "
          f"load average {os.getloadavg()[0]:.1f})")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=os.environ.get("TRACKKIT_BENCH_PG", DEFAULT))
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--rebuild", action="store_true", help="drop the benchmark database and build it again")
    args = parser.parse_args()
    from trackkit.server.postgres_store import PostgresStore

    _ensure_database(args.store, args.rebuild)
    store = PostgresStore(args.store, migrate=True)
    try:
        _build_chart(store)
        _build_runs(store)
        print(f"cores {os.cpu_count()}, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
        runs = [("chart", f"r{n:03d}") for n in range(RUNS)]
        began = time.perf_counter()
        got = store.sample_history_many(runs, ["loss"], samples=BUCKETS)
        print(f"chart query, first call of this process (cold): {(time.perf_counter() - began) * 1000:.0f} ms "
              f"(load average {os.getloadavg()[0]:.1f})")
        assert all(len(found["loss"]["x"]) == BUCKETS and found["loss"]["total"] == STEPS for found in got if found)
        _measure(f"chart query, {RUNS} runs x {STEPS:,} steps, {BUCKETS} buckets (target 300 ms)",
                 lambda: store.sample_history_many(runs, ["loss"], samples=BUCKETS), args.repeat)
        for samples, start, stop in ZOOMS:
            got = store.sample_history_many(runs, ["loss"], samples=samples, start=start, stop=stop)
            assert all(found["loss"]["total"] == (stop or STEPS - 1) - (start or 0) + 1 for found in got)
            where = f"steps {start:,}-{stop:,}" if start is not None else "the full range"
            target = " (target 200 ms)" if (start, stop) in TARGETED else ""
            _measure(f"chart zoom, {RUNS} runs, {samples:,} buckets over {where}{target}",
                     lambda n=samples, a=start, b=stop: store.sample_history_many(runs, ["loss"], samples=n, start=a, stop=b),
                     args.repeat)
        _measure("  one run of those (sample_history)",
                 lambda: store.sample_history("chart", "r000", ["loss"], samples=BUCKETS), args.repeat)
        _measure("  one run along _runtime (the exact per-point path)",
                 lambda: store.sample_history("chart", "r000", ["loss"], x="_runtime", samples=BUCKETS), max(3, args.repeat // 3))
        page = store.query_runs("sweep", {"config.optimizer": "adam"}, order="-summary.acc", limit=100)
        assert len(page["runs"]) == 100 and page["total"] > 1000
        _measure(f"runs query, {QUERY_RUNS:,} runs, config equality + summary sort, 100 (target 100 ms)",
                 lambda: store.query_runs("sweep", {"config.optimizer": "adam"}, order="-summary.acc", limit=100), args.repeat)
        _measure(f"runs query, {QUERY_RUNS:,} runs, config range + summary sort, 100",
                 lambda: store.query_runs("sweep", {"config.lr": {"$lt": 0.001}}, order="-summary.acc", limit=100), args.repeat)
    finally:
        store.close()


if __name__ == "__main__":
    main()
