"""How a check hands structured evidence to the plugin, the HTML report and the tickets.

A check calls `attach(request, ...)` before it asserts. The values travel in the test report's
`user_properties` (so they reach the controller under pytest-xdist too) under the keys below.
A warn-level problem is `warn(request, message)`: the test passes, the warning shows in the
terminal summary and the HTML report, and the plugin counts it.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

SAMPLE_ROWS = "selfheal.sample_rows"  # list[dict[str, Any]]: up to a handful of offending rows
QUERIES = "selfheal.queries"  # list[dict]: {"sql": str, "seconds": float, "rows": int}
WARNING = "selfheal.warning"  # str: a warn-level finding on a passing test
DETAILS = "selfheal.details"  # dict[str, Any]: anything else worth showing (level, remediation)


class CheckWarning(UserWarning):
    """A finding below the failing threshold: shown, counted, never lost."""


def attach(request: pytest.FixtureRequest, key: str, value: Any) -> None:
    request.node.user_properties.append((key, value))


def warn(request: pytest.FixtureRequest, message: str) -> None:
    attach(request, WARNING, message)
    warnings.warn(CheckWarning(message), stacklevel=2)


def from_report(report: pytest.TestReport | pytest.CollectReport, key: str) -> list[Any]:
    """Every value attached under `key` to a report (a collection report carries none)."""
    properties = getattr(report, "user_properties", ())
    return [value for name, value in properties if name == key]
