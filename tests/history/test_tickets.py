"""Tickets follow the history of their problem on their target (pytester sessions, live mode)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from selfheal.core.dsn import redact_dsn
from selfheal.run.tickets import load_tickets

pytest_plugins = ["pytester"]


@pytest.fixture
def checks(checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, empty_db: str):
    monkeypatch.setenv("SUPABASE_DB_URL", empty_db)
    return checks


def _ticket(pytester: pytest.Pytester):
    (ticket,) = load_tickets(pytester.path / "backlog")
    return ticket


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def test_a_ticket_stays_open_until_its_check_passes_on_its_target(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, empty_db: str, second_db: str
) -> None:
    monkeypatch.setenv("FAIL_DQ", "1")
    first = _run(checks)
    first.assert_outcomes(passed=1, failed=1)
    first.stdout.fnmatch_lines(["tickets: 1 opened, 0 updated, 0 resolved"])
    ticket = _ticket(checks)
    assert (ticket.status, ticket.occurrences) == ("open", 1)
    assert ticket.target == redact_dsn(empty_db)
    assert "- target: " in next((checks.path / "backlog").glob("READY_*.md")).read_text()

    written = next((checks.path / "backlog").glob("READY_*.md")).stat().st_mtime_ns
    _run(checks, "-k", "schema").assert_outcomes(passed=1)
    assert _ticket(checks).status == "open", "a run that did not judge the check changes nothing"
    ticket_file = next((checks.path / "backlog").glob("READY_*.md"))
    assert ticket_file.stat().st_mtime_ns == written, "nor rewrites its file"

    monkeypatch.setenv("FAIL_DQ", "0")
    monkeypatch.setenv("SUPABASE_DB_URL", second_db)
    _run(checks, "-k", "rows").assert_outcomes(passed=1)
    assert _ticket(checks).status == "open", "a pass on another target resolves nothing"

    monkeypatch.setenv("SUPABASE_DB_URL", empty_db)
    monkeypatch.setenv("FAIL_DQ", "1")
    again = _run(checks, "-k", "rows")
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["tickets: 0 opened, 1 updated, 0 resolved"])
    assert (_ticket(checks).status, _ticket(checks).occurrences) == ("open", 2)
    monkeypatch.setenv("FAIL_DQ", "0")
    result = _run(checks, "-k", "rows")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["tickets: 0 opened, 0 updated, 1 resolved"])
    assert _ticket(checks).status == "resolved"
    assert list((checks.path / "backlog" / "resolved").glob("RESOLVED_*.md"))


def test_the_ticket_of_a_check_that_no_longer_exists_is_retired_by_a_full_run(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_DQ", "1")
    _run(checks).assert_outcomes(passed=1, failed=1)
    checks.makepyfile(
        test_other="import pytest\n\n@pytest.mark.schema\ndef test_schema():\n    pass\n"
    )
    (checks.path / "test_checks.py").unlink()
    _run(checks, "-k", "schema").assert_outcomes(passed=1)
    assert _ticket(checks).status == "open", "only a full run retires"
    _run(checks).assert_outcomes(passed=1)
    ticket = _ticket(checks)
    assert ticket.status == "retired"
    (path,) = (checks.path / "backlog" / "resolved").glob("RESOLVED_*.md")
    assert "retired - its check no longer exists" in path.read_text()


def test_a_ticket_from_the_history_tells_its_times_in_the_runs_zone(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30 all year
    monkeypatch.setenv("FAIL_DQ", "1")
    _run(checks).assert_outcomes(passed=1, failed=1)
    ticket = _ticket(checks)
    times = [ticket.first_seen, ticket.last_seen, *(at for at, _ in ticket.history)]
    assert {at.utcoffset() for at in times} == {timedelta(hours=5, minutes=30)}
