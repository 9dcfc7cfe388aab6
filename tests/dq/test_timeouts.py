"""A rule that times out or that the database rejects fails alone: the table's other rules run."""

from __future__ import annotations

from tests.dq.conftest import RunChecks, execute

# Correlated (it reads n), so counted once per row: 20 rows x 1M generated rows, seconds of work
# against the 300 ms timeout. (pg_sleep is on the deny-list of functions rules may call.)
SLOW = "(SELECT count(*) FROM generate_series(1, 1000000 + n - n)) > 0"


def test_timed_out_rule_fails_alone(scratch_db: str, run_checks: RunChecks) -> None:
    execute(
        scratch_db, "INSERT INTO t (id, k, n) SELECT i, 'k' || i, i FROM generate_series(1, 20) i"
    )
    rules = f"""table = "t"
statement_timeout = "300ms"
[not_null]
columns = ["k", "n"]
[between]
column = "n"
min = 0
where = "{SLOW}"
"""
    custom = {
        "slow.sql": "-- name: slow\n-- table: t\nSELECT count(*) FROM generate_series(1, 100000000)"
    }
    results = run_checks(scratch_db, rules, sql=custom, timeout_ms=300)

    slow = results["t.between.n"]
    assert slow.status == "error"
    assert slow.message == "timed out after 300 ms (statement_timeout)"
    assert [q.error is not None for q in slow.queries] == [True, True]  # fused, then alone
    for check in ("t.not_null.k", "t.not_null.n"):
        assert results[check].status == "pass"
        assert results[check].queries[0].error  # the fused attempt is recorded too
    assert results["t.sql.slow"].status == "error"
    assert "timed out after 300 ms" in results["t.sql.slow"].message


def test_a_rule_the_database_rejects_fails_alone(scratch_db: str, run_checks: RunChecks) -> None:
    execute(scratch_db, "INSERT INTO t (id, k, n) VALUES (1, 'a', 1)")
    rules = (
        'table = "t"\n[not_null]\ncolumn = "k"\n[accepted_values]\ncolumn = "n"\nvalues = ["one"]'
    )
    results = run_checks(scratch_db, rules)
    assert results["t.not_null.k"].status == "pass"
    rejected = results["t.accepted_values.n"]
    assert rejected.status == "error"
    assert rejected.message.startswith("query failed: invalid input syntax for type integer")
