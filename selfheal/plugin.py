"""The selfheal pytest plugin (registered through the `pytest11` entry point).

It tags every item with its stage (its selfheal marker) and gathers every outcome; at the end of
the session it writes the Markdown reports. Outcomes arrive through `pytest_runtest_logreport`,
which under pytest-xdist runs on the controller, so workers' results are not lost.
"""

from __future__ import annotations

import pytest

from selfheal.reporting import Outcome, write_preflight_report
from selfheal.settings import Settings

STAGES = ("preflight", "schema", "rls", "health", "migrations", "etl", "dq", "doctor")
STAGE_PROPERTY = "selfheal.stage"


def stage_of(item: pytest.Item) -> str:
    for stage in STAGES:
        if item.get_closest_marker(stage):
            return stage
    return "other"


class OutcomeCollector:
    """Keeps one Outcome per test (its call phase, or the setup phase when that failed)."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            item.user_properties.append((STAGE_PROPERTY, stage_of(item)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            stage = dict(report.user_properties).get(STAGE_PROPERTY, "other")
            self.outcomes.append(Outcome.from_report(report, stage))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        preflight = [o for o in self.outcomes if o.stage == "preflight"]
        if preflight:
            settings = Settings.from_env(strict=False)
            write_preflight_report(settings.reports_dir, preflight, settings)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(OutcomeCollector(), "selfheal-outcomes")
