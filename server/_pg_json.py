"""JSON for JSONB columns: non-finite floats travel as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` (the round-2 value rule) and come back as floats.

PostgreSQL's JSON has no NaN or infinity, and orjson/msgspec would write them as ``null`` (a lost
value), so the standard library encodes, with a fast path for documents that are all finite.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["NONFINITE", "decode", "dumps", "loads"]

NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_strict = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False, default=repr).encode


def _encode(value: Any) -> Any:
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (math.inf, -math.inf):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """JSON text for a JSONB column (non-finite floats as strings, odd objects as their repr).

    PostgreSQL cannot hold the character U+0000 in JSONB text, so it is written as U+FFFD.
    """
    try:
        text = _strict(value)
    except ValueError:  # a non-finite float somewhere: walk the document once
        text = _strict(_encode(value))
    return text.replace("\\u0000", "\\ufffd") if "\\u0000" in text else text


def decode(value: Any) -> Any:
    """A decoded JSONB document with the non-finite strings turned back into floats."""
    if isinstance(value, str):
        return NONFINITE.get(value, value) if len(value) <= 9 else value
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def loads(data: str | bytes) -> Any:
    """Parse JSONB text from the database (psycopg's loader); walks only when a non-finite string is there."""
    value = json.loads(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if b'"NaN"' not in raw and b'Infinity"' not in raw:
            return value
    elif '"NaN"' not in data and 'Infinity"' not in data:
        return value
    return decode(value)
