"""A pytest session records itself in the history: where, what, and when it cannot."""

from __future__ import annotations

import psycopg
import pytest

pytest_plugins = ["pytester"]


def _runs(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT target, full_run, selection, passed, failed FROM selfheal_history.runs "
            "ORDER BY run_id"
        ).fetchall()


def test_a_live_session_records_its_run_in_the_target(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, empty_db: str
) -> None:
    monkeypatch.setenv("SUPABASE_DB_URL", empty_db)
    monkeypatch.setenv("FAIL_DQ", "1")
    result = checks.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["history: run * recorded in *"])
    checks.runpytest("-p", "no:cacheprovider", "-k", "rows").assert_outcomes(failed=1)
    (full, narrowed) = _runs(empty_db)
    assert full[1:] == (True, "", 1, 1)
    assert narrowed[1:] == (False, "-k rows", 0, 1)
    with psycopg.connect(empty_db) as conn:
        codes = conn.execute(
            "SELECT DISTINCT code FROM selfheal_history.problem_results"
        ).fetchall()
    assert codes == [("check.failed",)]


def test_no_history_records_nothing(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, empty_db: str
) -> None:
    monkeypatch.setenv("SUPABASE_DB_URL", empty_db)
    result = checks.runpytest("-p", "no:cacheprovider", "--no-history")
    result.stdout.fnmatch_lines(["history: not recorded (--no-history)"])
    with psycopg.connect(empty_db) as conn:
        exists = conn.execute("SELECT to_regnamespace('selfheal_history')").fetchone()[0]
    assert exists is None


def test_the_history_can_live_in_another_database(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, empty_db: str, second_db: str
) -> None:
    monkeypatch.setenv("SUPABASE_DB_URL", second_db)
    monkeypatch.setenv("SELFHEAL_HISTORY_DSN", empty_db)
    checks.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    assert len(_runs(empty_db)) == 1


def test_an_unwritable_history_is_a_warning_and_the_verdict_stands(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, empty_db: str
) -> None:
    monkeypatch.setenv("SUPABASE_DB_URL", empty_db)
    monkeypatch.setenv("SELFHEAL_HISTORY_DSN", "postgresql://h:pw-hidden-42@127.0.0.1:1/none")
    result = checks.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["history: not recorded (warning): *127.0.0.1*"])
    assert "pw-hidden-42" not in result.stdout.str()
