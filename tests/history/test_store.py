"""The history store on a real server: one transaction per run, concurrency, pruning, versions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from selfheal.core.db import connect
from selfheal.migrate.guard import check_migrations
from selfheal.run.history.schema import HistorySchemaNewer, code_version, migrations, upgrade
from selfheal.run.history.store import (
    CheckRecord,
    HistoryUnavailable,
    ProblemRecord,
    RunRecord,
    TableStats,
    record_run,
)

NOW = datetime.now(UTC)


def _run(
    session: str, *, finished: datetime = NOW, failing: bool = True, rows: int = 10
) -> RunRecord:
    problem = ProblemRecord("f" * 16, "dq.not_null", "public.events.user_id", "error", "2 rows")
    check = CheckRecord(
        "checks/test_dq.py::test_dq[events.not_null.user_id]",
        "dq",
        "failed" if failing else "passed",
        True,
        0.1,
        problems=(problem,) if failing else (),
    )
    return RunRecord(
        session_id=session,
        target="embedded default",
        started_at=finished - timedelta(seconds=5),
        finished_at=finished,
        full_run=True,
        checks=(check,),
        tables=(TableStats("public", "events", rows, 8192, {"received_at": "2026-01-01"}),),
    )


def _count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT count(*) FROM selfheal_history.{table}").fetchone()[0]


def test_a_run_is_recorded_with_its_checks_problems_and_table_growth(empty_db: str) -> None:
    record_run(empty_db, _run("one", rows=10), retention_days=30)
    record_run(empty_db, _run("two", rows=25, failing=False), retention_days=30)
    with psycopg.connect(empty_db) as conn:
        runs = conn.execute(
            "SELECT session_id, passed, failed FROM selfheal_history.runs ORDER BY run_id"
        ).fetchall()
        growth = conn.execute(
            "SELECT new_rows FROM selfheal_history.table_stats ORDER BY run_id"
        ).fetchall()
    assert runs == [("one", 0, 1), ("two", 1, 0)]
    assert growth == [(None,), (15,)]
    assert _count(empty_db, "problem_results") == 1


def test_concurrent_sessions_are_both_recorded(empty_db: str) -> None:
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            record_run(empty_db, _run(name), retention_days=30)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(f"s{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _count(empty_db, "runs") == 6
    assert _count(empty_db, "check_results") == 6


def test_runs_older_than_the_retention_are_pruned_with_their_results(empty_db: str) -> None:
    record_run(empty_db, _run("old", finished=NOW - timedelta(days=40)), retention_days=365)
    record_run(empty_db, _run("recent", finished=NOW - timedelta(days=2)), retention_days=365)
    assert _count(empty_db, "runs") == 2
    record_run(empty_db, _run("now"), retention_days=30)
    with psycopg.connect(empty_db) as conn:
        kept = conn.execute("SELECT session_id FROM selfheal_history.runs ORDER BY 1").fetchall()
    assert kept == [("now",), ("recent",)]
    assert _count(empty_db, "problem_results") == 2


def test_a_history_schema_newer_than_the_code_is_refused_naming_both_versions(
    empty_db: str,
) -> None:
    with connect(empty_db, autocommit=True) as conn:
        upgrade(conn, "here")
        conn.execute(
            "INSERT INTO selfheal_history.schema_version (version, name) VALUES (%s, 'future')",
            (code_version() + 5,),
        )
    with pytest.raises(HistorySchemaNewer) as raised:
        record_run(empty_db, _run("x"), retention_days=30)
    message = str(raised.value)
    assert f"version {code_version() + 5}" in message and f"version {code_version()}" in message


def test_an_unreachable_store_is_a_clear_error_without_the_password() -> None:
    dsn = "postgresql://history:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(HistoryUnavailable) as raised:
        record_run(dsn, _run("x"), retention_days=30, connect_timeout=2)
    assert "127.0.0.1" in str(raised.value) and "s3cret-pw" not in str(raised.value)


def test_the_schema_is_idempotent_has_rls_and_nothing_for_the_api_roles(shimmed_db: str) -> None:
    with connect(shimmed_db, autocommit=True) as conn:
        assert upgrade(conn, "here") == code_version()
        assert upgrade(conn, "here") == code_version()
        tables = conn.execute(
            "SELECT c.relname, c.relrowsecurity FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'selfheal_history' AND c.relkind = 'r'"
        ).fetchall()
        grants = conn.execute(
            "SELECT count(*) FROM information_schema.role_table_grants "
            "WHERE table_schema = 'selfheal_history' AND grantee IN ('anon', 'authenticated')"
        ).fetchone()[0]
        usable = conn.execute(
            "SELECT has_schema_privilege('anon', 'selfheal_history', 'USAGE')"
        ).fetchone()[0]
    assert len(tables) == 6 and all(rls for _, rls in tables)
    assert grants == 0 and not usable


def test_the_guard_finds_the_history_migrations_additive_and_idempotent(admin_dsn: str) -> None:
    report = check_migrations(admin_dsn, migrations())
    assert report.findings == [], "\n".join(map(str, report.findings))
