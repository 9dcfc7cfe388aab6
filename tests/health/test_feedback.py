"""Part 1: problems that keep coming back (ETL ledger here; tickets in test_tickets.py)."""

from __future__ import annotations

import pytest

from selfheal.health.feedback import transitions

from .conftest import add_run


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([], 0),
        (["failed"], 0),
        (["failed", "failed", "passed"], 1),
        (["failed", "healed", "failed", "passed", "failed"], 4),
        (["passed", "healed", "passed"], 0),
    ],
)
def test_transitions(outcomes, expected):
    assert transitions(outcomes) == expected


def test_source_failing_again_and_again(audit, writer):
    for hours, status in [(9, "failed"), (8, "succeeded"), (7, "failed"), (6, "failed")]:
        add_run(writer, "source_a", status, hours_ago=hours, minutes=1, error="HTTP 429")
    for hours in (9, 8, 7):
        add_run(writer, "events", "failed", hours_ago=hours, minutes=1, error=f"timeout {hours}")
    add_run(writer, "source_b", "failed", hours_ago=1, minutes=1)  # once is not a loop
    findings = {f.subject: f for f in audit("feedback_loops:repeated_etl_failures").findings}
    assert set(findings) == {"events", "source_a"}
    assert findings["source_a"].level == "warn"
    assert findings["events"].level == "error"  # every recent run failed
    assert "latest error: timeout 7" in findings["events"].message


def test_old_failures_drop_out_of_the_window(audit, writer):
    for hours in (20, 19, 18):
        add_run(writer, "source_a", "failed", hours_ago=hours, minutes=1)
    for hours in (5, 4, 3, 2, 1):
        add_run(writer, "source_a", "succeeded", hours_ago=hours, minutes=1)
    assert audit("feedback_loops:repeated_etl_failures").findings == []
