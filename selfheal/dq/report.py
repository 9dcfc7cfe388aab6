"""A check result as the failure message (its offending rows travel as the problem's samples)."""

from __future__ import annotations

from selfheal.dq.runner import CheckResult


def failure_text(result: CheckResult) -> str:
    text = f"{result.id}: {result.message}"
    for query in (q for q in result.queries if q.error):
        text += f"\nquery ({query.error}):\n  {query.sql}"
    return text
