"""History in PostgreSQL reads back as ``resolve_history`` says, and samples as ``sample_rows`` does:
random histories with NaN, infinities, text, checkpoints and rewinds, written in random batches."""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import pytest

from trackkit._query import history_key_infos, scan_rows
from trackkit._sampling import sample_rows
from trackkit._store import resolve_history

NAN, INF = float("nan"), float("inf")


def _history(seed: int, length: int = 400) -> list[dict[str, Any]]:
    """Rows as a writer appends them: metric rows, checkpoints later replaced, rewind markers."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    step, clock, checkpoint = 0, 1_000.0, 0
    epoch = None
    while len(rows) < length:
        clock += rng.choice([0.5, 1.0, 2.0])
        row: dict[str, Any] = {"_step": step, "_timestamp": clock, "_runtime": clock - 1_000.0}
        kind = rng.random()
        row["loss"] = NAN if kind < 0.05 else INF if kind < 0.07 else "diverged" if kind < 0.09 else rng.gauss(0, 1)
        if rng.random() < 0.5:
            row["acc"] = rng.randint(0, 100)
        if rng.random() < 0.1:
            epoch = (epoch or 0) + 1
            row["epoch"] = epoch if rng.random() < 0.9 else NAN
        if rng.random() < 0.05:
            row["note"] = rng.choice(["a", {"nested": [1, NAN]}, True, None])
        if rng.random() < 0.08:  # saved early as a checkpoint (maybe twice), then replaced or left
            checkpoint += 1
            ident = f"w-{checkpoint}"
            for _ in range(rng.randint(1, 2)):
                rows.append({**row, "loss": rng.gauss(5, 1), "_partial": ident})
            if rng.random() < 0.8:
                rows.append({**row, "_replaces": ident})
        else:
            rows.append(row)
        step += 1
        if rng.random() < 0.02 and step > 5:  # resume_from_step=N
            back = rng.randint(0, step - 1)
            rows.append({"_rewind": back, "_writer": f"w{len(rows)}", "_timestamp": clock})
            step = back + 1
    return rows


def _write(store: Any, project: str, run_id: str, rows: list[dict[str, Any]], seed: int) -> None:
    rng = random.Random(seed)
    sink, _ = store.open_run(project, run_id, resume=None)
    sink.write_meta({"id": run_id, "created_at": 1.0})
    index = 0
    while index < len(rows):
        size = rng.choice([1, 3, 17, 64])
        sink.append_history(copy.deepcopy(rows[index: index + size]))
        index += size
    sink.close()


def _same(a: Any, b: Any) -> bool:
    """Equality with NaN equal to NaN, and 3 == 3.0 as Python has it."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b or (isinstance(a, float) and isinstance(b, float) and a == b)


SEEDS = [1, 2, 3]


@pytest.fixture(scope="module", params=SEEDS)
def written(request: pytest.FixtureRequest, pg_store: Any) -> tuple[Any, str, str, list[dict[str, Any]]]:
    project, run_id = f"hist-{request.param}", "run"
    rows = _history(request.param)
    _write(pg_store, project, run_id, rows, request.param)
    return pg_store, project, run_id, rows


@pytest.mark.parametrize("superseded", [False, True])
def test_scan_history_is_the_resolved_history(written: Any, superseded: bool) -> None:
    """Rows come back in written order, checkpoints resolved, rewound rows hidden (or flagged), types kept."""
    store, project, run_id, rows = written
    expected = resolve_history(copy.deepcopy(rows), include_superseded=superseded)
    got = list(store.scan_history(project, run_id, include_superseded=superseded))
    assert len(got) == len(expected)
    assert all(_same(a, b) for a, b in zip(got, expected))
    assert [list(row) for row in got] == [list(row) for row in expected]  # key order kept


def test_scan_history_with_keys_and_steps(written: Any) -> None:
    """keys and a step range select as scan_rows does."""
    store, project, run_id, rows = written
    expected = list(scan_rows(resolve_history(copy.deepcopy(rows)), ["epoch", "note"], 20, 150))
    got = list(store.scan_history(project, run_id, keys=["epoch", "note"], min_step=20, max_step=150))
    assert len(got) == len(expected) and all(_same(a, b) for a, b in zip(got, expected))


def test_history_keys_are_the_keys_of_the_resolved_history(written: Any) -> None:
    """Counts, first/last steps and types kept at ingest equal a fold over the rows readers see."""
    store, project, run_id, rows = written
    assert store.history_keys(project, run_id) == history_key_infos(resolve_history(copy.deepcopy(rows)))


CASES = [
    ("_step", 50, None, None),
    ("_step", 7, None, None),
    ("_step", 1000, None, None),
    ("_step", 10, 30, 90),
    ("_timestamp", 20, None, None),
    ("_runtime", 13, 5.0, 200.0),
    ("epoch", 5, None, None),
    ("acc", 10, None, None),
]


@pytest.mark.parametrize(("x", "samples", "start", "stop"), CASES)
@pytest.mark.parametrize("superseded", [False, True])
def test_sampling_in_the_database_matches_the_reference(written: Any, x: str, samples: int, start: Any, stop: Any,
                                                        superseded: bool) -> None:
    """Buckets computed in SQL equal trackkit._sampling.sample_rows over the resolved rows, column by column."""
    store, project, run_id, rows = written
    keys = ["loss", "acc", "epoch", "note", "never"]
    resolved = resolve_history(copy.deepcopy(rows), include_superseded=superseded)
    expected = sample_rows(resolved, keys, x, samples, start, stop)
    got = store.sample_history(project, run_id, keys, x=x, samples=samples, start=start, stop=stop,
                               include_superseded=superseded)
    assert set(got) == set(expected)
    for key in expected:
        assert _same(dict(got[key]), dict(expected[key])), key
        assert sum(got[key]["count"]) == got[key]["total"]


def test_a_spike_between_samples_is_kept(pg_store: Any) -> None:
    """One outlier in 20,000 noisy steps is the max of its bucket at 50 buckets; NaN are counted apart."""
    rng = random.Random(5)
    rows = [{"_step": i, "v": rng.random() if i % 1000 else NAN} for i in range(20_000)]
    rows[12_345]["v"] = 99.0
    _write(pg_store, "spike", "run", rows, 0)
    series = pg_store.sample_history("spike", "run", ["v"], samples=50)["v"]
    bucket = 12_345 * 50 // 19_999
    assert series["max"][bucket] == 99.0 and sorted(series["max"])[-2] < 1.0
    assert sum(series["nan"]) == 20 and series["total"] == 20_000


def test_system_metrics_sample_along_wall_time(pg_store: Any) -> None:
    """System rows read back in order and sample like the reference, every key when none are named."""
    rows = [{"_timestamp": 100.0 + i, "cpu": float(i % 7), "mem": 1e9 + i, "gpu.0.util": NAN if i == 3 else 50.0}
            for i in range(60)]
    sink, _ = pg_store.open_run("system", "run", resume=None)
    sink.write_meta({"id": "run"})
    sink.append_system(rows[:25])
    sink.append_system(rows[25:])
    sink.close()
    assert all(_same(a, b) for a, b in zip(pg_store.scan_system("system", "run"), rows))
    got = pg_store.sample_system("system", "run", samples=8)
    expected = sample_rows(rows, ["cpu", "gpu.0.util", "mem"], "_timestamp", 8)
    assert set(got) == set(expected) and all(_same(dict(got[k]), dict(expected[k])) for k in expected)


def _long_history(seed: int) -> list[dict[str, Any]]:
    """A dense run of 3,000 steps (whole rollup blocks and blocks across bucket edges), with NaN, a
    checkpoint replaced, a sparse key, a rewind, and steps that jump."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    step = 0
    while step < 3000:
        row: dict[str, Any] = {"_step": step, "loss": NAN if rng.random() < 0.03 else rng.gauss(0, 1)}
        if step % 7 == 0:
            row["sparse"] = -INF if rng.random() < 0.05 else float(step)
        if step == 1234:
            rows.append({**row, "loss": 50.0, "_partial": "c1"})
            rows.append({**row, "_replaces": "c1"})
        else:
            rows.append(row)
        step += 1 if rng.random() < 0.97 else rng.randint(2, 40)
        if step == 2001:  # resume_from_step=1500: 1501..2000 are superseded and logged again
            rows.append({"_rewind": 1500, "_writer": "w2"})
            step = 1501
    return rows


@pytest.mark.parametrize("seed", [11, 12])
def test_rollups_sample_like_the_reference(pg_store: Any, seed: int) -> None:
    """Along _step, buckets read from the rollups (whole blocks, blocks split at an edge by their prefix
    and suffix aggregates, blocks split point by point) equal sample_rows, for many bucket counts and ranges."""
    rows = _long_history(seed)
    _write(pg_store, "rollups", f"run-{seed}", rows, seed)
    resolved = resolve_history(copy.deepcopy(rows))
    for samples, start, stop in [(1000, None, None), (100, None, None), (37, None, None), (3, None, None),
                                 (64, 100, 2500.5), (10, 1499.5, 1503), (1, None, None), (5, 3000, 3000)]:
        expected = sample_rows(resolved, ["loss", "sparse"], "_step", samples, start, stop)
        got = pg_store.sample_history("rollups", f"run-{seed}", ["loss", "sparse"], samples=samples, start=start, stop=stop)
        assert set(got) == set(expected)
        for key in expected:
            assert _same(dict(got[key]), dict(expected[key])), (samples, start, stop, key)


def test_sample_history_many_is_sample_history_per_run(pg_store: Any) -> None:
    """Several runs sampled in one call give each run's own sample_history, in the order asked; a missing run is None."""
    for n in range(3):
        _write(pg_store, "many", f"r{n}", [{"_step": i, "v": float(i * (n + 1) % 17)} for i in range(500 + 300 * n)], n)
    asked = [("many", "r2"), ("many", "gone"), ("many", "r0"), ("many", "r1")]
    got = pg_store.sample_history_many(asked, ["v", "w"], samples=40, start=0, stop=900)
    assert got[1] is None
    for (project, run_id), series in zip(asked, got):
        if series is not None:
            assert _same(series, pg_store.sample_history(project, run_id, ["v", "w"], samples=40, start=0, stop=900))
            assert series["v"]["total"] == min(901, 500 + 300 * int(run_id[1])) and "w" not in series


def test_the_sample_route_answers_what_the_store_samples(pg_store: Any) -> None:
    """POST /api/v1/sample over PostgreSQL (one pass for all runs) gives each run's sample_history; a missing run is an error."""
    import warnings

    from trackkit.server.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette asks for httpx2 here; not ours
        from starlette.testclient import TestClient

    for n in range(2):
        _write(pg_store, "route", f"r{n}", [{"_step": i, "v": NAN if i == 7 else float(i % (n + 5))} for i in range(300)], n)
    with TestClient(create_app(pg_store, ui=False)) as client:
        answer = client.post("/api/v1/sample", json={"runs": [["route", "r1"], ["route", "gone"], ["route", "r0"]],
                                                     "keys": ["v"], "samples": 20})
    assert answer.status_code == 200
    first, gone, last = answer.json()["runs"]
    assert gone["series"] == {} and "route/gone" in gone["error"]
    for entry in (first, last):
        expected = pg_store.sample_history("route", entry["id"], ["v"], samples=20)["v"]
        assert entry["series"]["v"]["max"] == expected["max"] and entry["series"]["v"]["nan"] == expected["nan"]
