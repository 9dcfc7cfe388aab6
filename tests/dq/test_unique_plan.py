"""The unique-key gate's plan: distinct 64-bit hashes of the key, settled exactly when they
collide. Hypothesis drives keys through a type whose hash collides on purpose (the first letter
only), so the verdict must come from the exact second scan, and must equal naive SQL."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from selfheal.core.db import connect
from tests.dq.conftest import RunChecks, execute

# A text-like type whose extended hash depends on the first character only: every two keys with
# the same first letter collide. Equality and order are text's.
WEAK_TYPE = """
CREATE TYPE weak;
CREATE FUNCTION weak_in(cstring) RETURNS weak LANGUAGE internal IMMUTABLE STRICT AS 'textin';
CREATE FUNCTION weak_out(weak) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'textout';
CREATE TYPE weak (INPUT = weak_in, OUTPUT = weak_out, LIKE = text, COLLATABLE = true);
CREATE CAST (weak AS text) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (text AS weak) WITHOUT FUNCTION AS IMPLICIT;
CREATE FUNCTION weak_eq(weak, weak) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'texteq';
CREATE FUNCTION weak_lt(weak, weak) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'text_lt';
CREATE FUNCTION weak_le(weak, weak) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'text_le';
CREATE FUNCTION weak_ge(weak, weak) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'text_ge';
CREATE FUNCTION weak_gt(weak, weak) RETURNS boolean LANGUAGE internal IMMUTABLE STRICT AS 'text_gt';
CREATE FUNCTION weak_cmp(weak, weak) RETURNS integer LANGUAGE internal IMMUTABLE STRICT
    AS 'bttextcmp';
CREATE FUNCTION weak_hash(weak) RETURNS integer LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT hashtext(left($1::text, 1)) $$;
CREATE FUNCTION weak_hash_extended(weak, bigint) RETURNS bigint LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT hashtextextended(left($1::text, 1), $2) $$;
CREATE OPERATOR = (LEFTARG = weak, RIGHTARG = weak, FUNCTION = weak_eq, HASHES);
CREATE OPERATOR < (LEFTARG = weak, RIGHTARG = weak, FUNCTION = weak_lt);
CREATE OPERATOR <= (LEFTARG = weak, RIGHTARG = weak, FUNCTION = weak_le);
CREATE OPERATOR >= (LEFTARG = weak, RIGHTARG = weak, FUNCTION = weak_ge);
CREATE OPERATOR > (LEFTARG = weak, RIGHTARG = weak, FUNCTION = weak_gt);
CREATE OPERATOR CLASS weak_btree_ops DEFAULT FOR TYPE weak USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 weak_cmp(weak, weak);
CREATE OPERATOR CLASS weak_hash_ops DEFAULT FOR TYPE weak USING hash AS
    OPERATOR 1 =, FUNCTION 1 weak_hash(weak), FUNCTION 2 weak_hash_extended(weak, bigint);
CREATE TABLE keys (w weak, s text, n integer, b bit(2));
"""

RULES = """table = "keys"
[[unique]]
key = "w"
[[unique]]
key = "s"
[[unique]]
key = ["w", "n"]
[[unique]]
key = ["s", "n"]
"""

NAIVE = {  # the verdict by definition: rows with a complete key beyond the distinct keys
    "keys.unique.w": "SELECT count(w) - count(DISTINCT w) FROM keys",
    "keys.unique.s": "SELECT count(s) - count(DISTINCT s) FROM keys",
    "keys.unique.w+n": "SELECT count(*) - count(DISTINCT (w, n)) FROM keys "
    "WHERE w IS NOT NULL AND n IS NOT NULL",
    "keys.unique.s+n": "SELECT count(*) - count(DISTINCT (s, n)) FROM keys "
    "WHERE s IS NOT NULL AND n IS NOT NULL",
}

# Short keys over few letters: duplicates, collisions of the weak hash without duplicates, NULLs.
keys = st.none() | st.text(alphabet="abc", min_size=1, max_size=3)
rows = st.lists(st.tuples(keys, st.none() | st.integers(0, 2)), max_size=30)


@pytest.fixture
def keys_db(empty_db: str) -> str:
    execute(empty_db, WEAK_TYPE)
    return empty_db


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=rows)
def test_unique_verdict_equals_naive_count_distinct(
    keys_db: str, run_checks: RunChecks, table: list[tuple]
) -> None:
    with connect(keys_db, autocommit=True) as conn:
        conn.execute("TRUNCATE keys")
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO keys (w, s, n) VALUES (%s::text, %s, %s)",
                [(key, key, n) for key, n in table],
            )
        naive = {check: conn.execute(query).fetchone()[0] for check, query in NAIVE.items()}
        hashes_settle = conn.execute(
            "SELECT count(DISTINCT left(w::text, 1)) = count(w) FROM keys"
        ).fetchone()[0]

    results = run_checks(keys_db, RULES)
    for check, duplicates in naive.items():
        result = results[check]
        assert (result.status, result.offending) == ("fail" if duplicates else "pass", duplicates)
    # The weak hash collides whenever two keys share a first letter (a duplicate, or distinct keys
    # alike): then the verdict needed the exact second scan; otherwise the hashes settled it.
    weak = results["keys.unique.w"]
    scans = [q for q in weak.queries if q.sql.startswith("SELECT count(*), now()")]
    assert len(scans) == (1 if hashes_settle else 2)
    assert "weak_hash_extended" in scans[0].sql


def test_keys_of_a_type_without_hash_function_are_counted_exactly(
    keys_db: str, run_checks: RunChecks
) -> None:
    execute(keys_db, "INSERT INTO keys (b) VALUES (B'01'), (B'10'), (B'01'), (NULL)")
    result = run_checks(keys_db, 'table = "keys"\n[unique]\nkey = "b"')["keys.unique.b"]
    assert (result.status, result.offending) == ("fail", 1)
    assert 'count(DISTINCT "b")' in result.queries[0].sql


def test_a_nondeterministic_collation_is_counted_exactly(
    keys_db: str, run_checks: RunChecks
) -> None:
    """Equal under the collation but different bytes: the hash of the bytes would miss it."""
    execute(
        keys_db,
        "CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', "
        "deterministic = false); "
        "CREATE TABLE words (word text COLLATE nocase); "
        "INSERT INTO words VALUES ('Apple'), ('apple'), ('pear')",
    )
    result = run_checks(keys_db, 'table = "words"\n[unique]\nkey = "word"')["words.unique.word"]
    assert (result.status, result.offending) == ("fail", 1)


@pytest.mark.parametrize(
    ("column_type", "values", "duplicates"),
    [
        ("numeric", ["1.0", "1.00", "2"], 1),  # equal values, different text
        ("timestamptz", ["2024-01-01 00:00+00", "2024-01-01 01:00+01", "2024-01-02"], 1),
        ("date", ["2024-01-01", "2024-01-02", "2024-01-03"], 0),
        ("varchar(5)", ["a", "a ", "b"], 0),  # trailing spaces count in varchar, not in char
        ("char(3)", ["a", "a ", "b"], 1),
        ("jsonb", ['{"a": 1, "b": 2}', '{"b": 2, "a": 1}', "[]"], 1),
    ],
)
def test_keys_of_every_hashable_type_hash_by_their_own_equality(
    column_type: str, values: list[str], duplicates: int, empty_db: str, run_checks: RunChecks
) -> None:
    declared = sql.SQL(column_type)
    with connect(empty_db, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE TABLE typed (v {})").format(declared))
        insert = sql.SQL("INSERT INTO typed VALUES (%s::{})").format(declared)
        cursor.executemany(insert, [(v,) for v in values])
    result = run_checks(empty_db, 'table = "typed"\n[unique]\nkey = "v"')["typed.unique.v"]
    assert (result.status, result.offending) == ("fail" if duplicates else "pass", duplicates)
    assert "hash" in result.queries[0].sql
