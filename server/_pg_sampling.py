"""``sample_history`` of the PostgreSQL store for one run or many: which keys each run has, its
sampling range, then the buckets.

Along ``_step`` (rows readers see by default) every key of every run is sampled from the rollups:
long runs with wide buckets from the packed tiles (``_pg_tiles``, whole blocks at bucket edges), the
others exactly from the tiles, the point tiles and the halves of blocks at bucket edges (``_pg_tiles``; one SQL
statement over the blocks, ``_pg_rollups.sample_step``, as a fallback). The other axes (``_timestamp``, ``_runtime``, a metric) and
``include_superseded=True`` keep the exact per-point path of ``_pg_history``, one statement per key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trackkit._store import SampledSeries

from ._pg_history import AXES, first_x_seq, key_seen, sample_key, x_bounds
from ._pg_rollups import sample_step
from ._pg_tiles import sample_tiles

__all__ = ["sample_runs"]


def _fill(series: SampledSeries, columns: Sequence[list[Any]]) -> None:
    """Buckets given as columns ``(x, first, last, min, max, count, nan)``."""
    for name, column in zip(("x", "first", "last", "min", "max", "count", "nan"), columns):
        series[name].extend(column)  # type: ignore[literal-required]
    series["total"] += sum(columns[5])


def _columns(buckets: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Buckets ``(index, x, first, last, min, max, count, nan)`` as columns, without the index."""
    columns = [list(column) for column in zip(*buckets)][1:] if buckets else [[] for _ in range(7)]
    columns[5] = [int(count) for count in columns[5]]
    columns[6] = [int(nan) for nan in columns[6]]
    return columns


def sample_runs(conn: Any, run_pks: Sequence[int], keys: Sequence[str], x: str, samples: int, start: float | None,
                stop: float | None, include_superseded: bool) -> list[dict[str, SampledSeries]]:
    """The series of ``keys`` for each run in ``run_pks`` (arguments already checked), in that order."""
    from trackkit._sampling import empty_series

    wanted = list(dict.fromkeys(keys))
    known: dict[int, dict[str, tuple[int, int, Any, Any, bool]]] = {pk: {} for pk in run_pks}
    for run_pk, key, key_id, count, low, high, has_blocks in conn.execute(
        # a tile's step_lo is set when one of its blocks has a point (the tiles of a key: a few rows by primary key)
        "SELECT k.run_pk, k.key, k.key_id, k.count, k.min_value, k.max_value, EXISTS (SELECT 1 FROM history_tiles t "
        "WHERE t.run_pk = k.run_pk AND t.key_id = k.key_id AND t.step_lo IS NOT NULL) "
        "FROM history_keys k WHERE k.run_pk = ANY(%s::bigint[]) AND k.key = ANY(%s::text[])",
        (list(run_pks), [*wanted, x]),
    ).fetchall():
        known[run_pk][key] = (key_id, count, low, high, has_blocks)
    fast = x == "_step" and not include_superseded
    results: list[dict[str, SampledSeries]] = []
    targets: list[tuple[int, int, float, float]] = []
    pending: list[SampledSeries] = []
    for run_pk in run_pks:
        keys_of = known[run_pk]
        ids = {key: info[0] for key, info in keys_of.items() if info[1] > 0}
        low, high = start, stop
        if low is None or high is None:  # the run's first and last x
            bounds: tuple[Any, Any] | None
            if include_superseded:  # counted from the rows (rare)
                bounds = x_bounds(conn, run_pk, x, ids.get(x), include_superseded=True)
            else:  # kept at ingest
                bounds = keys_of[x][2:4] if x in keys_of else None
            low = low if low is not None else (bounds[0] if bounds else None)
            high = high if high is not None else (bounds[1] if bounds else None)
        result: dict[str, SampledSeries] = {}
        results.append(result)
        first_seq = 0
        if x not in AXES:  # rows before the metric's first value are skipped, their keys too
            found = first_x_seq(conn, run_pk, ids.get(x), include_superseded=include_superseded)
            if found is None:
                continue
            first_seq = found
        for key in wanted:
            if key not in ids or key in AXES:
                continue
            has_points = fast and keys_of[key][4]
            if not has_points and not key_seen(conn, run_pk, key, ids[key], x, first_seq,
                                               include_superseded=include_superseded):
                continue
            series = result[key] = empty_series(key, x, low, high)
            if low is None or high is None or high < low:
                continue
            if fast:
                if has_points:
                    targets.append((run_pk, ids[key], low, high))
                    pending.append(series)
            else:
                buckets = sample_key(conn, run_pk, ids[key], x, ids.get(x), samples, low, high, include_superseded)
                _fill(series, _columns(buckets))
    if targets:
        found: dict[int, Sequence[list[Any]]] = {}
        wide, narrow = sample_tiles(conn, targets, samples)  # whole blocks at edges of wide buckets; narrow ones exact
        found.update(wide)
        if narrow:  # only when a block's arrays were not as expected: exactly, in SQL
            exact = sample_step(conn, [targets[index] for index in narrow], samples)
            found.update({index: _columns(exact[n]) for n, index in enumerate(narrow)})
        for index, series in enumerate(pending):
            _fill(series, found[index])
    return results
