"""The health report's Markdown: a table per part, clean checks say what they examined."""

from __future__ import annotations

from datetime import UTC, datetime

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
