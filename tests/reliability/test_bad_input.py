"""Bad input, fuzzed: arbitrary configs and log() payloads either round-trip through the store and
the API or fail at the call site with a TypeError/ValueError; nothing reaches the writer thread that
could stop it."""

from __future__ import annotations

import math
import os
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trackkit
from trackkit.testing import MemoryStore

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
RESERVED = ("_step", "_timestamp", "_runtime")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
# Config keys that name exactly themselves (no dots, no surrounding dashes, not empty).
plain_keys = st.text(min_size=1, max_size=12).filter(lambda k: "." not in k and k.strip("-") == k)


class Opaque:
    """An object of a type trackkit knows nothing about."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<Opaque>"


class Hostile:
    """An object whose repr and attributes raise."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def __getattribute__(self, name: str) -> Any:
        if name in ("__class__", "__repr__"):
            return object.__getattribute__(self, name)
        raise RuntimeError(f"no {name} for you")


def same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to NaN and tuples as lists."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _read(store: Any, run_id: str) -> trackkit.ApiRun:
    return trackkit.Api(store=store).run(f"p/{run_id}") if store is not None else trackkit.Api().run(f"p/{run_id}")


# -- config ----------------------------------------------------------------------------------------
json_configs = st.dictionaries(
    plain_keys,
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(plain_keys, inner, max_size=4),
                 max_leaves=25),
    max_size=8,
)


@FUZZ
@given(config=json_configs, local=st.booleans())
def test_json_like_configs_round_trip(config, local):
    """Any JSON-like config (unicode, big ints, NaN, inf, nesting) reads back exactly as given."""
    store = None if local else MemoryStore()
    run_id = uuid.uuid4().hex[:8]
    with trackkit.init(project="p", id=run_id, config=config, store=store) as run:
        assert same(run.config.as_dict(), config)
    assert same(_read(store, run_id).config, config)


odd_keys = st.text(max_size=6) | st.integers() | st.tuples(st.integers()) | st.just(".") | st.just("a..b")
odd_values = st.recursive(
    scalars
    | st.builds(Opaque)
    | st.builds(Hostile)
    | st.sampled_from([object, print, len, Ellipsis, b"\xff\x00", 3 + 4j, frozenset({1, 2}), range(3)]),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner) | st.dictionaries(odd_keys, inner, max_size=3),
    max_leaves=15,
)


@FUZZ
@given(config=st.dictionaries(odd_keys, odd_values, max_size=6))
def test_any_config_is_stored_as_shown_or_refused_at_init(config):
    """A config with odd keys and objects of unknown types is either stored exactly as run.config
    shows it, or refused by init() with a ValueError/TypeError before anything is written."""
    store = MemoryStore()
    try:
        run = trackkit.init(project="p", id="odd", config=config, store=store)
    except (TypeError, ValueError) as error:
        assert str(error)
        assert store.run_ids("p") == []
        return
    shown = run.config.as_dict()
    run.finish()
    assert same(_read(store, "odd").config, shown)


def test_huge_and_deep_configs_are_stored():
    """A config with 5,000 keys and one nested 3,000 levels deep (and one containing itself) is stored;
    the parts too deep to keep are shown as text."""
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(3000):
        node["d"] = {}
        node = node["d"]
    looped: dict[str, Any] = {"name": "loop"}
    looped["self"] = looped
    config = {f"k{i}": i for i in range(5_000)} | {"deep": deep, "looped": looped, "nan": math.nan}
    with trackkit.init(project="p", id="huge", config=config) as run:
        pass
    stored = trackkit.Api().run("p/huge").config
    assert stored["k4999"] == 4_999 and len(stored) == 5_003
    assert math.isnan(stored["nan"])
    assert stored["looped"]["name"] == "loop"
    assert same(stored, run.config.as_dict())


# -- log() -------------------------------------------------------------------------------------------
log_keys = st.text(max_size=10).filter(lambda k: k not in RESERVED)
log_values = st.recursive(
    scalars | st.lists(scalars, max_size=4),
    lambda inner: st.dictionaries(log_keys, inner, max_size=4),
    max_leaves=20,
)
bad_values = st.sampled_from([Opaque(), Hostile(), object(), {1, 2}, b"bytes", 3 + 4j, print, [Opaque()], [{"a": 1}]])
payloads = st.dictionaries(log_keys, log_values | bad_values, max_size=6) | st.dictionaries(
    st.integers() | st.none(), scalars, min_size=1, max_size=2
)


def expected_row(payload: dict[Any, Any]) -> dict[str, Any] | None:
    """What a row should read back as, or None when log() must refuse the payload."""
    out: dict[str, Any] = {}

    def add(prefix: str, data: dict[Any, Any]) -> bool:
        for key, value in data.items():
            if not isinstance(key, str):
                return False
            if isinstance(value, dict):
                if not add(prefix + key + "/", value):
                    return False
            elif isinstance(value, list):
                if not all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
                    return False
                out[prefix + key] = value
            elif value is None or isinstance(value, (bool, int, float, str)):
                out[prefix + key] = value
            else:
                return False
        return True

    return out if add("", payload) else None


@FUZZ
@given(batch=st.lists(payloads, min_size=1, max_size=5), local=st.booleans())
def test_log_payloads_round_trip_or_fail_at_the_call_site(batch, local):
    """Every log() payload either reads back as one row with the same values, or raises a
    TypeError/ValueError from log() and leaves no row; the writer thread lives on."""
    store = None if local else MemoryStore()
    run_id = uuid.uuid4().hex[:8]
    run = trackkit.init(project="p", id=run_id, store=store)
    accepted = []
    for payload in batch:
        expected = expected_row(payload)
        if expected is None:
            with pytest.raises((TypeError, ValueError)) as raised:
                run.log(payload)
            assert "run.log()" in str(raised.value)
        else:
            run.log(payload)
            accepted.append(expected)  # {} for an empty payload: no row is written, the step still advances
    run.flush()
    assert run._writer._thread.is_alive()
    run.finish()
    rows = list(_read(store, run_id).scan_history())
    written = [(step, expected) for step, expected in enumerate(accepted) if expected]
    assert len(rows) == len(written)
    for row, (step, expected) in zip(rows, written):
        assert same({k: v for k, v in row.items() if k not in RESERVED}, expected)
        assert row["_step"] == step


@FUZZ
@given(step=st.integers(min_value=-5, max_value=10**20) | st.floats() | st.booleans() | st.text(max_size=3)
       | st.none())
def test_any_step_is_used_or_refused_at_the_call_site(step):
    """log(step=...) takes non-negative ints and refuses anything else with a TypeError/ValueError."""
    store = MemoryStore()
    with trackkit.init(project="p", id="steps", store=store) as run:
        valid = step is None or (type(step) is int and step >= 0)
        if valid:
            run.log({"x": 1}, step=step)
        else:
            with pytest.raises((TypeError, ValueError)):
                run.log({"x": 1}, step=step)
    rows = list(_read(store, "steps").scan_history())
    assert [row["_step"] for row in rows] == ([step or 0] if valid else [])


@pytest.mark.parametrize("payload", ["deep", "self-referencing list", "self-referencing dict"])
def test_payloads_that_would_recurse_forever_fail_clearly(payload):
    """Payloads nested thousands deep or containing themselves raise a TypeError naming the problem."""
    if payload == "deep":
        data: dict[str, Any] = {}
        node = data
        for _ in range(5000):
            node["d"] = {}
            node = node["d"]
    elif payload == "self-referencing list":
        loop: list[Any] = [1]
        loop.append(loop)
        data = {"x": loop}
    else:
        data = {"x": 1}
        data["self"] = data
    with trackkit.init(project="p", id="loops") as run:
        with pytest.raises(TypeError, match="nested too deeply"):
            run.log(data)
        run.log({"ok": 1})
    assert [row["ok"] for row in trackkit.Api().run("p/loops").scan_history()] == [1]


def test_a_wide_row_and_long_strings_round_trip():
    """A row with 10,000 metrics and a 1 MB string is written and read back whole."""
    row = {f"m/{i}": i * 0.5 for i in range(10_000)} | {"text": "é" * 1_000_000}
    with trackkit.init(project="p", id="wide") as run:
        run.log(row)
    (stored,) = trackkit.Api().run("p/wide").scan_history()
    assert same({k: v for k, v in stored.items() if k not in RESERVED}, row)
