"""$regex answers the same in Python and in PostgreSQL for every pattern trackkit accepts.

Random patterns built from the portable subset (seeded, so the test is the same every run) are
matched against a set of texts by ``trackkit._regex`` and by PostgreSQL's ``~`` (in a fresh
database from ``make_database``, so it skips or fails as the other server tests do).
"""

from __future__ import annotations

import random

import pytest

import trackkit
from trackkit._regex import compile_regex

psycopg = pytest.importorskip("psycopg", reason="needs the server extra: pip install 'trackkit[server]'")

ATOMS = [*"ab.^$|()", "(?:", "[ab]", "[^a]", "[]a]", "[a-c]", r"\d", r"\w", r"\s", r"\D", r"\W", r"\S", r"\.", r"\A",
         r"\Z", r"\n", "*", "+", "?", "*?", "{1,2}", "{2}", "{0,}", r"[\d]", r"[\w-]", "A", "1", " ", "\n", "-", ","]
TEXTS = ["", "a", "b", "ab", "ba", "aab", "abc\n", "a\nb", "AB", "a1", "1 a", "_x", "a-b", "b,a", "\n", "aaaa", "a.b"]


@pytest.fixture(scope="module")
def postgres(make_database):  # type: ignore[no-untyped-def]
    connection = psycopg.connect(make_database(), autocommit=True)
    yield connection.cursor()
    connection.close()


def test_python_and_postgresql_agree_on_every_accepted_pattern(postgres) -> None:  # type: ignore[no-untyped-def]
    """For 400 seeded random patterns the subset accepts, PostgreSQL accepts them too and matches the same texts."""
    rng = random.Random(8)
    checked = 0
    while checked < 400:
        pattern = ("(?i)" if rng.random() < 0.1 else "") + "".join(rng.choice(ATOMS) for _ in range(rng.randint(1, 6)))
        try:
            compiled = compile_regex(pattern)
        except trackkit.UsageError:
            continue
        postgres.execute("select array_agg(t ~ %s order by i) from unnest(%s::text[]) with ordinality as u(t, i)",
                         (pattern, TEXTS))
        in_postgres = postgres.fetchone()[0]
        in_python = [compiled.search(text) is not None for text in TEXTS]
        assert in_python == in_postgres, pattern
        checked += 1
