"""Min/max bucketing of history series: what a chart draws, with no spike ever hidden.

Buckets are equal-width along ``x`` over ``[start, stop]`` (default: the first and last ``x`` of
the run), so several runs sampled with one range line up. Each bucket gives the ``x`` of its first
point and ``first``/``last``/``min``/``max``/``count``/``nan`` of the key; NaN is left out of the
values and counted in ``nan``; ``count`` counts every point of the bucket, NaN included, so the
counts add up to ``total``. A bucket with one point is that point, exactly.

Every store shares this module: the memory store and the local store's slow path feed it rows,
the local store's history index feeds it columns (``Accumulator`` is the one place the rules live).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._errors import UsageError
from ._store import SampledSeries

__all__ = ["Accumulator", "bucket_index", "check_sample_args", "empty_series", "numeric", "sample_rows", "sample_system_rows"]

_AXES = ("_step", "_timestamp", "_runtime")


def numeric(value: Any) -> float | None:
    """A logged value as a float, or None when it is not a number (strings, bools, None ...)."""
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return None


def check_sample_args(keys: Sequence[str], x: str, samples: int, start: float | None, stop: float | None) -> None:
    """Raise a ``UsageError`` naming a bad argument of ``sample_history``."""
    if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
        raise UsageError(f"keys takes a list of metric names; got {keys!r}.")
    if not isinstance(x, str) or not x:
        raise UsageError(f"x takes a key name ('_step', '_timestamp', '_runtime' or a metric); got {x!r}.")
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise UsageError(f"samples must be a positive int; got {samples!r}.")
    for name, bound in (("start", start), ("stop", stop)):
        if bound is not None and (numeric(bound) is None or not math.isfinite(bound)):
            raise UsageError(f"{name} must be a finite number or None; got {bound!r}.")
    if start is not None and stop is not None and stop < start:
        raise UsageError(f"stop ({stop!r}) is before start ({start!r}).")


def bucket_index(x: float, start: float, stop: float, samples: int) -> int:
    """The bucket of ``x`` in ``[start, stop]`` cut into ``samples`` equal widths (the last is closed)."""
    if stop <= start:
        return 0
    index = int((x - start) * samples / (stop - start))
    return samples - 1 if index >= samples else index


def empty_series(key: str, x_key: str, start: float | None, stop: float | None) -> SampledSeries:
    """A series with no points."""
    return {"key": key, "x_key": x_key, "start": start, "stop": stop, "total": 0,
            "x": [], "first": [], "last": [], "min": [], "max": [], "count": [], "nan": []}


class Accumulator:
    """Folds the points of one key, in written order, into buckets."""

    __slots__ = ("start", "stop", "samples", "buckets", "total", "columns")

    def __init__(self, start: float, stop: float, samples: int) -> None:
        self.start, self.stop, self.samples = start, stop, samples
        # bucket -> [x, first, last, min, max, count, nan]
        self.buckets: dict[int, list[Any]] = {}
        self.total = 0
        self.columns: list[list[Any]] | None = None  # or every bucket at once: x, first, ... nan (in bucket order)

    def add(self, x: float, y: float) -> None:
        """One point; the caller has checked ``start <= x <= stop``."""
        index = bucket_index(x, self.start, self.stop, self.samples)
        self.total += 1
        bucket = self.buckets.get(index)
        if bucket is None:
            self.buckets[index] = [x, None, None, None, None, 1, 1] if y != y else [x, y, y, y, y, 1, 0]
            return
        bucket[5] += 1
        if y != y:
            bucket[6] += 1
        elif bucket[1] is None:
            bucket[1] = bucket[2] = bucket[3] = bucket[4] = y
        else:
            bucket[2] = y
            if y < bucket[3]:
                bucket[3] = y
            elif y > bucket[4]:
                bucket[4] = y

    def add_bucket(self, index: int, x: float, first: float | None, last: float | None, low: float | None,
                   high: float | None, count: int, nan: int) -> None:
        """A whole bucket computed elsewhere (the history index)."""
        self.buckets[index] = [x, first, last, low, high, count, nan]
        self.total += count

    def series(self, key: str, x_key: str) -> SampledSeries:
        """The buckets as columns, in bucket order."""
        series = empty_series(key, x_key, self.start, self.stop)
        series["total"] = self.total
        buckets = self.buckets
        columns = self.columns
        if columns is None and buckets:
            columns = [list(column) for column in zip(*[buckets[index] for index in sorted(buckets)])]
        for name, column in zip(("x", "first", "last", "min", "max", "count", "nan"), columns or ()):
            series[name] = column  # type: ignore[literal-required]
        return series


def sample_rows(
    rows: Iterable[Mapping[str, Any]],
    keys: Sequence[str],
    x: str = "_step",
    samples: int = 1000,
    start: float | None = None,
    stop: float | None = None,
) -> dict[str, SampledSeries]:
    """``sample_history`` over rows in written order (the reference every fast path must match).

    With ``x`` a metric, a row without it takes the last value seen, and rows before the first are
    skipped. Keys that never occur in the rows are left out; non-numeric values are skipped.
    """
    check_sample_args(keys, x, samples, start, stop)
    wanted = list(dict.fromkeys(keys))
    carry = x not in _AXES
    points: dict[str, tuple[list[float], list[float]]] = {}
    seen: set[str] = set()
    low = high = None
    current: float | None = None
    for row in rows:
        value = numeric(row.get(x))
        if value is not None and math.isfinite(value):
            current = value
        elif not carry:
            continue
        if current is None:
            continue
        if low is None or current < low:
            low = current
        if high is None or current > high:
            high = current
        for key in wanted:
            if key in row:
                seen.add(key)
                y = numeric(row[key])
                if y is not None:
                    xs, ys = points.setdefault(key, ([], []))
                    xs.append(current)
                    ys.append(y)
    lo = start if start is not None else low
    hi = stop if stop is not None else high
    result: dict[str, SampledSeries] = {}
    for key in wanted:
        if key not in seen:
            continue
        if lo is None or hi is None or hi < lo:
            result[key] = empty_series(key, x, lo, hi)
            continue
        accumulator = Accumulator(lo, hi, samples)
        xs, ys = points.get(key, ([], []))
        for px, py in zip(xs, ys):
            if lo <= px <= hi:
                accumulator.add(px, py)
        result[key] = accumulator.series(key, x)
    return result


def sample_system_rows(
    rows: list[dict[str, Any]],
    keys: Sequence[str] | None,
    samples: int,
    start: float | None,
    stop: float | None,
) -> dict[str, SampledSeries]:
    """System-metrics rows bucketed along ``_timestamp``; every key they hold when ``keys`` is None."""
    if keys is None:
        keys = sorted({key for row in rows for key in row if key != "_timestamp"})
    return sample_rows(rows, keys, "_timestamp", samples, start, stop)
