"""The doctor end to end: plan without changes, heal with a re-check, bounded attempts."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from selfheal.core.settings import Settings
from selfheal.doctor import Context, Doctor
from selfheal.doctor.doctor import (
    FAILED,
    HEALED,
    NEEDS_PERSON,
    NO_REMEDY,
    PLANNED,
    still_failing,
)
from selfheal.run.problem import CHECK_FAILED, Problem, rls_lint_code
from selfheal.run.reporting import Outcome
from selfheal.run.summary import read_last_run
from selfheal.run.tickets import Backlog, HealAttempt, Observation, load_tickets

pytest_plugins = ["pytester"]

CHECK = """
import os, psycopg, pytest
from selfheal.run.evidence import report_problems
from selfheal.run.problem import Problem

@pytest.mark.rls
def test_rls_enabled_where_policies_exist(request):
    with psycopg.connect(os.environ["SUPABASE_DB_URL"]) as conn:
        off = conn.execute(
            "SELECT relname FROM pg_class WHERE relname = 'events' AND NOT relrowsecurity"
        ).fetchall()
    found = [Problem("rls.rls_disabled_in_public", "public.events", "RLS is off")] if off else []
    report_problems(request, found)
"""
NODE = "test_rls.py::test_rls_enabled_where_policies_exist"
PROBLEM = Problem(rls_lint_code("rls_disabled_in_public"), "public.events", "RLS is off")
FAILURE_FINGERPRINT = PROBLEM.fingerprint
FAILURE = Outcome(NODE, "rls", "failed", "RLS is off", 0.1, "Failed", problems=(PROBLEM,))


@pytest.fixture
def rls_off(migrated_db: str, pytester: pytest.Pytester) -> str:
    pytester.makeini("[pytest]\nmarkers =\n    rls: r\n")
    pytester.makepyfile(test_rls=CHECK)
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute("ALTER TABLE public.events DISABLE ROW LEVEL SECURITY")
    return migrated_db


def _rls_on(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        query = "SELECT relrowsecurity FROM pg_class WHERE oid = 'public.events'::regclass"
        return conn.execute(query).fetchone()[0]


def _doctor(dsn: str, pytester: pytest.Pytester, tickets=()) -> Doctor:
    return Doctor(Context(dsn, Settings()), pytester.path, list(tickets))


def test_plan_changes_nothing(rls_off: str, pytester: pytest.Pytester) -> None:
    (result,) = _doctor(rls_off, pytester).run([FAILURE], heal=False)
    assert result.outcome == PLANNED
    assert result.detail == "ALTER TABLE public.events ENABLE ROW LEVEL SECURITY"
    assert not _rls_on(rls_off)


def test_heal_applies_and_the_failing_check_passes_again(
    rls_off: str, pytester: pytest.Pytester
) -> None:
    (result,) = _doctor(rls_off, pytester).run([FAILURE], heal=True)
    assert (result.outcome, result.fingerprint) == (HEALED, FAILURE_FINGERPRINT)
    assert "re-check: passed" in result.detail
    assert _rls_on(rls_off)


def test_a_heal_the_recheck_refutes_is_a_failure(rls_off: str, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rls=CHECK.replace("NOT relrowsecurity", "relrowsecurity"))
    (result,) = _doctor(rls_off, pytester).run([FAILURE], heal=True)
    assert result.outcome == FAILED and "re-check: failed" in result.detail


def test_twice_failed_heals_are_left_to_a_person(
    rls_off: str, pytester: pytest.Pytester, tmp_path
) -> None:
    backlog = Backlog(tmp_path / "backlog")
    at = datetime(2024, 1, 1, tzinfo=UTC)
    backlog.record_run([Observation(NODE, "rls", "failed", PROBLEM, "Failed")], at)
    for _ in range(2):
        backlog.record_heal(FAILURE_FINGERPRINT, HealAttempt(at, "enable RLS", "failed"))
    tickets = load_tickets(tmp_path / "backlog")
    (result,) = _doctor(rls_off, pytester, tickets).run([FAILURE], heal=True)
    assert result.outcome == NEEDS_PERSON and not _rls_on(rls_off)
    assert "needs a person" in next((tmp_path / "backlog").glob("READY_*.md")).read_text()


def test_an_unknown_failure_gets_no_remedy(migrated_db: str, pytester: pytest.Pytester) -> None:
    node = "checks/test_x.py::test_y"
    unnamed = Problem(CHECK_FAILED, node, "1 != 2")
    unknown = Outcome(node, "dq", "failed", "1 != 2", 0.0, "AssertionError", (unnamed,))
    (result,) = _doctor(migrated_db, pytester).run([unknown], heal=True)
    assert result.outcome == NO_REMEDY


def test_the_message_and_the_node_id_choose_no_remedy(
    migrated_db: str, pytester: pytest.Pytester
) -> None:
    """Text that once chose a remedy (a node id with "freshness", a message naming a lint)
    chooses none: only the code does."""
    node = "checks/test_dq.py::test_dq[events.freshness.occurred_at]"
    unnamed = Problem(CHECK_FAILED, node, "rls_disabled_in_public: invalid index")
    outcome = Outcome(node, "dq", "failed", unnamed.message, 0.0, "AssertionError", (unnamed,))
    (result,) = _doctor(migrated_db, pytester).run([outcome], heal=False)
    assert result.outcome == NO_REMEDY


def test_a_renamed_check_still_heals(
    rls_off: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline's own run of a check under a new name: its problem still finds the remedy,
    and the re-check runs the check under its new name."""
    renamed = CHECK.replace("test_rls_enabled_where_policies_exist", "test_events_are_private")
    pytester.makepyfile(test_rls=renamed)
    monkeypatch.setenv("SUPABASE_DB_URL", rls_off)
    monkeypatch.setenv("SELFHEAL_REPORTS_DIR", str(pytester.path / "reports"))
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--no-tickets").assert_outcomes(
        failed=1
    )
    failures = [o for o in read_last_run(pytester.path / "reports") if o.outcome == "failed"]
    (result,) = _doctor(rls_off, pytester).run(failures, heal=True)
    assert (result.outcome, result.fingerprint) == (HEALED, FAILURE_FINGERPRINT)
    assert result.node_id == "test_rls.py::test_events_are_private"
    assert _rls_on(rls_off)


def test_a_problem_healed_since_the_last_run_is_not_treated_again(tmp_path) -> None:
    """`selfheal doctor` reads the last run: what a heal resolved since is left alone."""
    backlog = Backlog(tmp_path / "backlog")
    at = datetime(2024, 1, 1, tzinfo=UTC)
    other = Problem(rls_lint_code("rls_disabled_in_public"), "public.other", "RLS is off")
    both = Outcome(NODE, "rls", "failed", "RLS is off", 0.0, "Failed", (PROBLEM, other))
    backlog.record_run([Observation(NODE, "rls", "failed", p, "Failed") for p in both.problems], at)
    assert still_failing([both], load_tickets(tmp_path / "backlog")) == [both]

    backlog.record_run([Observation(NODE, "rls", "healed", PROBLEM, "Failed")], at)
    (left,) = still_failing([both], load_tickets(tmp_path / "backlog"))
    assert left.problems == (other,)
    backlog.record_run([Observation(NODE, "rls", "healed", other, "Failed")], at)
    assert still_failing([both], load_tickets(tmp_path / "backlog")) == []
