"""query_runs in SQL gives what the Python rules give: every operator against a corpus of odd values
(NaN, infinities, lists, nested and dotted keys, SQL-looking strings), the ordering rule in both
directions, paging and projection."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import psycopg
import pytest

from trackkit import UsageError
from trackkit._filters import matches, sort_documents

NAN, INF = float("nan"), float("inf")
EVIL = "'; DROP TABLE runs; --"
# No 0 or 1 among the values: Python's True == 1 is the one place SQL (JSON) deliberately differs.
VALUES: list[Any] = [2, 3.5, -7, 10, 2**40, 0.25, NAN, INF, -INF, True, False, None, "abc", "ABC", "b", "é", "10",
                     EVIL, 'quote"d', "back\\slash", [2, 3.5], ["abc", "b"], [], {"x": 2}, {}]
OPERANDS: list[Any] = [2, 3.5, 0.3, -7, 10, 1e12, INF, -INF, True, False, None, "abc", "b", "é", "10", EVIL, [2, 3.5]]
FIELDS = ["config.v", "config.w", "config.nest.x", "config.dotted.key", "config.missing", "summary.acc", "tags", "name",
          "state", "id"]
REGEXES = ["^a", "b", "(?i)abc", "DROP", "'", "^$", "[0-9]+", "s.a"]


def _value(rng: random.Random) -> Any:
    return rng.choice(VALUES)


@pytest.fixture(scope="module")
def corpus(pg_store: Any) -> tuple[Any, str, list[dict[str, Any]]]:
    """28 runs in a project whose name is itself SQL-looking; returns the store, project, documents."""
    rng = random.Random(2024)
    project = "q'; DROP TABLE runs; --"
    for number in range(28):
        run_id = f"r{number:02d}"
        config: dict[str, Any] = {}
        for key in ("v", "w"):
            if rng.random() < 0.85:
                config[key] = _value(rng)
        if rng.random() < 0.7:
            config["nest"] = {"x": _value(rng)}
        if rng.random() < 0.5:
            config["dotted.key"] = _value(rng)
        summary = {"acc": _value(rng)} if rng.random() < 0.8 else {}
        sink, _ = pg_store.open_run(project, run_id, resume=None)
        sink.write_meta({"id": run_id, "name": rng.choice(["alpha", "beta", EVIL, "Ünïcode"]),
                         "state": rng.choice(["finished", "failed"]), "tags": rng.sample(["a", "b", "c", EVIL], rng.randint(0, 2)),
                         "created_at": 1_700_000_000.0 + number // 3})  # ties in created_at: the id decides
        sink.write_config({"values": config})
        sink.write_summary({"values": summary})
        sink.close()
    documents = pg_store.query_runs(project)["runs"]
    assert len(documents) == 28
    return pg_store, project, documents


def _filters() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for field, operand in itertools.product(FIELDS, OPERANDS):
        cases.append({field: operand})
        for op in ("$ne", "$gt", "$gte", "$lt", "$lte"):
            cases.append({field: {op: operand}})
    for field in FIELDS:
        cases += [{field: {"$in": [2, "abc", None, EVIL]}}, {field: {"$nin": [2, "b", INF]}}, {field: {"$in": []}},
                  {field: {"$exists": True}}, {field: {"$exists": False}}, {field: {"$not": {"$gt": 2}}},
                  {field: {"$gt": 2, "$lt": 2**41}}]
        cases += [{field: {"$regex": pattern}} for pattern in REGEXES]
    cases += [
        {"$or": [{"config.v": {"$gt": 3}}, {"tags": "a"}]},
        {"$and": [{"config.v": {"$exists": True}}, {"summary.acc": {"$ne": None}}]},
        {"$nor": [{"config.w": "abc"}, {"state": "failed"}]},
        {"$and": []}, {"$or": []}, {"$nor": []},
        {"config.nest": {"x": 2}}, {"config.nest": {"$exists": True}}, {"config": {"$exists": True}},
        {"config.v.value": 2},  # W&B's spelling of config.v
    ]
    return cases


FILTERS = _filters()


def test_every_filter_selects_what_the_python_rule_selects(corpus: Any) -> None:
    """For each of ~1,000 filters, SQL and trackkit._filters.matches pick the same runs."""
    store, project, documents = corpus
    mismatches = []
    for filters in FILTERS:
        expected = sorted(d["id"] for d in documents if matches(d, filters))
        page = store.query_runs(project, filters=filters)
        got = sorted(run["id"] for run in page["runs"])
        if got != expected or page["total"] != len(expected):
            mismatches.append((filters, got, expected))
    assert mismatches == []


@pytest.mark.parametrize("field", ["config.v", "config.w", "config.nest.x", "summary.acc", "name", "tags", "state",
                                   "created_at", "config.missing"])
@pytest.mark.parametrize("descending", [False, True])
def test_ordering_matches_the_python_rule(corpus: Any, field: str, descending: bool) -> None:
    """Numbers, then strings, then booleans and others; missing and NaN last both ways; ties by created_at, id."""
    store, project, documents = corpus
    order = ("-" if descending else "") + field
    expected = [d["id"] for d in sort_documents(documents, order)]
    assert [run["id"] for run in store.query_runs(project, order=order)["runs"]] == expected


def test_ordering_by_several_keys(corpus: Any) -> None:
    """A list of keys sorts by the first, then the next ..."""
    store, project, documents = corpus
    order = ["state", "-summary.acc", "config.v"]
    assert [r["id"] for r in store.query_runs(project, order=order)["runs"]] == [d["id"] for d in sort_documents(documents, order)]


def test_paging_walks_the_whole_order_once(corpus: Any) -> None:
    """Pages of 5 concatenate to the full ordered list; total is the match count on every page,
    also past the end; limit=0 gives only the count."""
    store, project, _ = corpus
    full = [r["id"] for r in store.query_runs(project, order="-config.v")["runs"]]
    walked = []
    for offset in range(0, 30, 5):
        page = store.query_runs(project, order="-config.v", limit=5, offset=offset)
        assert page["total"] == 28
        walked += [r["id"] for r in page["runs"]]
    assert walked == full
    assert store.query_runs(project, limit=5, offset=100) == {"runs": [], "total": 28}
    assert store.query_runs(project, limit=0) == {"runs": [], "total": 28}
    filtered = store.query_runs(project, filters={"config.v": {"$exists": True}}, limit=3, offset=1)
    assert filtered["total"] == sum(1 for d in corpus[2] if "v" in d["config"])


def test_projection_cuts_config_and_summary(corpus: Any) -> None:
    """fields keeps only the asked config/summary keys (dotted keys and nested paths alike); run fields stay."""
    store, project, documents = corpus
    page = store.query_runs(project, order="id", fields=["config.nest.x", "config.dotted.key"])
    for run, document in zip(page["runs"], sorted(documents, key=lambda d: d["id"])):
        assert run["summary"] == {}
        assert set(run["config"]) <= {"nest", "dotted.key"}
        if "nest" in document["config"]:
            assert _same(run["config"]["nest"], document["config"]["nest"])
        assert run["name"] == document["name"] and run["tags"] == document["tags"]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def test_values_come_back_exactly(corpus: Any) -> None:
    """NaN, infinities, SQL-looking and escaped strings round-trip through JSONB unchanged."""
    store, project, _ = corpus
    sink, _ = store.open_run(project, "exact", resume=None)
    config = {"nan": NAN, "inf": INF, "ninf": -INF, "evil": EVIL, "esc": 'a"b\\c\n\td', "list": [NAN, 1, "x"], "big": 2**60,
              "nul": "a\x00b"}
    sink.write_meta({"id": "exact", "created_at": 0.0})
    sink.write_config({"values": config, "provenance": {"nan": "cli"}})
    sink.close()
    record = store.read_run(project, "exact")
    assert record["config"]["provenance"] == {"nan": "cli"}
    values = record["config"]["values"]
    assert list(values) == list(config)  # key order kept
    assert math.isnan(values["nan"]) and values["inf"] == INF and values["ninf"] == -INF
    assert values["evil"] == EVIL and values["esc"] == config["esc"] and values["big"] == 2**60
    assert math.isnan(values["list"][0]) and values["list"][1:] == [1, "x"]
    assert values["nul"] == "a\ufffdb"  # PostgreSQL text cannot hold U+0000: replaced, not refused
    store.delete_run(project, "exact")


def test_sql_looking_filters_are_values_not_sql(corpus: Any) -> None:
    """Strings with quotes and SQL in field names, values and patterns are data: they match or not,
    and the tables are still there afterwards."""
    store, project, documents = corpus
    for filters in ({"config.v": EVIL}, {"config.x'); DROP TABLE runs; --": 1}, {"name": {"$regex": "DROP TABLE"}},
                    {"tags": {"$in": [EVIL]}}, {EVIL: {"$exists": False}}):
        expected = sorted(d["id"] for d in documents if matches(d, filters))
        assert sorted(r["id"] for r in store.query_runs(project, filters=filters)["runs"]) == expected
    assert store.query_runs(project)["total"] == 28
    assert EVIL in [info["name"] for info in store.project_infos()] or project in [i["name"] for i in store.project_infos()]


@pytest.mark.parametrize("filters", [
    {"config.v": {"$where": "1=1"}}, {"$expr": {}}, {"config.v": {"$in": "abc"}}, {"config.v": {"$regex": "(?=a)"}},
    {"config.v": {"$regex": "a\\1"}}, "config.v = 1", {"config.v": {"$gt": 1, "$foo; DROP": 2}},
])
def test_a_bad_filter_is_refused_before_any_sql(corpus: Any, filters: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown operators, non-list $in, non-portable regexes and non-dicts raise UsageError, and no
    statement reaches the database."""
    store, project, _ = corpus
    sent: list[Any] = []
    original = psycopg.Connection.execute

    def spy(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return original(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", spy)
    with pytest.raises(UsageError):
        store.query_runs(project, filters=filters)
    assert not any("FROM runs r" in str(query) for query in sent)


def test_equality_on_config_uses_the_gin_index(corpus: Any) -> None:
    """An equality filter on a config leaf compiles to a containment test the GIN index can serve."""
    from trackkit.server._pg_query import Compiler

    compiler = Compiler()
    where = compiler.where({"config.v": 2})
    store = corpus[0]
    with store.pool.connection() as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN SELECT 1 FROM runs r WHERE {where}", compiler.params))
        conn.execute("RESET enable_seqscan")
    assert "runs_config_flat" in plan
