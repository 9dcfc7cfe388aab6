"""The plugin end to end, on pytester-made checks: order, gate, tickets, summaries, Slack, xdist."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from selfheal.run.tickets import load_tickets

pytest_plugins = ["pytester"]

INI = """
[pytest]
markers =
    preflight: p
    schema: s
    rls: r
    health: h
    migrations: m
    etl: e
    dq: d
    doctor: doc
"""

CHECKS = """
import os, pytest
from selfheal.run import evidence

ORDER = []

@pytest.mark.dq
def test_rows(request):
    ORDER.append("dq")
    evidence.attach(request, evidence.SAMPLE_ROWS, [{"id": 7, "bad": "x"}])
    assert os.environ.get("FAIL_DQ") != "1", "2 rows fail the rule"

@pytest.mark.schema
def test_schema():
    ORDER.append("schema")

@pytest.mark.preflight
def test_env():
    ORDER.append("preflight")
    assert os.environ.get("FAIL_PREFLIGHT") != "1", "SUPABASE_DB_URL is malformed"

@pytest.mark.doctor
def test_order_was_stage_order():
    preflight_failed = os.environ.get("FAIL_PREFLIGHT") == "1"
    assert ORDER == (["preflight"] if preflight_failed else ["preflight", "schema", "dq"])
"""


@pytest.fixture
def checks(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(test_checks=CHECKS)
    return pytester


def _all_output(root: Path) -> str:
    files = [p for d in ("reports", "backlog") for p in (root / d).rglob("*") if p.is_file()]
    return "".join(p.read_text(errors="replace") for p in files)


def test_stages_run_in_order_and_failures_become_one_ticket(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_DQ", "1")
    checks.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3, failed=1)
    checks.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3, failed=1)
    (ticket,) = load_tickets(checks.path / "backlog")
    assert (ticket.node_id, ticket.stage, ticket.kind) == (
        "test_checks.py::test_rows",
        "dq",
        "AssertionError",
    )
    assert ticket.occurrences == 2 and ticket.sample_rows == [{"id": 7, "bad": "x"}]
    summary = next((checks.path / "reports/exec").glob("run_summary_*.md")).read_text()
    assert summary.startswith("# Run summary")
    assert "| dq | 0 | 1 |" in summary and "../report.html" in summary
    assert "SLACK_WEBHOOK_URL is not set" in summary
    last_run = json.loads((checks.path / "reports/exec/last_run.json").read_text())
    assert {o["outcome"] for o in last_run["outcomes"]} == {"passed", "failed"}

    monkeypatch.setenv("FAIL_DQ", "0")
    checks.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)
    (ticket,) = load_tickets(checks.path / "backlog")
    assert ticket.status == "resolved"
    assert (checks.path / "backlog/resolved" / ticket.filename).exists()


def test_failed_preflight_stops_later_stages_but_the_doctor(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The doctor still treats what preflight found (some of it has a remedy)."""
    monkeypatch.setenv("FAIL_PREFLIGHT", "1")
    result = checks.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(failed=1, passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*not run: preflight failed*"])
    result.stdout.fnmatch_lines(["preflight failed: the later stages were not run*"])
    assert (checks.path / "reports/exec/preflight_report.md").exists()


def test_no_tickets_writes_none(checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIL_DQ", "1")
    checks.runpytest("-p", "no:cacheprovider", "--no-tickets").assert_outcomes(passed=3, failed=1)
    assert load_tickets(checks.path / "backlog") == []


def test_under_xdist_the_controller_gathers_failures(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_DQ", "1")
    checks.makepyfile(
        test_order_free="import pytest\n\n@pytest.mark.etl\ndef test_a():\n    pass\n"
    )
    (checks.path / "test_checks.py").write_text(CHECKS.replace("ORDER ==", "ORDER or"))
    result = checks.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=4, failed=1)
    (ticket,) = load_tickets(checks.path / "backlog")
    assert ticket.node_id == "test_checks.py::test_rows"


def test_slack_gets_one_message_and_no_file_holds_a_secret(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, slack_receiver
) -> None:
    secrets = ["pgpassw0rd", "tok-a-123", slack_receiver.url]
    monkeypatch.setenv("FAIL_DQ", "1")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack_receiver.url)
    monkeypatch.setenv("SUPABASE_DB_URL", "postgresql://u:pgpassw0rd@127.0.0.1:1/db")
    monkeypatch.setenv("GENERIC_SOURCE_A_TOKEN", "tok-a-123")
    checks.makepyfile(
        test_leak="import os, pytest\n\n@pytest.mark.etl\ndef test_leak():\n"
        "    assert False, os.environ['SUPABASE_DB_URL']\n"
    )
    checks.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3, failed=2)
    (body,) = slack_receiver.bodies
    assert "pytest 'test_checks.py::test_rows'" in body["text"]
    assert "2 new" in body["text"]
    produced = _all_output(checks.path) + json.dumps(body)
    assert "sent to Slack" in produced
    for secret in secrets:
        assert secret not in produced


@pytest.mark.parametrize("slack_receiver", [[500]], indirect=True)
def test_a_failing_webhook_never_fails_the_run(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, slack_receiver
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack_receiver.url)
    result = checks.runpytest("-p", "no:cacheprovider")
    assert result.ret == 0
    assert len(slack_receiver.bodies) == 3  # retried, then given up
    summary = next((checks.path / "reports/exec").glob("run_summary_*.md")).read_text()
    assert "failed after 3 attempts: HTTP 500" in summary


def test_a_check_file_that_cannot_be_collected_gets_a_ticket(checks: pytest.Pytester) -> None:
    checks.makepyfile(
        test_broken="import pytest\n\npytestmark = pytest.mark.dq\nraise ImportError('no rules file')\n"
    )
    checks.runpytest("-p", "no:cacheprovider")
    (ticket,) = load_tickets(checks.path / "backlog")
    assert (ticket.node_id, ticket.stage, ticket.kind) == (
        "test_broken.py",
        "collect",
        "ImportError",
    )
    assert "no rules file" in ticket.message


def test_the_summary_is_dated_in_the_configured_time_zone(
    checks: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone = "Pacific/Kiritimati"  # UTC+14: its date is often not UTC's
    monkeypatch.setenv("TZ", zone)
    checks.runpytest("-p", "no:cacheprovider")
    today = datetime.now(ZoneInfo(zone)).date().isoformat()
    assert (checks.path / f"reports/exec/run_summary_{today}.md").exists()
    assert (checks.path / f"reports/exec/run_logs_{today}.md").exists()


STAGED_CHECKS = """
import time, pytest
from pathlib import Path

LOADED = Path("loaded.flag")

@pytest.mark.etl(step=1)  # collected first, a later step of its stage: it reads the loads
@pytest.mark.parametrize("day", range(4))
def test_metrics(day):
    assert LOADED.exists(), "metrics ran before the loads of its stage finished"

@pytest.mark.etl
def test_load():
    time.sleep(1)  # a slow load: a dq check that started early on the other worker would see no data
    LOADED.write_text("rows")

@pytest.mark.dq
@pytest.mark.parametrize("rule", range(12))
def test_rule(rule):
    assert LOADED.exists(), "dq ran before the ETL stage finished"

@pytest.mark.preflight
@pytest.mark.parametrize("item", range(6))
def test_preflight(item):
    pass
"""


def test_under_xdist_a_stage_starts_after_the_earlier_stages_and_steps_finish(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_staged=STAGED_CHECKS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-v")
    result.assert_outcomes(passed=23)
    workers = {
        line.split()[0] for line in result.outlines if "PASSED test_staged.py::test_rule[" in line
    }
    assert workers == {"[gw0]", "[gw1]"}, "the dq checks ran on both workers"


BROKEN_FIXTURE = """
import pytest
from pathlib import Path

def _connect():  # stands in for a library frame deep under the fixture
    raise ConnectionError("connection refused on 127.0.0.1:1")

@pytest.fixture(scope="session")
def target():
    return _connect()

@pytest.fixture(scope="session")
def session_db(target):
    return target

@pytest.mark.schema
@pytest.mark.parametrize("table", ["a", "b", "c"])
def test_table(table, session_db):
    pass

@pytest.mark.schema
def test_other(request):
    request.getfixturevalue("session_db")
"""


def test_a_failing_shared_fixture_is_one_problem_named_after_the_fixture(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_broken_fixture=BROKEN_FIXTURE)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(errors=3, failed=1)
    tickets = load_tickets(pytester.path / "backlog")
    setup = [t for t in tickets if t.code.startswith("setup.")]
    assert [(t.code, t.object, t.kind) for t in setup] == [("setup.target", "", "ConnectionError")]
    assert "connection refused" in setup[0].message
    # the check that asked for the fixture itself failed in its call: a problem of its own
    assert {t.code for t in tickets} == {"setup.target", "check.failed"}


NAMED_CHECK = """
import os, pytest
from selfheal.run.evidence import report_problems
from selfheal.run.problem import Evidence, Problem

@pytest.mark.dq
def test_events_are_fresh(request):
    if os.environ.get("STALE") == "1":
        stale = Problem("dq.freshness", "public.events.occurred_at", "newest row is 3 days old",
                        evidence=Evidence(samples=({"newest": "2024-01-01"},)))
        report_problems(request, [stale])
"""


def test_renaming_a_check_keeps_its_ticket(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(INI)
    monkeypatch.setenv("STALE", "1")
    pytester.makepyfile(test_named=NAMED_CHECK)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(failed=1)
    renamed = NAMED_CHECK.replace("test_events_are_fresh", "test_freshness_of_events")
    pytester.makepyfile(test_named=renamed)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(failed=1)
    (ticket,) = load_tickets(pytester.path / "backlog")
    assert (ticket.code, ticket.object) == ("dq.freshness", "public.events.occurred_at")
    assert ticket.occurrences == 2 and ticket.sample_rows == [{"newest": "2024-01-01"}]
    assert ticket.node_id == "test_named.py::test_freshness_of_events"
    summary = next((pytester.path / "reports/exec").glob("run_summary_*.md")).read_text()
    assert "| dq.freshness |" in summary

    monkeypatch.setenv("STALE", "0")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    (ticket,) = load_tickets(pytester.path / "backlog")
    assert ticket.status == "resolved"
