"""The health report's Markdown: a table per part, clean checks say what they examined, one time
zone, and which checks judged the data before the run's load."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from selfheal.health.model import AuditContext
from selfheal.health.report import CheckRecord, render

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def test_one_table_per_part_with_findings_and_clean_checks():
    records = [
        CheckRecord(
            "n1",
            "failed",
            "constraint_propagation",
            "invalid_index",
            "indexes",
            [
                {
                    "check": "invalid_index",
                    "subject": "public.a|b",
                    "level": "error",
                    "message": "invalid",
                    "remediation": "REINDEX INDEX CONCURRENTLY public.a;",
                },
            ],
        ),
        CheckRecord("n2", "passed", "feedback_loops", "reopened_ticket", "3 ticket(s)"),
    ]
    text = render(records, NOW, "embedded default")
    assert text.index("## 1. Feedback loops") < text.index("## 4. Constraint propagation")
    assert "## 2. Second-order effects" not in text  # not run, not shown
    assert "| reopened_ticket | clean | | examined 3 ticket(s) | |" in text
    assert "| invalid_index | error | public.a\\|b | invalid | REINDEX" in text
    assert "findings: 1 error, 0 warn, 0 info" in text
    assert "[report.html](report.html)" in text


def test_one_zone_named_in_the_header():
    toronto = datetime(2026, 11, 22, 6, 0, tzinfo=ZoneInfo("America/Toronto"))
    text = render(
        [CheckRecord("n", "passed", "feedback_loops", "flapping_check", "x")], toronto, "t"
    )
    assert "- generated: 2026-11-22 06:00:00 (America/Toronto)" in text
    assert "- times: every time in this report is in America/Toronto" in text


def test_checks_reading_rows_say_they_judged_the_data_before_todays_load():
    records = [
        CheckRecord("n1", "passed", "second_order_effects", "failing_upstream", "x", [], True),
        CheckRecord("n2", "passed", "constraint_propagation", "fk_without_index", "y"),
    ]
    text = render(records, NOW, "t", loaded_after=True)
    assert "- data: judged before today's load: this run's ETL stage came after" in text
    assert "| failing_upstream (before today's load) | clean |" in text
    assert "| fk_without_index | clean |" in text  # the catalog is the same after a load
    assert "before today's load" not in render(records, NOW, "t")  # no load in the run


def test_findings_show_times_in_the_audits_zone():
    zone = ZoneInfo("America/Toronto")
    context = AuditContext(None, None, Path("backlog"), list, zone=zone)  # type: ignore[arg-type]
    assert context.at(datetime(2026, 11, 22, 6, 0, tzinfo=UTC)) == "2026-11-22 01:00"
