"""The full scan split in two halves by the sign of a unique key's hash (`compile_split`), run in
parallel workers: its verdicts equal naive SQL's on random tables with NULLs and duplicates, for
one-column and composite keys, through hash collisions, and for an incremental table's state;
it runs only where the planner puts the halves in parallel workers.

The planner is made to choose parallel plans on small tables (no setup or per-row cost of a
worker, no minimum size) and the runner's size threshold is lifted; a worker that cannot be
started leaves its half to the leader, which changes the time, not the values."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from selfheal.core.db import connect
from selfheal.dq import runner
from tests.dq.conftest import RunChecks, execute
from tests.dq.test_incremental import BASE, check, insert
from tests.dq.test_unique_plan import WEAK_TYPE

PARALLEL_ON_SMALL_TABLES = (
    "parallel_setup_cost = 0",
    "parallel_tuple_cost = 0",
    "min_parallel_table_scan_size = 0",
)

RULES = """table = "t"
[[not_null]]
columns = ["k", "n"]
[[not_null]]
name = "k_when_positive"
column = "k"
where = "n > 0"
[[unique]]
key = KEY
[[unique]]
name = "where_positive"
key = KEY
where = "n > 0"
[accepted_values]
column = "name"
values = ["x", "y"]
[between]
column = "n"
min = 0
max = 3
[freshness]
column = "ts"
warn_after = "100000d"
[no_future]
column = "ts"
[row_count]
min = 5
"""

NAIVE = {
    "t.not_null.k": "SELECT count(*) FROM t WHERE k IS NULL",
    "t.not_null.n": "SELECT count(*) FROM t WHERE n IS NULL",
    "t.not_null.k_when_positive": "SELECT count(*) FROM t WHERE k IS NULL AND n > 0",
    "t.unique.KEY": "SELECT coalesce(sum(c - 1), 0) FROM "
    "(SELECT count(*) AS c FROM t WHERE COMPLETE GROUP BY KEY) AS g",
    "t.unique.where_positive": "SELECT coalesce(sum(c - 1), 0) FROM "
    "(SELECT count(*) AS c FROM t WHERE COMPLETE AND n > 0 GROUP BY KEY) AS g",
    "t.accepted_values.name": "SELECT count(*) FROM t WHERE name NOT IN ('x', 'y')",
    "t.between.n": "SELECT count(*) FROM t WHERE n < 0 OR n > 3",
    "t.no_future.ts": "SELECT count(*) FROM t WHERE ts > now() + interval '0'",
}
KEYS = {  # the key as a rule file writes it, its columns
    "k": ("k",),
    "k+n": ("k", "n"),
}


def set_for_database(dsn: str, *settings: str) -> None:
    """For the database's next sessions (each run connects anew)."""
    with connect(dsn, autocommit=True) as conn:
        database = sql.Identifier(conn.info.dbname)
        for setting in settings:
            conn.execute(sql.SQL("ALTER DATABASE {} SET {}").format(database, sql.SQL(setting)))


def allow_parallel_plans(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_for_database(dsn, *PARALLEL_ON_SMALL_TABLES)
    monkeypatch.setattr(runner, "SPLIT_FROM_BYTES", 0)


@pytest.fixture
def split_db(scratch_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    allow_parallel_plans(scratch_db, monkeypatch)
    return scratch_db


def rules_for(key: str) -> str:
    columns = KEYS[key]
    written = f'"{columns[0]}"' if len(columns) == 1 else str(list(columns)).replace("'", '"')
    return RULES.replace("KEY", written)


def naive_for(key: str) -> dict[str, str]:
    columns = KEYS[key]
    complete = " AND ".join(f"{c} IS NOT NULL" for c in columns)
    return {
        check.replace("KEY", key): query.replace("COMPLETE", complete).replace(
            "KEY", ", ".join(columns)
        )
        for check, query in NAIVE.items()
    }


rows = st.lists(
    st.tuples(
        st.none() | st.sampled_from(["a", "b", "c", "d"]),
        st.none() | st.integers(-2, 5),
        st.none() | st.sampled_from(["x", "y", "z"]),
        st.none() | st.sampled_from(["2020-01-01", "2020-01-02", "2999-01-01"]),
    ),
    max_size=40,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=rows, key=st.sampled_from(sorted(KEYS)))
@example(table=[], key="k")  # both halves empty
@example(table=[(None, None, None, None)] * 3, key="k+n")  # every row in the NULL key's half
def test_split_verdicts_equal_naive_queries(
    split_db: str, run_checks: RunChecks, table: list[tuple], key: str
) -> None:
    naive = naive_for(key)
    with connect(split_db, autocommit=True) as conn:
        conn.execute("TRUNCATE t")
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO t (id, k, n, name, ts) VALUES (%s, %s, %s, %s, %s)",
                [(i, *row) for i, row in enumerate(table)],
            )
        expected = {check: conn.execute(query).fetchone()[0] for check, query in naive.items()}
        newest = conn.execute("SELECT max(ts) FROM t").fetchone()[0]

    results = run_checks(split_db, rules_for(key))
    assert {check: results[check].offending for check in naive} == expected
    assert results["t.row_count"].status == ("pass" if len(table) >= 5 else "fail")
    assert results["t.freshness.ts"].status == ("fail" if newest is None else "pass")
    scans = {r.queries[0].sql for r in results.values()}
    assert len(scans) == 1 and " UNION ALL " in scans.pop()


def test_colliding_hashes_are_settled_by_the_exact_count(
    split_db: str, run_checks: RunChecks
) -> None:
    """A weak hash (first letter only) that workers may call: 'ab' and 'ac' collide but are
    distinct, so the split scan's distinct hashes are fewer than the keys and the exact count
    runs; one real duplicate ('b') is all it finds."""
    execute(split_db, WEAK_TYPE)
    execute(split_db, "ALTER FUNCTION weak_hash_extended(weak, bigint) PARALLEL SAFE")
    execute(split_db, "INSERT INTO keys (w) VALUES ('ab'), ('ac'), ('b'), ('b'), (NULL)")
    result = run_checks(split_db, 'table = "keys"\n[unique]\nkey = "w"')["keys.unique.w"]
    assert (result.status, result.offending) == ("fail", 1)
    split, exact = result.queries[:2]
    assert " UNION ALL " in split.sql and "weak_hash_extended" in split.sql
    assert 'count(DISTINCT "w" COLLATE "C")' in exact.sql


@pytest.mark.parametrize(
    ("rules", "setting"),
    [
        ('[unique]\nkey = "k"', "max_parallel_workers_per_gather = 0"),  # no worker to run it
        ('[[unique]]\nkey = "k"\n[[unique]]\nkey = "n"', None),  # two keys: no one split
        ('[unique]\nkey = "k"\n[not_null]\ncolumn = "n"\nwhere = "pg_backend_pid() > 0"', None),
    ],
    ids=["no workers", "two keys", "parallel-restricted where"],
)
def test_the_fused_scan_runs_where_the_halves_would_not_run_in_parallel(
    split_db: str, run_checks: RunChecks, rules: str, setting: str | None
) -> None:
    if setting:
        set_for_database(split_db, setting)
    execute(split_db, "INSERT INTO t (id, k, n) VALUES (1, 'a', 1), (2, 'a', 2)")
    results = run_checks(split_db, 'table = "t"\n' + rules)
    assert results["t.unique.k"].offending == 1
    assert all(r.status != "error" for r in results.values())
    assert all(" UNION ALL " not in r.queries[0].sql for r in results.values())


def test_an_incremental_table_scanned_in_halves_stores_the_same_state(
    migrated_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full scan's values (the newest watermark among them) become the stored state; the
    incremental run on top of it agrees with a full scan."""
    execute(
        migrated_db,
        "CREATE TABLE feed (id text, name text, n integer, happened_at timestamptz, "
        "loaded_at timestamptz); CREATE INDEX ON feed USING brin (loaded_at); "
        "CREATE INDEX ON feed (id)",
    )
    allow_parallel_plans(migrated_db, monkeypatch)
    rules = 'table = "feed"\nincremental = "loaded_at"\n[unique]\nkey = "id"\n'
    first = [("a", "x", 1, 0), ("b", "x", 1, 0), (None, "y", 1, 0)]
    insert(migrated_db, first, BASE)
    full = check(migrated_db, tmp_path / "rules", rules)["feed.unique.id"]
    assert " UNION ALL " in full.queries[0].sql and full.status == "pass"
    insert(migrated_db, [("a", "x", 2, 0)], BASE + timedelta(hours=1))
    incremental = check(migrated_db, tmp_path / "rules", rules)["feed.unique.id"]
    assert (incremental.status, incremental.offending) == ("fail", 1)
    assert "[incremental: 1 new rows beyond loaded_at" in incremental.message
    with connect(migrated_db, autocommit=True) as conn:
        stored = conn.execute("SELECT watermark FROM selfheal.dq_watermarks").fetchone()[0]
    assert stored == (BASE + timedelta(hours=1)).isoformat()
