"""The part of the plugin that gathers the health checks' evidence (which reaches the controller
under pytest-xdist too) and writes the health report when the session ends."""

from __future__ import annotations

from datetime import datetime

import pytest

from selfheal.core.dsn import redact_dsn
from selfheal.health.report import CheckRecord, render, write_health_report
from selfheal.pytest_plugin.outcomes import STAGE_PROPERTY
from selfheal.pytest_plugin.session import settings_of
from selfheal.run.evidence import HEALTH, from_report
from selfheal.run.reporting import redact


class HealthReportWriter:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: list[CheckRecord] = []
        self.loaded = False  # an ETL check ran: stages run in order, so after the health checks

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        if dict(report.user_properties).get(STAGE_PROPERTY) == "etl":
            self.loaded = True
        for record in from_report(report, HEALTH):
            self.records.append(CheckRecord(report.nodeid, report.outcome, **record))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.records:
            return
        settings = settings_of(self.config)
        target = redact_dsn(settings.db_url.reveal()) if settings.db_url else "embedded default"
        generated = datetime.now(settings.zone)
        text = redact(render(self.records, generated, target, self.loaded), settings)
        write_health_report(settings.reports_dir, text, generated)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(HealthReportWriter(config), "selfheal-health-report")
