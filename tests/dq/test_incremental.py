"""Incremental gates: after a verified scan, only rows beyond the watermark are read, and the
merged verdicts equal those of a full scan of the whole table (hypothesis, batch after batch);
a changed rule file, a due full scan or a missing state scan the whole table again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfheal.core.db import connect
from selfheal.core.readonly import Reader
from selfheal.dq.config import ConfigError, load_suite
from selfheal.dq.incremental import index_advice, unindexed
from selfheal.dq.runner import CheckResult, Runner
from selfheal.dq.watermarks import store_watermarks
from tests.dq.conftest import execute

FEED = """
CREATE TABLE feed (id text, name text, n integer, happened_at timestamptz, loaded_at timestamptz);
CREATE INDEX feed_id_idx ON feed (id);
CREATE INDEX feed_loaded_at_brin ON feed USING brin (loaded_at);
"""
RULES = """table = "feed"
incremental = "loaded_at"
[not_null]
column = "name"
[[unique]]
key = "id"
[[unique]]
key = ["id", "n"]
[[unique]]
name = "when_positive"
key = "id"
where = "n > 0"
[accepted_values]
column = "name"
values = ["x", "y"]
[between]
column = "n"
min = 0
max = 2
[no_future]
column = "happened_at"
[freshness]
column = "loaded_at"
warn_after = "1000d"
[row_count]
min = 3
"""
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def feed_db(migrated_db: str) -> str:
    execute(migrated_db, FEED)
    return migrated_db


def check(
    dsn: str, folder: Path, rules: str = RULES, *, store: bool = True
) -> dict[str, CheckResult]:
    """One run of the suite, as the plugin runs it: read-only, then the watermarks stored."""
    folder.mkdir(exist_ok=True)
    (folder / "feed.toml").write_text(rules)
    suite = load_suite(folder)
    with connect(dsn, read_only=True, autocommit=True) as conn:
        runner = Runner(conn, suite, zone="UTC", statement_timeout_ms=10_000)
        results = {check_id: runner.result(check_id) for check_id in suite.ids()}
    if store:
        store_watermarks(dsn, runner.verified(), 10)
    return results


def verdicts(results: dict[str, CheckResult]) -> dict[str, tuple]:
    return {key: (r.status, r.offending) for key, r in results.items()}


def insert(dsn: str, rows: list[tuple], loaded_at: datetime) -> None:
    with connect(dsn, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO feed VALUES (%s, %s, %s, %s, %s)",
            [(*row, BASE + timedelta(days=day), loaded_at) for *row, day in rows],
        )


row = st.tuples(
    st.sampled_from(["a", "b", "c", "d", "e"]) | st.none(),
    st.sampled_from(["x", "y", "z"]) | st.none(),
    st.integers(-1, 3) | st.none(),
    st.sampled_from([0, 1, 100_000]),  # days after BASE: 100_000 is in the future
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(row, max_size=8), min_size=1, max_size=4))
def test_incremental_verdicts_equal_full_scans(
    feed_db: str, tmp_path: Path, batches: list[list[tuple]]
) -> None:
    execute(feed_db, "TRUNCATE feed; TRUNCATE selfheal.dq_watermarks")
    for number, batch in enumerate(batches):
        insert(feed_db, batch, BASE + timedelta(hours=number))
        incremental = check(feed_db, tmp_path / "incremental")
        full = check(feed_db, tmp_path / "full", RULES + "\n", store=False)  # another digest
        assert verdicts(incremental) == verdicts(full)
        verified_before = any(batches[:number])  # a watermark exists once a row was verified
        note = "[incremental:" if verified_before else "[full scan: no "
        assert all(note in r.message for r in incremental.values() if r.proven_by is None)


def test_new_keys_are_checked_against_old_rows_and_each_other(feed_db: str, tmp_path: Path) -> None:
    insert(feed_db, [("a", "x", 1, 0), ("b", "x", 1, 0), ("c", "x", 1, 0)], BASE)
    assert check(feed_db, tmp_path)["feed.unique.id"].status == "pass"
    insert(feed_db, [("a", "x", 2, 0), ("d", "y", 1, 0), ("d", "y", 1, 0)], BASE + timedelta(1))
    results = check(feed_db, tmp_path)
    assert (results["feed.unique.id"].status, results["feed.unique.id"].offending) == ("fail", 2)
    assert results["feed.unique.id+n"].offending == 1
    assert "[incremental: 3 new rows beyond loaded_at" in results["feed.unique.id"].message
    query = results["feed.unique.id"].queries[0].sql
    assert '"loaded_at" >' in query and "NOT EXISTS" in query


def test_new_keys_repeated_across_partitions_are_counted_once(
    migrated_db: str, tmp_path: Path
) -> None:
    """Each partition's first new row has the same ctid: a key's first occurrence is told by
    the partition too, so a key new in two partitions is one key and one duplicate."""
    partitioned = FEED.replace(
        "loaded_at timestamptz);", "loaded_at timestamptz) PARTITION BY LIST (name);"
    )
    execute(
        migrated_db,
        partitioned
        + "CREATE TABLE feed_x PARTITION OF feed FOR VALUES IN ('x');"
        + "CREATE TABLE feed_y PARTITION OF feed FOR VALUES IN ('y');",
    )
    insert(migrated_db, [("b", "x", 1, 0), ("c", "y", 1, 0)], BASE)
    check(migrated_db, tmp_path)
    insert(migrated_db, [("a", "x", 1, 0), ("a", "y", 1, 0)], BASE + timedelta(hours=1))
    results = check(migrated_db, tmp_path)
    with connect(migrated_db) as conn:
        same_ctid = "SELECT count(DISTINCT ctid) = 1 FROM feed WHERE id = 'a'"
        assert conn.execute(same_ctid).fetchone()[0]
    unique = results["feed.unique.id"]
    assert (unique.status, unique.offending) == ("fail", 1)
    assert "[incremental: 2 new rows" in unique.message


def test_a_changed_rule_file_or_a_due_full_scan_reads_the_whole_table(
    feed_db: str, tmp_path: Path
) -> None:
    insert(feed_db, [("a", "x", 1, 0), ("b", "y", 1, 0), ("c", "x", 1, 0)], BASE)
    check(feed_db, tmp_path)
    assert "[incremental: 0 new rows" in check(feed_db, tmp_path)["feed.not_null.name"].message
    changed = check(feed_db, tmp_path, RULES.replace('"1000d"', '"999d"'))
    assert "feed.toml changed since the last verified scan" in changed["feed.not_null.name"].message
    execute(feed_db, "UPDATE selfheal.dq_watermarks SET full_at = full_at - interval '8 days'")
    due = check(feed_db, tmp_path, RULES.replace('"1000d"', '"999d"'))
    assert "(full_every 7d)" in due["feed.not_null.name"].message


def test_a_unique_key_no_index_leads_is_checked_by_full_scans(
    migrated_db: str, tmp_path: Path
) -> None:
    """Without an index led by a column of the key, each new row's probe would read the table."""
    execute(migrated_db, FEED.replace("CREATE INDEX feed_id_idx ON feed (id);", ""))
    rules = 'table = "feed"\nincremental = "loaded_at"\n[unique]\nkey = ["id", "n"]\n'
    insert(migrated_db, [("a", "x", 1, 0), ("b", "x", 1, 0)], BASE)
    check(migrated_db, tmp_path, rules)
    insert(migrated_db, [("a", "x", 1, 0)], BASE + timedelta(hours=1))
    result = check(migrated_db, tmp_path, rules)["feed.unique.id+n"]
    assert (result.status, result.offending) == ("fail", 1)
    assert "[full scan: rule feed.unique.id+n is checked on the whole table only]" in result.message
    execute(migrated_db, "CREATE INDEX ON feed (n, id)")  # led by a column of the key
    insert(migrated_db, [("c", "x", 1, 0)], BASE + timedelta(hours=2))
    assert (
        "[incremental: 1 new rows"
        in check(migrated_db, tmp_path, rules)["feed.unique.id+n"].message
    )


def test_without_the_state_table_every_scan_is_full(empty_db: str, tmp_path: Path) -> None:
    execute(empty_db, FEED)
    insert(empty_db, [("a", "x", 1, 0), ("a", "x", 1, 0), ("c", "x", 1, 0)], BASE)
    for _ in range(2):
        results = check(empty_db, tmp_path)
        assert results["feed.unique.id"].offending == 1
        assert "[full scan: no verified scan yet]" in results["feed.unique.id"].message


def test_preflight_names_an_incremental_table_whose_watermark_leads_no_index(
    feed_db: str, tmp_path: Path
) -> None:
    execute(feed_db, "CREATE TABLE bare (loaded_at timestamptz, n integer)")
    (tmp_path / "feed.toml").write_text(RULES)
    (tmp_path / "bare.toml").write_text(
        'table = "bare"\nincremental = "loaded_at"\n[row_count]\nmin = 1'
    )
    suite = load_suite(tmp_path)
    with connect(feed_db, read_only=True, autocommit=True) as conn:
        missing = unindexed(Reader(conn), suite.tables())
    assert [table.name for table in missing] == ["bare"]
    advice = index_advice(missing[0])
    assert "bare.toml: table bare is checked incrementally on loaded_at" in advice
    assert 'CREATE INDEX ON "public"."bare" USING brin ("loaded_at")' in advice


def test_full_every_needs_an_incremental_table(tmp_path: Path) -> None:
    (tmp_path / "feed.toml").write_text('table = "feed"\nfull_every = "1d"\n[row_count]\nmin = 1')
    with pytest.raises(
        ConfigError, match=r"feed.toml: full_every: applies to an incremental table"
    ):
        load_suite(tmp_path)
    (tmp_path / "feed.toml").write_text(
        'table = "feed"\nincremental = "loaded_at"\nfull_every = "1x"'
    )
    with pytest.raises(ConfigError, match=r"feed.toml: full_every: "):
        load_suite(tmp_path)
