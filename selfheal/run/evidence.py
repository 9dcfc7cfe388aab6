"""How a check hands its findings to the plugin, the HTML report and the tickets.

A check that finds something calls `report_problems(request, problems)`: every `Problem` is attached
to the test's `user_properties` (as a plain dict, so it reaches the controller under pytest-xdist
too), warn- and info-level ones are shown as warnings, and error-level ones fail the test with their
messages. A warning that is no problem of its own (a stale waiver, pending migrations) is
`warn(request, message)`; offending rows a hand-written check wants in its ticket are
`attach(request, SAMPLE_ROWS, rows)`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import pytest

from selfheal.core.text import text_table
from selfheal.run.problem import Problem

SAMPLE_ROWS = "selfheal.sample_rows"  # list[dict[str, Any]]: up to a handful of offending rows
WARNING = "selfheal.warning"  # str: a warn-level finding on a passing test
PROBLEM = "selfheal.problem"  # dict: Problem.to_dict()
QUERIES = "selfheal.queries"  # list[dict]: the Query records behind a verdict, passing or not
HEALTH = "selfheal.health"  # dict: what one health check examined (selfheal.health.report)
TABLE = "selfheal.table"  # str: the table a check is about, qualified (grouping in the report)


class CheckWarning(UserWarning):
    """A finding below the failing threshold: shown, counted, never lost."""


def attach(request: pytest.FixtureRequest, key: str, value: Any) -> None:
    request.node.user_properties.append((key, value))


def warn(request: pytest.FixtureRequest, message: str, stacklevel: int = 2) -> None:
    """`stacklevel` 2 points the warning at the check calling this (3: at its caller's caller)."""
    attach(request, WARNING, message)
    warnings.warn(CheckWarning(message), stacklevel=stacklevel)


def report_problems(request: pytest.FixtureRequest, problems: Iterable[Problem]) -> None:
    """Attach the problems; warn about the warn-level ones; fail on the error-level ones."""
    __tracebackhide__ = True
    failing = []
    for problem in problems:
        attach(request, PROBLEM, problem.to_dict())
        if problem.failing:
            failing.append(failure_text(problem))
        else:
            warn(request, problem.message, stacklevel=3)
    if failing:
        pytest.fail("\n".join(failing), pytrace=False)


def failure_text(problem: Problem) -> str:
    """The problem's message, then its offending rows as a text table (for the terminal)."""
    samples = problem.evidence.samples
    if not samples:
        return problem.message
    columns = list(dict.fromkeys(key for row in samples for key in row))
    shown = f"offending rows ({len(samples)} shown):"
    return f"{problem.message}\n{shown}\n{text_table(columns, samples)}"


def from_report(report: pytest.TestReport | pytest.CollectReport, key: str) -> list[Any]:
    """Every value attached under `key` to a report (a collection report carries none)."""
    properties = getattr(report, "user_properties", ())
    return [value for name, value in properties if name == key]


def problems_of(report: pytest.TestReport | pytest.CollectReport) -> list[Problem]:
    """The problems a test reported, each once (a re-run example may report one again)."""
    found = [Problem.from_dict(record) for record in from_report(report, PROBLEM)]
    return list({problem.identity: problem for problem in found}.values())


class FailedFixtures:
    """Which fixture raised an exception. pytest keeps a failed fixture's exception and raises
    that same object for every later check needing the fixture, so the name is found again."""

    def __init__(self) -> None:
        self._names: dict[int, tuple[BaseException, str]] = {}

    def record(self, error: BaseException, fixture: str) -> None:
        """The innermost fixture records first; fixtures depending on it do not overwrite it."""
        self._names.setdefault(id(error), (error, fixture))

    def name_of(self, error: BaseException) -> str | None:
        recorded = self._names.get(id(error))
        return recorded[1] if recorded and recorded[0] is error else None
