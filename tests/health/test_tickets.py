"""Part 1 from the backlog: tickets written by the tickets module itself, run after run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from selfheal.run import tickets
from selfheal.run.problem import Problem, dq_code

FLAPPY = "checks/test_dq.py::test_dq[events:freshness]"
STEADY = "checks/test_dq.py::test_dq[ads_source_a:not_null]"
START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def _observation(node: str, outcome: str) -> tickets.Observation:
    problem = Problem(dq_code("freshness"), node, "stale") if outcome == "failed" else None
    return tickets.Observation(node, "dq", outcome, problem, "AssertionError")


def _runs(backlog_dir, outcomes_by_node: dict[str, list[str]]) -> None:
    """One run per position: each node passes or fails as listed."""
    backlog = tickets.Backlog(backlog_dir)
    runs = max(len(outcomes) for outcomes in outcomes_by_node.values())
    for index in range(runs):
        observations = [
            _observation(node, outcomes[index])
            for node, outcomes in outcomes_by_node.items()
            if index < len(outcomes)
        ]
        backlog.record_run(observations, START + timedelta(days=index))


def test_reopened_and_flapping_checks(audit, tmp_path):
    _runs(
        tmp_path / "backlog",
        {
            FLAPPY: ["failed", "passed", "failed", "passed", "failed"],
            STEADY: ["failed", "failed", "failed", "failed", "failed"],
        },
    )
    [reopened] = audit("feedback_loops:reopened_ticket").findings
    assert reopened.subject == FLAPPY and "came back 2 time(s)" in reopened.message
    [flapping] = audit("feedback_loops:flapping_check").findings
    assert flapping.subject == FLAPPY
    assert "4 times in its last 5 runs (failed passed failed passed failed)" in flapping.message


def test_a_fix_that_holds_is_no_feedback_loop(audit, tmp_path):
    _runs(tmp_path / "backlog", {FLAPPY: ["failed", "failed", "passed", "passed"]})
    assert audit("feedback_loops:reopened_ticket").findings == []
    assert audit("feedback_loops:flapping_check").findings == []
    assert "1 ticket(s)" in audit("feedback_loops:reopened_ticket").examined


def test_an_empty_backlog_is_examined_and_clean(audit):
    result = audit("feedback_loops:flapping_check")
    assert result.findings == [] and "0 ticket(s)" in result.examined
