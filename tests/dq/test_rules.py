"""Each rule kind against the real embedded PostgreSQL: passes on clean data, fails on data made
to violate it with the right count and sample; thresholds, severities, scopes and proofs."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from selfheal.core.db import connect
from selfheal.dq.config import load_suite
from selfheal.dq.runner import Runner
from tests.dq.conftest import RunChecks, execute

CLEAN = """
INSERT INTO parent VALUES (1), (2);
INSERT INTO t (id, k, n, ts, d, name, ref)
SELECT i, 'k' || i, i, now() - interval '1 hour', current_date, 'x', 1
FROM generate_series(1, 10) AS i;
"""


@pytest.fixture
def clean_db(scratch_db: str) -> str:
    execute(scratch_db, CLEAN)
    return scratch_db


# (rules, id, statement making 3 offending rows: ids 2, 5, 7, the sample column and values)
CASES = {
    "not_null": (
        '[not_null]\ncolumn = "k"',
        "t.not_null.k",
        "UPDATE t SET k = NULL WHERE id IN (2, 5, 7)",
    ),
    "accepted_values": (
        '[accepted_values]\ncolumn = "name"\nvalues = ["x", "y"]',
        "t.accepted_values.name",
        "UPDATE t SET name = 'z' WHERE id IN (2, 5, 7)",
    ),
    "between": (
        '[between]\ncolumn = "n"\nmin = 1\nmax = 10',
        "t.between.n",
        "UPDATE t SET n = -n WHERE id IN (2, 5, 7)",
    ),
    "between_dates": (
        '[between]\ncolumn = "d"\nmin = 2000-01-01',
        "t.between.d",
        "UPDATE t SET d = '1999-12-31' WHERE id IN (2, 5, 7)",
    ),
    "accepted_numbers": (
        '[accepted_values]\ncolumn = "n"\nvalues = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]',
        "t.accepted_values.n",
        "UPDATE t SET n = 99 WHERE id IN (2, 5, 7)",
    ),
    "no_future": (
        '[no_future]\ncolumn = "ts"\ntolerance = "1h"',
        "t.no_future.ts",
        "UPDATE t SET ts = now() + interval '2 hours' WHERE id IN (2, 5, 7)",
    ),
    "no_future_date": (
        '[no_future]\ncolumn = "d"',
        "t.no_future.d",
        "UPDATE t SET d = current_date + 2 WHERE id IN (2, 5, 7)",
    ),
    "references": (
        '[references]\ncolumn = "ref"\nto_table = "parent"\nto_column = "id"',
        "t.references.ref",
        "UPDATE t SET ref = 99 WHERE id IN (2, 5, 7)",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_counting_rule_passes_clean_and_fails_with_count_and_sample(
    case: str, clean_db: str, run_checks: RunChecks
) -> None:
    rules, check_id, violate = CASES[case]
    clean = run_checks(clean_db, 'table = "t"\n' + rules)[check_id]
    assert (clean.status, clean.offending, clean.sample) == ("pass", 0, [])

    execute(clean_db, violate)
    result = run_checks(clean_db, 'table = "t"\n' + rules)[check_id]
    assert result.status == "fail"
    assert result.offending == 3
    assert result.message.startswith("3 of 10 rows (30.00%)")
    assert [row["id"] for row in sorted(result.sample, key=lambda r: r["id"])] == [2, 5, 7]
    assert result.columns[0] == "id"  # the primary key first, then the rule's column
    assert [q.rows for q in result.queries] == [1, 3]  # the fused scan, then the sample


def test_unique_counts_duplicate_rows_and_duplicated_values(
    clean_db: str, run_checks: RunChecks
) -> None:
    rules = 'table = "t"\n[[unique]]\nkey = "k"\n[[unique]]\nkey = ["k", "n"]'
    assert {r.status for r in run_checks(clean_db, rules).values()} == {"pass"}

    # k: a a a b b -> 3 duplicate rows over 2 duplicated values; (k, n) pairs stay distinct
    # except (a, 1) twice. NULL keys are never duplicates (SQL semantics).
    execute(clean_db, "UPDATE t SET k = 'a', n = 1 WHERE id IN (1, 2)")
    execute(clean_db, "UPDATE t SET k = 'a' WHERE id = 3")
    execute(clean_db, "UPDATE t SET k = 'b' WHERE id IN (4, 5)")
    execute(clean_db, "UPDATE t SET k = NULL WHERE id IN (8, 9)")
    results = run_checks(clean_db, rules)

    single = results["t.unique.k"]
    assert (single.status, single.offending) == ("fail", 3)
    assert "duplicate rows (rows beyond the first" in single.message
    assert "[2 duplicated values]" in single.message
    assert [row["k"] for row in single.sample] == ["a", "a", "a", "b", "b"]

    pair = results["t.unique.k+n"]
    assert (pair.status, pair.offending) == ("fail", 1)
    assert "[1 duplicated values]" in pair.message
    assert [(row["id"], row["k"], row["n"]) for row in pair.sample] == [(1, "a", 1), (2, "a", 1)]


@pytest.mark.parametrize(
    ("age", "status"),
    [("1 hour", "pass"), ("30 hours", "warn"), ("60 hours", "fail")],
)
def test_freshness_warns_then_fails_by_age(
    age: str, status: str, clean_db: str, run_checks: RunChecks
) -> None:
    execute(clean_db, "UPDATE t SET ts = now() - %s::interval", (age,))
    rules = 'table = "t"\n[freshness]\ncolumn = "ts"\nwarn_after = "26h"\nerror_after = "50h"'
    result = run_checks(clean_db, rules, tz="America/Toronto")["t.freshness.ts"]
    assert result.status == status
    assert "(America/Toronto)" in result.message  # shown in the configured zone
    if status != "pass":
        assert len(result.sample) == 5  # the newest rows


def test_freshness_of_an_empty_scope_fails(scratch_db: str, run_checks: RunChecks) -> None:
    rules = 'table = "t"\n[freshness]\ncolumn = "d"\nerror_after = "2d"'
    result = run_checks(scratch_db, rules)["t.freshness.d"]
    assert result.status == "fail"
    assert "no d value in scope" in result.message


def test_freshness_of_a_date_counts_from_its_midnight_in_the_zone(
    clean_db: str, run_checks: RunChecks
) -> None:
    execute(clean_db, "UPDATE t SET d = (now() AT TIME ZONE 'Asia/Tokyo')::date - 3")
    rules = 'table = "t"\n[freshness]\ncolumn = "d"\nwarn_after = "3d"\nerror_after = "4d"'
    result = run_checks(clean_db, rules, tz="Asia/Tokyo")["t.freshness.d"]
    assert result.status == "warn"  # 3 days and a part of today: older than 3d, younger than 4d
    assert "00:00:00 JST (Asia/Tokyo)" in result.message


@pytest.mark.parametrize(
    ("bounds", "status"),
    [
        ("min = 10", "pass"),
        ("max = 9", "fail"),
        ("min = 11", "fail"),
        ("min = 5\nmax = 10", "pass"),
    ],
)
def test_row_count(bounds: str, status: str, clean_db: str, run_checks: RunChecks) -> None:
    result = run_checks(clean_db, f'table = "t"\n[row_count]\n{bounds}')["t.row_count"]
    assert result.status == status
    assert result.message.startswith("10 rows in scope")


def test_between_strict_excludes_the_bounds(clean_db: str, run_checks: RunChecks) -> None:
    rules = 'table = "t"\n[between]\ncolumn = "n"\nmin = 1\nmax = 10\nstrict = true'
    result = run_checks(clean_db, rules)["t.between.n"]
    assert (result.status, result.offending) == ("fail", 2)
    assert [row["n"] for row in result.sample] == [1, 10]


@pytest.mark.parametrize(
    ("threshold", "status"),
    [
        ("max_count = 3", "warn"),  # tolerated, but shown
        ("max_count = 2", "fail"),
        ("max_fraction = 0.3", "warn"),
        ("max_fraction = 0.29", "fail"),
        ('severity = "warn"', "warn"),
        ('severity = "warn"\nmax_count = 5', "warn"),
    ],
)
def test_thresholds_and_severity(
    threshold: str, status: str, clean_db: str, run_checks: RunChecks
) -> None:
    execute(clean_db, "UPDATE t SET k = NULL WHERE id IN (2, 5, 7)")
    result = run_checks(clean_db, f'table = "t"\n[not_null]\ncolumn = "k"\n{threshold}')
    assert result["t.not_null.k"].status == status
    assert result["t.not_null.k"].offending == 3


def test_where_scopes_table_and_rule(clean_db: str, run_checks: RunChecks) -> None:
    execute(clean_db, "UPDATE t SET k = NULL, n = -1 WHERE id IN (2, 5, 7)")
    rules = """table = "t"
where = "id <> 2"
[not_null]
column = "k"
where = "id <> 5"
[[between]]
column = "n"
min = 0
max_fraction = 0.2
[row_count]
min = 9
max = 9
"""
    results = run_checks(clean_db, rules)
    assert results["t.not_null.k"].offending == 1  # only id 7: 2 and 5 are out of scope
    assert results["t.not_null.k"].message.startswith("1 of 8 rows")
    assert [row["id"] for row in results["t.not_null.k"].sample] == [7]
    assert results["t.between.n"].offending == 2
    assert results["t.between.n"].status == "fail"  # 2 of 9 > 20%
    assert results["t.row_count"].status == "pass"


def test_one_fused_query_per_table(clean_db: str, run_checks: RunChecks) -> None:
    rules = """table = "t"
[not_null]
columns = ["k", "n", "ts"]
[unique]
key = "k"
[freshness]
column = "ts"
error_after = "2h"
[no_future]
column = "ts"
[row_count]
min = 1
"""
    results = run_checks(clean_db, rules)
    assert {r.status for r in results.values()} == {"pass"}
    fused = {r.queries[0].sql for r in results.values()}
    assert len(fused) == 1
    assert all(len(r.queries) == 1 and r.queries[0].shared_by == 7 for r in results.values())
    assert "FILTER (WHERE" in fused.pop()


def test_constraints_prove_rules_without_scanning(migrated_db: str, run_checks: RunChecks) -> None:
    rules = """table = "ads_source_a"
[not_null]
columns = ["stat_date", "ad_id"]
[unique]
key = ["stat_date", "campaign_id", "ad_id"]
"""
    results = run_checks(migrated_db, rules)
    for result in results.values():
        assert result.status == "pass"
        assert result.queries == []
        assert "without scanning" in result.message
    assert results["ads_source_a.unique.stat_date+campaign_id+ad_id"].proven_by.startswith(
        "unique index ads_source_a_pkey"
    )


def test_a_foreign_key_does_not_prove_references(migrated_db: str, run_checks: RunChecks) -> None:
    """Rows written under session_replication_role = replica bypass the foreign key: the
    references rule still scans, and finds them."""
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "INSERT INTO public.etl_quarantine (run_id, source, raw_payload, reason) "
            "VALUES (424242, 'source_a', '{}', 'orphan')"
        )
    rules = 'table = "etl_quarantine"\n[references]\ncolumn = "run_id"\n'
    rules += 'to_table = "etl_runs"\nto_column = "run_id"'
    result = run_checks(migrated_db, rules)["etl_quarantine.references.run_id"]
    assert (result.status, result.offending, result.proven_by) == ("fail", 1, None)


def test_custom_sql_rows_are_violations(clean_db: str, run_checks: RunChecks) -> None:
    custom = {
        "big.sql": "-- name: big_n\n-- table: t\n-- description: n stays small\n"
        "SELECT id, n FROM t WHERE n > 7 ORDER BY id;\n",
        "soft.sql": "-- name: soft\n-- table: t\n-- severity: warn\nSELECT id FROM t WHERE n = 1",
        "none.sql": "-- name: none\n-- table: t\nSELECT id FROM t WHERE n > 100",
    }
    results = run_checks(clean_db, sql=custom)
    big = results["t.sql.big_n"]
    assert (big.status, big.offending) == ("fail", 3)
    assert big.message.startswith("n stays small: 3 violating rows")
    assert big.columns == ["id", "n"]
    assert big.sample == [{"id": 8, "n": 8}, {"id": 9, "n": 9}, {"id": 10, "n": 10}]
    assert results["t.sql.soft"].status == "warn"
    assert results["t.sql.none"].status == "pass"


def test_sample_is_capped_at_five_rows(clean_db: str, run_checks: RunChecks) -> None:
    execute(clean_db, "UPDATE t SET k = NULL")
    result = run_checks(clean_db, 'table = "t"\n[not_null]\ncolumn = "k"')["t.not_null.k"]
    assert result.offending == 10
    assert [row["id"] for row in result.sample] == [1, 2, 3, 4, 5]


def test_checks_never_write_even_on_a_writable_connection(clean_db: str, tmp_path: Path) -> None:
    execute(
        clean_db,
        "CREATE FUNCTION zap() RETURNS SETOF integer LANGUAGE sql AS 'DELETE FROM t RETURNING id'",
    )
    (tmp_path / "sneaky.sql").write_text("-- name: sneaky\n-- table: t\nSELECT zap()")
    suite = load_suite(tmp_path, tmp_path)
    with connect(clean_db, autocommit=True) as writable:
        runner = Runner(writable, suite, zone="UTC", statement_timeout_ms=5000)
        result = runner.result("t.sql.sneaky")
        assert result.status == "error"
        assert "calls zap(), which is VOLATILE" in result.message
        assert writable.execute("SELECT count(*) FROM t").fetchone()[0] == 10
