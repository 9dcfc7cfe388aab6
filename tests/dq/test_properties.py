"""Hypothesis: on random tables with NULLs and duplicates, the fused scan agrees with a naive
query per rule."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfheal.core.db import connect
from tests.dq.conftest import RunChecks

RULES = """table = "t"
[[not_null]]
columns = ["k", "n"]
[[not_null]]
name = "k_when_positive"
column = "k"
where = "n > 0"
[[unique]]
key = "k"
[[unique]]
key = ["k", "n"]
[accepted_values]
column = "name"
values = ["x", "y"]
[between]
column = "n"
min = 0
max = 3
[row_count]
min = 5
"""

NAIVE = {
    "t.not_null.k": "SELECT count(*) FROM t WHERE k IS NULL",
    "t.not_null.n": "SELECT count(*) FROM t WHERE n IS NULL",
    "t.not_null.k_when_positive": "SELECT count(*) FROM t WHERE k IS NULL AND n > 0",
    "t.unique.k": "SELECT coalesce(sum(c - 1), 0) FROM "
    "(SELECT count(*) AS c FROM t WHERE k IS NOT NULL GROUP BY k) AS g",
    "t.unique.k+n": "SELECT coalesce(sum(c - 1), 0) FROM "
    "(SELECT count(*) AS c FROM t WHERE k IS NOT NULL AND n IS NOT NULL GROUP BY k, n) AS g",
    "t.accepted_values.name": "SELECT count(*) FROM t WHERE name NOT IN ('x', 'y')",
    "t.between.n": "SELECT count(*) FROM t WHERE n < 0 OR n > 3",
}

rows = st.lists(
    st.tuples(
        st.none() | st.sampled_from(["a", "b", "c", "d"]),
        st.none() | st.integers(-2, 5),
        st.none() | st.sampled_from(["x", "y", "z"]),
    ),
    max_size=40,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=rows)
def test_fused_results_match_naive_queries(
    scratch_db: str, run_checks: RunChecks, table: list[tuple]
) -> None:
    with connect(scratch_db, autocommit=True) as conn:
        conn.execute("TRUNCATE t")
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO t (id, k, n, name) VALUES (%s, %s, %s, %s)",
                [(i, *row) for i, row in enumerate(table)],
            )
        naive = {check: conn.execute(query).fetchone()[0] for check, query in NAIVE.items()}

    results = run_checks(scratch_db, RULES)
    assert {check: results[check].offending for check in NAIVE} == naive
    for check, count in naive.items():
        result = results[check]
        assert result.status == ("fail" if count else "pass")
        if check.startswith("t.unique"):  # every row of a duplicated key, so more than `count`
            assert bool(result.sample) == bool(count)
        else:
            assert len(result.sample) == min(count, 5)
    assert results["t.row_count"].status == ("pass" if len(table) >= 5 else "fail")
    assert len({r.queries[0].sql for r in results.values()}) == 1
