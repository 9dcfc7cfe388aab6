"""The part of the plugin that enriches pytest-html's report (when pytest-html writes one):

- a summary section with, per table of the target, its row count, size and freshness;
- under each failing check, its failing rows (its problems' samples) as a table, and the
  remediation of each of its problems.

The table overview is taken when the session ends, while the target still exists: when the
plugin's `pytest_selfheal_target_closing` hook says the target is about to go; under
pytest-xdist in live mode, by the controller when the session finishes. A session in which no
check opened the target says so instead. The executive KPI page is written at the same
moment, from the same state.
"""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import psycopg
import pytest

from selfheal.core.db import DatabaseUnreachable, connect_target
from selfheal.health.config import HealthConfigError, load_config
from selfheal.health.overview import TableOverview, table_overview
from selfheal.kpi import write_kpi_page
from selfheal.pytest_plugin.outcomes import STAGE_PROPERTY
from selfheal.pytest_plugin.session import settings_of
from selfheal.run.evidence import SAMPLE_ROWS, from_report, problems_of
from selfheal.run.reporting import redact

HEALTH_CONFIG = Path("checks") / "health.toml"
log = logging.getLogger(__name__)
MAX_ROWS = 10
STYLE = (
    "<style>"
    ".selfheal-overview, .selfheal-failing-rows table {border-collapse: collapse; margin: 6px 0}"
    ".selfheal-overview td, .selfheal-overview th, .selfheal-failing-rows td,"
    " .selfheal-failing-rows th {border: 1px solid #ccc; padding: 2px 8px; text-align: left}"
    ".selfheal-overview .stale, .selfheal-overview .empty {color: #c00; font-weight: bold}"
    ".selfheal-overview .fresh {color: #080}"
    "</style>"
)


class TargetSnapshot:
    def __init__(self, config: pytest.Config) -> None:
        self.rootpath = config.rootpath
        self.settings = settings_of(config)
        self.tables: list[TableOverview] | None = None
        self.problem = ""
        self.checks_ran = False

    def pytest_selfheal_target_closing(self, config: pytest.Config, dsn: str) -> None:
        self.take(dsn)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Seen on the controller under pytest-xdist too: did any check of a stage run?"""
        if dict(report.user_properties).get(STAGE_PROPERTY, "other") != "other":
            self.checks_ran = True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Under pytest-xdist the workers hold the target; in live mode the controller looks."""
        settings = self.settings
        if self.tables is None and not self.problem and settings.live and self.checks_ran:
            self.take(settings.db_url.reveal())

    def take(self, dsn: str) -> None:
        settings = self.settings
        try:
            config = load_config(self.rootpath / HEALTH_CONFIG)
            with connect_target(dsn, settings, read_only=True) as conn:
                self.tables = table_overview(conn, config)
                write_kpi_page(conn, settings.reports_dir, datetime.now(settings.zone))
        except (HealthConfigError, OSError, psycopg.Error, DatabaseUnreachable) as error:
            # The report is still written, and says why this section is missing.
            self.problem = redact(f"{type(error).__name__}: {error}", settings)
            log.warning("no table overview in the HTML report: %s", self.problem)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        prefix.append(STYLE + render_overview(self.tables, self.problem))


def render_overview(tables: list[TableOverview] | None, problem: str = "") -> str:
    heading = "<h2>Tables: freshness and row counts</h2>"
    if tables is None:
        reason = problem or "no check opened the target database in this session"
        return f'{heading}<p class="selfheal-overview">not available: {escape(reason)}</p>'
    rows = "".join(
        "<tr>"
        f"<td>{escape(str(t.table))}</td><td>{t.rows:,}</td><td>{t.bytes:,}</td>"
        f'<td class="{t.status.replace(" ", "-")}">{t.status}</td>'
        f"<td>{escape(t.freshness_column or '')}</td>"
        f"<td>{'' if t.newest is None else t.newest.isoformat(timespec='seconds')}</td>"
        f"<td>{'' if t.age_hours is None else f'{t.age_hours:.1f}'}</td>"
        f"<td>{'' if t.max_age_hours is None else f'{t.max_age_hours:g}'}</td>"
        "</tr>"
        for t in tables
    )
    return (
        f'{heading}<table id="selfheal-tables" class="selfheal-overview">'
        "<thead><tr><th>table</th><th>rows</th><th>bytes</th><th>freshness</th>"
        "<th>column</th><th>newest</th><th>age (h)</th><th>limit (h)</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def render_failing_rows(rows: list[dict[str, Any]]) -> str:
    shown = rows[:MAX_ROWS]
    columns = list(dict.fromkeys(key for row in shown for key in row))
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(row.get(c, '')))}</td>" for c in columns) + "</tr>"
        for row in shown
    )
    more = (
        f"<p>{len(rows) - len(shown)} more row(s) not shown</p>" if len(rows) > len(shown) else ""
    )
    return (
        f'<div class="selfheal-failing-rows"><h4>Failing rows</h4>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}</div>"
    )


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_html(
    report: pytest.TestReport | pytest.CollectReport, data: list[str]
) -> None:
    if not isinstance(report, pytest.TestReport):
        return  # a collection error carries no evidence
    problems = problems_of(report)
    rows = [row for sample in from_report(report, SAMPLE_ROWS) for row in sample]
    rows += [row for problem in problems for row in problem.evidence.samples]
    if rows:
        data.append(render_failing_rows(rows))
    for remediation in dict.fromkeys(p.remediation for p in problems if p.remediation):
        data.append(f'<p class="selfheal-remediation">Remediation: {escape(remediation)}</p>')


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(TargetSnapshot(config), "selfheal-target-snapshot")
