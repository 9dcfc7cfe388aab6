"""The part of the plugin that shapes pytest-html's report (when pytest-html writes one), through
pytest-html's own hooks:

- the title names the target (redacted), when the run started and what narrowed it;
- the first screen is the overview (`report_overview`): links to the KPI page, the health report
  and the run summary, per stage its counts, per table its freshness, rows and failing rules;
- each row gets its stage, table, real duration and a one-line detail, and under it its evidence
  once (`report_check`); skipped checks are folded, with their reason in words;
- `assets/report.css` and `assets/report.js` (inlined) group the results by stage then table, and
  add a search box and a stage filter.

The table overview is taken when the session ends, while the target still exists: when the
plugin's `pytest_selfheal_target_closing` hook says the target is about to go; under
pytest-xdist by the controller, which knows the target (live, or the embedded default it opened
for its workers). The executive KPI page is written at the same moment, from the same state,
when the target has the metrics table (a database of another schema has no KPI page).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import pytest

from selfheal.core.db import DatabaseUnreachable, connect_target
from selfheal.health.config import HealthConfigError, load_config
from selfheal.health.overview import TableOverview, table_overview
from selfheal.health.report import health_report_path
from selfheal.kpi import has_metrics, write_kpi_page
from selfheal.pytest_plugin import history
from selfheal.pytest_plugin.outcomes import STAGE_PROPERTY, collector
from selfheal.pytest_plugin.report_check import CheckView, render_evidence, row_cells
from selfheal.pytest_plugin.report_overview import Overview, render
from selfheal.pytest_plugin.session import settings_of
from selfheal.run.pipeline import COLLECT, OTHER
from selfheal.run.reporting import redact
from selfheal.run.tickets import load_tickets

HEALTH_CONFIG = Path("checks") / "health.toml"
NO_LOG = "No log output captured."  # pytest-html's log of a row without one
log = logging.getLogger(__name__)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


class TargetSnapshot:
    """The target's tables as the session leaves them (and the KPI page written from them)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = settings_of(config)
        self.tables: list[TableOverview] | None = None
        self.problem = ""
        self.kpi_page: Path | None = None
        self.checks_ran = False

    def pytest_selfheal_target_closing(self, config: pytest.Config, dsn: str) -> None:
        self.take(dsn)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Seen on the controller under pytest-xdist too: did any check of a stage run?"""
        if dict(report.user_properties).get(STAGE_PROPERTY, OTHER) != OTHER:
            self.checks_ran = True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Under pytest-xdist the workers held the target; the controller knows it too."""
        dsn = history.target_dsn(self.config, self.settings)
        if self.tables is None and not self.problem and self.checks_ran and dsn:
            self.take(dsn)

    def take(self, dsn: str) -> None:
        settings = self.settings
        try:
            config = load_config(self.config.rootpath / HEALTH_CONFIG)
            with connect_target(dsn, settings, read_only=True) as conn:
                self.tables = table_overview(conn, config)
                if has_metrics(conn):
                    now = datetime.now(settings.zone)
                    self.kpi_page = write_kpi_page(conn, settings.reports_dir, now)
        except (HealthConfigError, OSError, psycopg.Error, DatabaseUnreachable) as error:
            # The report is still written, and says why this section is missing.
            self.problem = redact(f"{type(error).__name__}: {error}", settings)
            log.warning("no table overview in the HTML report: %s", self.problem)


class HtmlReport:
    """pytest-html's hooks: title, overview, each row's cells and evidence."""

    def __init__(self, config: pytest.Config, snapshot: TargetSnapshot) -> None:
        self.config = config
        self.settings = settings_of(config)
        self.snapshot = snapshot
        self.seconds: dict[str, float] = {}  # per node: setup + call + teardown
        self.page = Path(config.option.htmlpath).resolve().parent

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        started = datetime.now(self.settings.zone)
        narrowed = history.selection(self.config)
        report.title = (
            f"selfheal run {started:%Y-%m-%d %H:%M} ({self.settings.tz}) on "
            f"{history.target_label(self.settings)}" + (f", {narrowed}" if narrowed else "")
        )
        folded = report.data.get("renderCollapsed", [])
        if "all" not in folded:
            report.set_data("renderCollapsed", sorted({*folded, "passed", "skipped"}))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        test = _index(cells, 'data-column-type="testId"')
        cells[test:test] = [
            '<th class="sortable" data-column-type="stage">Stage</th>',
            '<th class="sortable" data-column-type="table">Table</th>',
        ]
        duration = _index(cells, 'data-column-type="duration"')
        cells[duration : duration + 1] = [
            '<th class="sortable" data-column-type="elapsed">Duration</th>',
            "<th>Detail</th>",
        ]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(
        self, report: pytest.TestReport | pytest.CollectReport, cells: list[str]
    ) -> None:
        added = row_cells(self._view(report))
        test = _index(cells, 'class="col-testId"')
        cells[test:test] = [added["stage"], added["table"]]
        duration = _index(cells, 'class="col-duration"')
        cells[duration : duration + 1] = [added["duration"], added["detail"]]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(
        self, report: pytest.TestReport | pytest.CollectReport, data: list[str]
    ) -> None:
        """The evidence leads the row's log; what it shows is not repeated: the failure text
        (with its rows as text), a skip's raw tuple. A crash keeps its traceback, and captured
        output stays."""
        view = self._view(report)
        if report.longreprtext and (view.problems or view.outcome == "skipped"):
            del data[0]  # pytest-html puts the failure text first
        if data == [NO_LOG]:
            data.clear()
        evidence = render_evidence(view)
        if evidence:
            data.insert(0, evidence)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        outcomes = collector(self.config)
        overview = Overview(
            outcomes.run,
            self.snapshot.tables,
            self.snapshot.problem,
            self._links(outcomes.written),
            self._tickets(),
            self.settings.zone,
        )
        prefix.append(
            f"<style>{_asset('report.css')}</style>{render(overview)}"
            f"<script>{_asset('report.js')}</script>"
        )

    def _view(self, report: pytest.TestReport | pytest.CollectReport) -> CheckView:
        properties = dict(getattr(report, "user_properties", ()))
        stage = COLLECT if isinstance(report, pytest.CollectReport) else OTHER
        seconds = self.seconds.get(report.nodeid, 0.0)
        return CheckView.of(report, properties.get(STAGE_PROPERTY, stage), seconds)

    def _relative(self, path: Path) -> str:
        return Path(os.path.relpath(path.resolve(), self.page)).as_posix()

    def _links(self, written: list[Path]) -> dict[str, str]:
        """The run's other reports that exist, relative to report.html."""
        day = datetime.now(self.settings.zone).date()
        candidates = {
            "KPI page": self.snapshot.kpi_page,
            "health report": health_report_path(self.settings.reports_dir, day),
            "run summary": next((p for p in written if p.name.startswith("run_summary_")), None),
        }
        return {
            label: self._relative(path)
            for label, path in candidates.items()
            if path is not None and path.exists()
        }

    def _tickets(self) -> dict[str, str]:
        """The open ticket of each problem, relative to report.html (none with --no-tickets)."""
        if self.config.getoption("no_tickets"):
            return {}
        backlog = self.settings.backlog_dir
        return {
            t.fingerprint: self._relative(backlog / t.filename)
            for t in load_tickets(backlog)
            if t.status == "open" and (backlog / t.filename).exists()
        }


def _index(cells: list[str], marker: str) -> int:
    return next(i for i, cell in enumerate(cells) if marker in cell)


def pytest_configure(config: pytest.Config) -> None:
    # Only the controller writes reports: under pytest-xdist it reads the target at the end.
    if not hasattr(config, "workerinput"):
        snapshot = TargetSnapshot(config)
        config.pluginmanager.register(snapshot, "selfheal-target-snapshot")
        if config.pluginmanager.hasplugin("html") and getattr(config.option, "htmlpath", None):
            config.pluginmanager.register(HtmlReport(config, snapshot), "selfheal-html-report")
