"""The run's outcomes: the plugin's options, stage markers and stage order, and the collector.

The collector orders items by stage, stops later stages when preflight fails, gathers every
outcome with the problems its check reported (a failure that named none gets one:
`setup.<fixture>` when a fixture broke, else `check.failed`). At the end of the session the controller (the only process
under pytest-xdist that sees every worker's reports) turns problems into backlog tickets, writes
the run summary, the run log and `last_run.json`, and sends the Slack message.

During the session each failure of a stage is also appended to a file of the run, so the doctor
stage (a test, perhaps on another xdist worker) can read the failures gathered before it. Tests
that carry no stage marker are left alone: no file is written for them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from selfheal.core.dsn import redact_dsn
from selfheal.pytest_plugin import history
from selfheal.pytest_plugin.session import settings_of
from selfheal.run import notify
from selfheal.run.evidence import FailedFixtures
from selfheal.run.history.backlog import regenerate
from selfheal.run.pipeline import (
    COLLECT,
    NOT_RUN,
    OTHER,
    STAGE_MARKERS,
    STAGES,
    PreflightGate,
    StageBarrier,
    in_stage_order,
    stage_of,
)
from selfheal.run.problem import COLLECT_ERROR, Problem
from selfheal.run.reporting import CRASH, Outcome, redact, write_preflight_report
from selfheal.run.summary import Run, write_run_files
from selfheal.run.tickets import Backlog, RunChanges, observations

STAGE_PROPERTY = "selfheal.stage"
FAILED_FIXTURE = "selfheal.failed_fixture"  # the fixture whose exception failed a setup
RUN_ID = "selfheal_run_id"
PLUGIN_NAME = "selfheal-outcomes"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("selfheal")
    group.addoption(
        "--selfheal-no-tickets",
        "--no-tickets",
        dest="no_tickets",
        action="store_true",
        help="write no backlog tickets",
    )
    group.addoption(
        "--selfheal-heal",
        "--heal",
        dest="heal",
        action="store_true",
        help="the doctor stage applies its plan (default: plan only)",
    )
    history.add_options(group)


class OutcomeCollector:
    """Keeps one Outcome per test (its call phase, or the setup phase when that failed)."""

    def __init__(self, config: pytest.Config, run_id: str) -> None:
        self.config = config
        self.settings = settings_of(config)
        # The run's scratch, shared by its processes: under the temp folder, never the project,
        # so a project that uses none of selfheal's stages finds no file written.
        self.run_dir = Path(tempfile.gettempdir()) / f"selfheal-run-{run_id}"
        self.run_id = run_id
        self.gate = PreflightGate(self.run_dir / "preflight_failed")
        self.barrier = (
            StageBarrier(self.run_dir / "stages", config.workerinput["workerid"])
            if _is_worker(config)
            else None
        )
        self.outcomes: list[Outcome] = []
        self.seconds: dict[str, float] = {}  # per node: setup + call + teardown
        self.run: Run | None = None
        self.written: list[Path] = []
        self.history = ""  # what became of the run's history record
        self.started = datetime.now(self.settings.zone)
        self.failed_fixtures = FailedFixtures()

    @property
    def failures_file(self) -> Path:
        return self.run_dir / "failures.jsonl"

    def redact(self, text: str) -> str:
        return redact(text, self.settings)

    def session_failures(self) -> list[Outcome]:
        """Failures of this run so far, from every process of the run."""
        if not self.failures_file.exists():
            return []
        lines = self.failures_file.read_text(encoding="utf-8").splitlines()
        return [Outcome.from_dict(json.loads(line)) for line in lines if line]

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:  # xdist's WorkerController
        node.workerinput[RUN_ID] = self.run_id

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        items[:] = in_stage_order(items)
        for item in items:
            item.user_properties.append((STAGE_PROPERTY, stage_of(item)))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.barrier:
            self.barrier.plan(session.items)  # the final items: after -m / -k deselection

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self.barrier:
            self.barrier.wait_for_earlier_stages(item)
        self.gate.check(item)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        if self.barrier:
            self.barrier.finished(nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> Generator[None, Any, Any]:
        try:
            return (yield)
        except BaseException as error:
            self.failed_fixtures.record(error, fixturedef.argname)
            raise

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        with self._short_tracebacks(item):
            report = yield
        if report.failed and call.excinfo is not None:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else ""
            report.user_properties.append(
                (CRASH, {"message": self.redact(message), "error_type": call.excinfo.typename})
            )
            if call.when == "setup":
                fixture = self.failed_fixtures.name_of(call.excinfo.value)
                report.user_properties.append((FAILED_FIXTURE, fixture))
        self._redact_report(report)
        return report

    @contextmanager
    def _short_tracebacks(self, item: pytest.Item) -> Iterator[None]:
        """A check's unexpected exception is shown as `--tb=short` shows it (the check's lines,
        no argument values) unless the command line chose a style: pytest's default renders
        the repr of every argument of every frame, e.g. a whole catalog snapshot."""
        option = self.config.option
        short = getattr(option, "tbstyle", None) == "auto" and stage_of(item) != OTHER
        if short:
            option.tbstyle = "short"
        try:
            yield
        finally:
            if short:
                option.tbstyle = "auto"

    def _redact_report(self, report: pytest.TestReport) -> None:
        """Tracebacks show argument values (a DSN, a token): the terminal, the HTML report
        and every later reader get the redacted text."""
        if report.longrepr is not None and report.failed:
            text = report.longreprtext
            if self.redact(text) != text:
                report.longrepr = self.redact(text)
        report.sections = [(name, self.redact(content)) for name, content in report.sections]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration
        if not (report.when == "call" or (report.when == "setup" and not report.passed)):
            return
        properties = dict(report.user_properties)
        outcome = Outcome.from_report(
            report, properties.get(STAGE_PROPERTY, ""), properties.get(FAILED_FIXTURE)
        )
        self.outcomes.append(outcome)
        shared = outcome.stage in STAGES and not _is_controller(self.config)
        if outcome.outcome == "failed" and shared:
            self._share_failure(outcome)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A check file that cannot even be collected is a failure like any other."""
        if report.failed and not _is_worker(self.config):
            last_line = str(report.longreprtext).strip().splitlines()[-1]
            message = self.redact(last_line.removeprefix("E").strip())
            error_type = message.split(":", 1)[0] or "CollectError"
            problem = Problem(COLLECT_ERROR, report.nodeid, message)
            self.outcomes.append(
                Outcome(report.nodeid, COLLECT, "failed", message, 0.0, error_type, (problem,))
            )

    def _share_failure(self, outcome: Outcome) -> None:
        if outcome.stage == "preflight":
            self.gate.close()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        line = self.redact(json.dumps(outcome.to_dict())) + "\n"
        with open(self.failures_file, "a", encoding="utf-8") as handle:
            handle.write(line)  # one small append per failure: O_APPEND keeps lines whole

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not _is_worker(self.config):
            self.finish_run()
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def finish_run(self) -> None:
        """Tickets, Slack and the run files, for the pipeline's checks (not for other tests)."""
        outcomes = [
            replace(o, seconds=self.seconds.get(o.nodeid, o.seconds))
            for o in self.outcomes
            if o.stage in (COLLECT, *STAGES)
        ]
        if not outcomes:
            return
        settings = self.settings
        preflight = [o for o in outcomes if o.stage == "preflight"]
        if preflight:
            write_preflight_report(settings.reports_dir, preflight, settings)
        finished = datetime.now(settings.zone)
        session = history.Session(self.run_id, self.started, finished)
        recorded = history.record(self.config, settings, session, outcomes, self.redact)
        self.history = recorded.line
        changes = self._record_tickets(outcomes, recorded)
        run = Run(self.started, finished, outcomes, changes, history=recorded.view)
        run.delivery = notify.send(settings, run.news())
        target = redact_dsn(settings.db_url.reveal()) if settings.db_url else "embedded default"
        self.written = write_run_files(settings.reports_dir, run, target, self.redact)
        self.run = run

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.run is None:
            return
        write = terminalreporter.write_line
        terminalreporter.section("selfheal")
        if any(o.stage == "preflight" and o.outcome == "failed" for o in self.run.outcomes):
            write(f"preflight failed: the later stages were not run ({NOT_RUN.split('; ')[1]})")
        for heal in self.run.heals():
            write(self.redact(f"doctor: {heal.node_id}: {heal.remedy} -> {heal.outcome}"))
        changes = self.run.changes
        if changes is not None:
            opened, resolved = len(changes.opened) + len(changes.reopened), len(changes.resolved)
            write(f"tickets: {opened} opened, {len(changes.updated)} updated, {resolved} resolved")
        write(f"slack: {self.run.delivery.detail}")
        write(self.history)
        for path in self.written:
            write(f"wrote {path}")

    def _record_tickets(
        self, outcomes: list[Outcome], recorded: history.Recorded
    ) -> RunChanges | None:
        """From the history when the run was recorded; else run by run from the outcomes."""
        if self.config.getoption("no_tickets"):
            return None
        backlog = Backlog(self.settings.backlog_dir, self.redact)
        if recorded.states is not None:
            # Tickets written where no history was recorded follow the outcomes; then every
            # problem the history knows is rewritten from it.
            seen = [o for outcome in outcomes for o in observations(outcome)]
            earlier = backlog.record_run(
                seen, datetime.now(self.settings.zone), untargeted_only=True
            )
            changes = regenerate(backlog, recorded.states, recorded.target, self.settings.zone)
            known = {state.fingerprint for state in recorded.states}
            changes.resolved += [t for t in earlier.resolved if t.fingerprint not in known]
            return changes
        at = datetime.now(self.settings.zone)
        changes = backlog.record_run([o for outcome in outcomes for o in observations(outcome)], at)
        changes.resolved += backlog.record_heals([h for o in outcomes for h in o.heals], at)
        return changes


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_controller(config: pytest.Config) -> bool:
    """The xdist controller: it distributes items and runs none itself."""
    return config.pluginmanager.has_plugin("dsession")


def collector(config: pytest.Config) -> OutcomeCollector:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    assert isinstance(plugin, OutcomeCollector), "the selfheal plugin is not registered"
    return plugin


def pytest_configure(config: pytest.Config) -> None:
    for stage, meaning in STAGE_MARKERS.items():
        config.addinivalue_line("markers", f"{stage}: {meaning}")
    worker_input = getattr(config, "workerinput", {})
    run_id = worker_input.get(RUN_ID) or uuid.uuid4().hex
    config.pluginmanager.register(OutcomeCollector(config, run_id), PLUGIN_NAME)
