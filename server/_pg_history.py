"""History in PostgreSQL: ingest a batch of rows in one transaction, and sample a key into min/max
buckets inside the database.

A row is stored twice, on purpose: its exact JSON in ``history_rows`` (what ``scan_history`` gives
back, ints still ints) and each numeric value as a narrow float8 point in ``history_points`` (what
``sample_history`` aggregates, reading one key, never whole rows). ``history_keys`` counters are
updated with each batch, so listing keys never scans.

``trackkit._store.resolve_history`` (the one reading rule) is applied at ingest, as two flags:
- checkpoints: a checkpoint row (``_partial``) is stored with its id, and the later version of it (a
  newer checkpoint with that id, or the complete row naming it in ``_replaces``) marks it ``dropped``;
- rewinds: a marker ``{"_rewind": N, ...}`` is not stored as a row; it marks the rows written before
  it with a step after N ``superseded`` (kept; shown only with ``include_superseded``).
Readers skip dropped rows (and superseded ones by default), so they see what ``resolve_history`` gives.

Each batch also feeds the rollups of ``_pg_rollups`` (blocks of 32 points per key and their packed
tiles, what sampling along ``_step`` reads); a drop or a rewind rebuilds the blocks over the rows it hid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from trackkit._store import CHECKPOINT_KEY, REPLACES_KEY, REWIND_KEY

from ._pg_json import dumps
from ._pg_rollups import add_blocks, rebuild_blocks

__all__ = ["AXES", "first_x_seq", "ingest_rows", "key_seen", "key_type", "recount_keys", "sample_key", "x_bounds"]

AXES = ("_step", "_timestamp", "_runtime")
_SKIP = frozenset((CHECKPOINT_KEY, REPLACES_KEY))
_NUMBER, _STRING, _OTHER = 1, 2, 4  # history_keys.types bits


def key_type(types: int) -> str:
    """The ``KeyInfo`` type of a key from the bits of every value seen."""
    if types & _NUMBER:
        return "number"
    return "string" if types == _STRING else "other"


def _number(value: Any) -> float | None:
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value) if -(2**63) < value < 2**63 else None
    return None


def _int_step(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and -(2**63) < value < 2**63 else None


class _KeyStats:
    __slots__ = ("count", "first_step", "last_step", "types", "low", "high")

    def __init__(self) -> None:
        self.count = 0
        self.first_step: int | None = None
        self.last_step: int | None = None
        self.types = 0
        self.low: float | None = None
        self.high: float | None = None


def ingest_rows(conn: Any, run_pk: int, first_seq: int, rows: Sequence[dict[str, Any]], key_ids: dict[str, int]) -> None:
    """Insert ``rows`` as sequence numbers ``first_seq...`` (inside the caller's transaction)."""
    seqs: list[int] = []
    steps: list[int | None] = []
    stamps: list[float | None] = []
    runtimes: list[float | None] = []
    checkpoints: list[str | None] = []
    documents: list[str] = []
    point_keys: list[str] = []
    point_seqs: list[int] = []
    point_steps: list[int | None] = []
    point_values: list[float] = []
    stats: dict[str, _KeyStats] = {}
    replaced: set[str] = set()
    last_checkpoint: dict[str, int] = {}
    rewinds: list[tuple[int, int]] = []
    for offset, row in enumerate(rows):
        seq = first_seq + offset
        if REWIND_KEY in row:  # a marker, not a row: it supersedes what came before it
            if _int_step(row[REWIND_KEY]) is not None:
                rewinds.append((seq, row[REWIND_KEY]))
            continue
        step = _int_step(row.get("_step"))
        checkpoint = row.get(CHECKPOINT_KEY)
        if checkpoint is not None:
            checkpoint = str(checkpoint)
            last_checkpoint[checkpoint] = seq
        if REPLACES_KEY in row:
            replaced.add(str(row[REPLACES_KEY]))
        if checkpoint is not None or REPLACES_KEY in row:
            row = {k: v for k, v in row.items() if k not in _SKIP}
        seqs.append(seq)
        steps.append(step)
        stamps.append(_number(row.get("_timestamp")))
        runtimes.append(_number(row.get("_runtime")))
        checkpoints.append(checkpoint)
        documents.append(dumps(row))
        for key, value in row.items():
            info = stats.get(key)
            if info is None:
                info = stats[key] = _KeyStats()
            info.count += 1
            if step is not None:
                if info.first_step is None:
                    info.first_step = step
                info.last_step = step
            number = _number(value)
            if number is not None:
                info.types |= _NUMBER
                if math.isfinite(number):
                    if info.low is None or number < info.low:
                        info.low = number
                    if info.high is None or number > info.high:
                        info.high = number
                if key not in AXES:
                    point_keys.append(key)
                    point_seqs.append(seq)
                    point_steps.append(step)
                    point_values.append(number)
            else:
                info.types |= _STRING if isinstance(value, str) else _OTHER
    _ensure_keys(conn, run_pk, [key for key in stats if key not in key_ids], key_ids)
    run = str(run_pk)
    lines = [
        f"{run}\t{seq}\t{_text(step)}\t{_text(ts)}\t{_text(rt)}\t{_escape(cp) if cp is not None else NULL}\t{_escape(doc)}\n"
        for seq, step, ts, rt, cp, doc in zip(seqs, steps, stamps, runtimes, checkpoints, documents)
    ]
    _copy(conn, "COPY history_rows (run_pk, seq, step, ts, runtime, checkpoint, data) FROM STDIN", lines)
    if point_values:
        lines = [f"{run}\t{key_ids[key]}\t{seq}\t{_text(step)}\t{value!r}\n"
                 for key, seq, step, value in zip(point_keys, point_seqs, point_steps, point_values)]
        _copy(conn, "COPY history_points (run_pk, key_id, seq, step, value) FROM STDIN", lines)
    names = list(stats)
    added = dict.fromkeys(names, 0)
    for key in point_keys:
        added[key] += 1
    numbered = conn.execute(
        "UPDATE history_keys k SET count = k.count + u.count, first_step = coalesce(k.first_step, u.first_step), "
        "last_step = coalesce(u.last_step, k.last_step), types = k.types | u.types, "
        "min_value = least(k.min_value, u.low), max_value = greatest(k.max_value, u.high), points = k.points + u.points "
        "FROM unnest(%s::int[], %s::bigint[], %s::bigint[], %s::bigint[], %s::smallint[], %s::float8[], %s::float8[], "
        "%s::bigint[]) AS u(key_id, count, first_step, last_step, types, low, high, points) "
        "WHERE k.run_pk = %s AND k.key_id = u.key_id RETURNING k.key_id, k.points - u.points",
        ([key_ids[n] for n in names], [stats[n].count for n in names], [stats[n].first_step for n in names],
         [stats[n].last_step for n in names], [stats[n].types for n in names], [stats[n].low for n in names],
         [stats[n].high for n in names], [added[n] for n in names], run_pk),
    ).fetchall()
    if point_values:
        add_blocks(conn, run_pk, dict(numbered), [key_ids[k] for k in point_keys], point_seqs, point_steps, point_values)
    if replaced or last_checkpoint:
        _drop_checkpoints(conn, run_pk, sorted(replaced), last_checkpoint)
    if rewinds:
        _supersede(conn, run_pk, rewinds)


NULL = "\\N"


def _text(value: float | int | None) -> str:
    """A number in COPY's text format (``repr`` round-trips floats exactly; PostgreSQL reads nan/inf)."""
    return NULL if value is None else repr(value)


def _escape(text: str) -> str:
    """Text for COPY's text format: backslash, tab, newline and carriage return escaped."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _copy(conn: Any, statement: str, lines: list[str]) -> None:
    """Bulk-load ``lines`` (COPY text format) in one round trip: no per-value adaptation in Python."""
    with conn.cursor().copy(statement) as copy:
        copy.write("".join(lines))


def _ensure_keys(conn: Any, run_pk: int, new: list[str], key_ids: dict[str, int]) -> None:
    """Number the keys not seen before in this run (``key_ids`` caches the numbers)."""
    if not new:
        return
    conn.execute(
        "INSERT INTO history_keys (run_pk, key_id, key) "
        "SELECT %s, (SELECT coalesce(max(key_id), 0) FROM history_keys WHERE run_pk = %s) + u.n, u.key "
        "FROM unnest(%s::text[]) WITH ORDINALITY AS u(key, n) ON CONFLICT (run_pk, key) DO NOTHING",
        (run_pk, run_pk, new),
    )
    for key, key_id in conn.execute(
        "SELECT key, key_id FROM history_keys WHERE run_pk = %s AND key = ANY(%s::text[])", (run_pk, new)
    ):
        key_ids[key] = key_id


def _drop_checkpoints(conn: Any, run_pk: int, replaced: list[str], last: dict[str, int]) -> None:
    """Mark checkpoint rows that a later version replaced, and take them out of the key counts."""
    ids = list(last)
    dropped = [seq for (seq,) in conn.execute(
        "UPDATE history_rows h SET dropped = true WHERE h.run_pk = %s AND h.checkpoint IS NOT NULL AND NOT h.dropped "
        "AND (h.checkpoint = ANY(%s::text[]) OR EXISTS (SELECT 1 FROM unnest(%s::text[], %s::bigint[]) AS c(id, last) "
        "WHERE c.id = h.checkpoint AND h.seq < c.last)) RETURNING h.seq",
        (run_pk, replaced, ids, [last[i] for i in ids]),
    )]
    if not dropped:
        return
    conn.execute("UPDATE history_points SET dropped = true WHERE run_pk = %s AND seq = ANY(%s::bigint[])", (run_pk, dropped))
    rebuild_blocks(conn, run_pk, dropped)
    conn.execute(
        "UPDATE history_keys k SET count = k.count - d.n FROM (SELECT key, count(*) AS n FROM history_rows h, "
        "json_object_keys(h.data) AS key WHERE h.run_pk = %s AND h.seq = ANY(%s::bigint[]) GROUP BY key) AS d "
        "WHERE k.run_pk = %s AND k.key = d.key",
        (run_pk, dropped, run_pk),
    )
    # A dropped value that was a key's min or max: that key's range is recomputed (rarely needed).
    touched = conn.execute(
        "SELECT DISTINCT k.key, k.key_id FROM history_points p JOIN history_keys k ON k.run_pk = p.run_pk AND k.key_id = p.key_id "
        "WHERE p.run_pk = %(run)s AND p.seq = ANY(%(seqs)s::bigint[]) AND (p.value = k.min_value OR p.value = k.max_value) "
        "UNION SELECT k.key, k.key_id FROM history_rows h JOIN history_keys k ON k.run_pk = h.run_pk "
        "WHERE h.run_pk = %(run)s AND h.seq = ANY(%(seqs)s::bigint[]) AND ("
        "(k.key = '_step' AND h.step::float8 IN (k.min_value, k.max_value)) OR "
        "(k.key = '_timestamp' AND h.ts IN (k.min_value, k.max_value)) OR "
        "(k.key = '_runtime' AND h.runtime IN (k.min_value, k.max_value)))",
        {"run": run_pk, "seqs": dropped}).fetchall()
    for key, key_id in touched:
        low, high = x_bounds(conn, run_pk, key, key_id, include_superseded=False)
        conn.execute("UPDATE history_keys SET min_value = %s, max_value = %s WHERE run_pk = %s AND key_id = %s",
                     (low, high, run_pk, key_id))


_AXIS_COLUMNS = {"_step": "step::float8", "_timestamp": "ts", "_runtime": "runtime"}
_FINITE_X = "{v} IS NOT NULL AND {v} NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)"


def x_bounds(conn: Any, run_pk: int, x: str, x_key_id: int | None, *, include_superseded: bool) -> tuple[Any, Any]:
    """The first and last ``x`` of a run (finite values), computed from the rows themselves."""
    visible = "NOT dropped" + ("" if include_superseded else " AND NOT superseded")
    if x in _AXIS_COLUMNS:
        column = _AXIS_COLUMNS[x]
        finite = _FINITE_X.format(v=column)
        query = f"SELECT min({column}), max({column}) FROM history_rows WHERE run_pk = %s AND {visible} AND {finite}"
        return conn.execute(query, (run_pk,)).fetchone()  # type: ignore[no-any-return]
    if x_key_id is None:
        return None, None
    finite = _FINITE_X.format(v="value")
    query = f"SELECT min(value), max(value) FROM history_points WHERE run_pk = %s AND key_id = %s AND {visible} AND {finite}"
    return conn.execute(query, (run_pk, x_key_id)).fetchone()  # type: ignore[no-any-return]


def _supersede(conn: Any, run_pk: int, rewinds: list[tuple[int, int]]) -> None:
    """Apply rewind markers ``(seq, N)``: rows before a marker with a step after N are superseded;
    then the key counters are recounted from the rows readers see (a rewind is rare)."""
    changed = False
    for marker_seq, step in rewinds:
        seqs = [seq for (seq,) in conn.execute(
            "UPDATE history_rows SET superseded = true WHERE run_pk = %s AND seq < %s AND step > %s AND NOT superseded "
            "RETURNING seq", (run_pk, marker_seq, step))]
        if seqs:
            changed = True
            conn.execute("UPDATE history_points SET superseded = true WHERE run_pk = %s AND seq = ANY(%s::bigint[])",
                         (run_pk, seqs))
            rebuild_blocks(conn, run_pk, seqs)
    if changed:
        recount_keys(conn, run_pk)


def recount_keys(conn: Any, run_pk: int) -> None:
    """Recompute every key's count, first/last step and finite min/max from the visible rows."""
    conn.execute(
        "WITH kv AS (SELECT h.seq, h.step, k.key FROM history_rows h, json_object_keys(h.data) AS k(key) "
        "WHERE h.run_pk = %(run)s AND NOT h.dropped AND NOT h.superseded), "
        "agg AS (SELECT key, count(*) AS n, (min(ARRAY[seq, step]) FILTER (WHERE step IS NOT NULL))[2] AS first_step, "
        "(max(ARRAY[seq, step]) FILTER (WHERE step IS NOT NULL))[2] AS last_step FROM kv GROUP BY key) "
        "UPDATE history_keys k SET count = coalesce(a.n, 0), first_step = a.first_step, last_step = a.last_step "
        "FROM history_keys k2 LEFT JOIN agg a ON a.key = k2.key "
        "WHERE k.run_pk = %(run)s AND k2.run_pk = k.run_pk AND k2.key_id = k.key_id",
        {"run": run_pk})
    finite = "value NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)"
    conn.execute(
        f"UPDATE history_keys k SET min_value = a.low, max_value = a.high FROM (SELECT k2.key_id, "
        f"min(p.value) FILTER (WHERE {finite}) AS low, max(p.value) FILTER (WHERE {finite}) AS high "
        "FROM history_keys k2 LEFT JOIN history_points p ON p.run_pk = k2.run_pk AND p.key_id = k2.key_id "
        "AND NOT p.dropped AND NOT p.superseded WHERE k2.run_pk = %(run)s GROUP BY k2.key_id) AS a "
        "WHERE k.run_pk = %(run)s AND k.key_id = a.key_id AND NOT (k.key = ANY(%(axes)s::text[]))",
        {"run": run_pk, "axes": list(AXES)})
    for key, column in (("_step", "step::float8"), ("_timestamp", "ts"), ("_runtime", "runtime")):
        value = column.split("::")[0]
        conn.execute(
            f"UPDATE history_keys k SET min_value = a.low, max_value = a.high FROM (SELECT "
            f"min({column}) FILTER (WHERE {value} IS NOT NULL AND {finite.replace('value', value)}) AS low, "
            f"max({column}) FILTER (WHERE {value} IS NOT NULL AND {finite.replace('value', value)}) AS high "
            "FROM history_rows WHERE run_pk = %(run)s AND NOT dropped AND NOT superseded) AS a "
            "WHERE k.run_pk = %(run)s AND k.key = %(key)s", {"run": run_pk, "key": key})


# -- sampling ------------------------------------------------------------------------------------
# One statement per key: the points in [lo, hi] along x, each put into bucket
# floor((x - lo) * n / (hi - lo)) (the last bucket closed), exactly as trackkit._sampling.bucket_index
# computes it in float8. first/last/x are taken by written order (seq) with min/max over arrays, so no
# bucket needs sorting; NaN is left out of the values and counted.
_BUCKETS = """
SELECT b.bucket,
       (min(ARRAY[b.seq::float8, b.x]))[2] AS x,
       (min(ARRAY[b.seq::float8, b.value]) FILTER (WHERE b.value <> 'NaN'))[2] AS first,
       (max(ARRAY[b.seq::float8, b.value]) FILTER (WHERE b.value <> 'NaN'))[2] AS last,
       min(b.value) FILTER (WHERE b.value <> 'NaN') AS low,
       max(b.value) FILTER (WHERE b.value <> 'NaN') AS high,
       count(*) AS count,
       count(*) FILTER (WHERE b.value = 'NaN') AS nan
FROM (
    SELECT CASE WHEN %(hi)s <= %(lo)s THEN 0
                ELSE least(floor((p.x - %(lo)s) * %(n)s / (%(hi)s - %(lo)s)), %(n)s - 1)::int END AS bucket,
           p.seq, p.x, p.value
    FROM ({points}) AS p
    WHERE p.x >= %(lo)s AND p.x <= %(hi)s
) AS b
GROUP BY b.bucket ORDER BY b.bucket
"""
_VISIBLE = "NOT {t}.dropped AND (%(superseded)s OR NOT {t}.superseded)"
_FINITE = "{v} NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)"
_POINTS_BY_AXIS = {
    "_step": ("SELECT p.seq, p.step::float8 AS x, p.value FROM history_points p "
              "WHERE p.run_pk = %(run)s AND p.key_id = %(key)s AND p.step IS NOT NULL AND " + _VISIBLE.format(t="p")),
    "_timestamp": ("SELECT p.seq, h.ts AS x, p.value FROM history_points p JOIN history_rows h "
                   "ON h.run_pk = p.run_pk AND h.seq = p.seq WHERE p.run_pk = %(run)s AND p.key_id = %(key)s AND "
                   + _VISIBLE.format(t="p") + " AND h.ts IS NOT NULL AND " + _FINITE.format(v="h.ts")),
    "_runtime": ("SELECT p.seq, h.runtime AS x, p.value FROM history_points p JOIN history_rows h "
                 "ON h.run_pk = p.run_pk AND h.seq = p.seq WHERE p.run_pk = %(run)s AND p.key_id = %(key)s AND "
                 + _VISIBLE.format(t="p") + " AND h.runtime IS NOT NULL AND " + _FINITE.format(v="h.runtime")),
}
# x is another metric: each point takes the last finite value of it at or before its row.
_POINTS_BY_METRIC = (
    "SELECT p.seq, (SELECT q.value FROM history_points q WHERE q.run_pk = p.run_pk AND q.key_id = %(xkey)s "
    "AND q.seq <= p.seq AND " + _VISIBLE.format(t="q") + " AND " + _FINITE.format(v="q.value") +
    " ORDER BY q.seq DESC LIMIT 1) AS x, p.value FROM history_points p "
    "WHERE p.run_pk = %(run)s AND p.key_id = %(key)s AND " + _VISIBLE.format(t="p")
)


def first_x_seq(conn: Any, run_pk: int, x_key_id: int | None, *, include_superseded: bool) -> int | None:
    """The written position of a metric's first finite value: rows before it are skipped."""
    if x_key_id is None:
        return None
    visible = "NOT dropped" + ("" if include_superseded else " AND NOT superseded")
    found = conn.execute(f"SELECT min(seq) FROM history_points WHERE run_pk = %s AND key_id = %s AND {visible} AND "
                         + _FINITE_X.format(v="value"), (run_pk, x_key_id)).fetchone()
    return None if found is None else found[0]


def key_seen(conn: Any, run_pk: int, key: str, key_id: int, x: str, first_seq: int, *, include_superseded: bool) -> bool:
    """Whether a row the sampling reads holds ``key`` (any value): a row from ``first_seq`` on, with a
    finite ``x`` when ``x`` is an axis (``sample_rows`` leaves out keys of no such row)."""
    visible = "NOT {t}.dropped" + ("" if include_superseded else " AND NOT {t}.superseded")
    x_test = ("TRUE" if x not in _AXIS_COLUMNS else _FINITE_X.format(v="h." + _AXIS_COLUMNS[x].split("::")[0]))
    params = {"run": run_pk, "key_id": key_id, "key": key, "first": first_seq}
    numeric = conn.execute(  # the common case, by the points index: a numeric value in such a row
        "SELECT EXISTS (SELECT 1 FROM history_points p JOIN history_rows h ON h.run_pk = p.run_pk AND h.seq = p.seq "
        f"WHERE p.run_pk = %(run)s AND p.key_id = %(key_id)s AND p.seq >= %(first)s AND {visible.format(t='p')} "
        f"AND {x_test})", params).fetchone()[0]
    if numeric:
        return True
    return bool(conn.execute(  # text and other values: look at the rows themselves
        f"SELECT EXISTS (SELECT 1 FROM history_rows h WHERE h.run_pk = %(run)s AND h.seq >= %(first)s AND "
        f"{visible.format(t='h')} AND {x_test} AND h.data -> %(key)s::text IS NOT NULL)", params).fetchone()[0])


def sample_key(conn: Any, run_pk: int, key_id: int, x: str, x_key_id: int | None, samples: int,
               lo: float, hi: float, include_superseded: bool) -> list[tuple[Any, ...]]:
    """Buckets ``(index, x, first, last, min, max, count, nan)`` of one key, in bucket order."""
    points = _POINTS_BY_AXIS.get(x, _POINTS_BY_METRIC)
    params = {"run": run_pk, "key": key_id, "xkey": x_key_id, "superseded": include_superseded,
              "lo": float(lo), "hi": float(hi), "n": float(samples)}
    return list(conn.execute(_BUCKETS.format(points=points), params))
