"""The wide-bucket rule of ``sample_history`` written out plainly over rows, as a reference for tests.

A key's numeric points are numbered in written order, 32 to a block. When a key has at least 16,384
live points in ``[start, stop]`` and a bucket averages at least 2 blocks, a complete block inside
the range, without a dead row, whose points fall in at most two neighbouring buckets is taken whole
into the bucket of its first point; every other point goes to its own bucket. Narrower buckets are
exact (``sample_rows``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

BLOCK, WIDE_BLOCKS, WIDE_POINTS = 32, 2, 16_384
_AXES = ("_step", "_timestamp", "_runtime")


def _dead_rows(rows: Sequence[dict[str, Any]]) -> set[int]:
    """Rows of checkpoints (``_partial``) that a later row replaced (``_replaces``, or the same id again)."""
    open_checkpoints: dict[str, int] = {}
    dead = set()
    for number, row in enumerate(rows):
        replaced = row.get("_replaces")
        if replaced is not None and str(replaced) in open_checkpoints:
            dead.add(open_checkpoints.pop(str(replaced)))
        checkpoint = row.get("_partial")
        if checkpoint is not None:
            if str(checkpoint) in open_checkpoints:
                dead.add(open_checkpoints.pop(str(checkpoint)))
            open_checkpoints[str(checkpoint)] = number
    return dead


def _bucket(x: float, lo: float, hi: float, samples: int) -> int:
    return min(int((x - lo) * samples / (hi - lo)), samples - 1)


def sample_by_rule(rows: Sequence[dict[str, Any]], exact: dict[str, Any], x: str, samples: int) -> dict[str, Any]:
    """``sample_history`` of rows (in written order) by the block rule, given its exact answer (a store
    that buckets point by point: the same ``start``/``stop``). ``x`` is a row axis that never goes back."""
    assert x in _AXES
    dead = _dead_rows(rows)
    out = {}
    for key, series in exact.items():
        lo, hi = series["start"], series["stop"]
        points = [(float(row[x]), float(row[key]), n in dead) for n, row in enumerate(rows)
                  if type(row.get(key)) in (int, float)]
        inside = [p for p, (px, _, _) in enumerate(points) if lo is not None and lo <= px <= hi]
        live = sum(1 for p in inside if not points[p][2])
        out[key] = series
        if not inside or hi <= lo or live < WIDE_POINTS or live < WIDE_BLOCKS * BLOCK * samples:
            continue
        first, end = inside[0], inside[-1] + 1
        complete = len(points) // BLOCK  # blocks with all their 32 points written
        j0, j1 = -(-first // BLOCK), min(end // BLOCK, complete)
        if j1 <= j0:
            continue
        taken = {}  # block -> its bucket, for the blocks taken whole
        for j in range(j0, j1):
            block = points[j * BLOCK: (j + 1) * BLOCK]
            low, high = _bucket(block[0][0], lo, hi, samples), _bucket(block[-1][0], lo, hi, samples)
            if high - low <= 1 and not any(d for _, _, d in block):
                taken[j] = low
        assigned: list[tuple[int, float, float]] = []  # (bucket, x, y) in written order
        for p in range(first, end):
            px, py, is_dead = points[p]
            if p // BLOCK in taken:
                assigned.append((taken[p // BLOCK], px, py))
            elif not is_dead:
                assigned.append((_bucket(px, lo, hi, samples), px, py))
        buckets: dict[int, list[Any]] = {}
        for k, px, py in assigned:
            b = buckets.setdefault(k, [px, None, None, None, None, 0, 0])
            b[5] += 1
            if math.isnan(py):
                b[6] += 1
                continue
            if b[1] is None:
                b[1], b[3], b[4] = py, py, py
            b[2] = py
            b[3], b[4] = min(b[3], py), max(b[4], py)
        out[key] = {**series, "total": len(assigned)}
        for i, name in enumerate(("x", "first", "last", "min", "max", "count", "nan")):
            out[key][name] = [buckets[k][i] for k in sorted(buckets)]
    return out
