"""Data-quality gates (`pytest -m dq`): one test per (table, rule), one scan per table.

Rules are read from checks/dq/*.toml (or the folder in $SELFHEAL_DQ_DIR) and custom SQL checks
from checks/sql/*.sql (or $SELFHEAL_DQ_SQL_DIR). A bad rule file is one collection error naming
the file, the table and the key; a name the live database lacks fails that rule's test.
"""

from __future__ import annotations

from dataclasses import asdict

import psycopg
import pytest
import pytest_html

from selfheal.core.settings import Settings
from selfheal.dq.config import ConfigError, Suite, load_suite
from selfheal.dq.report import failure_text, html_report
from selfheal.dq.runner import Runner
from selfheal.evidence import QUERIES, attach, report_problems
from selfheal.run.findings import dq_problem, queries_of

pytestmark = pytest.mark.dq


SETTINGS = Settings.from_env(strict=False)
RULES_DIR = SETTINGS.dq_dir
SQL_DIR = SETTINGS.dq_sql_dir


def _load_suite() -> Suite:
    try:
        return load_suite(RULES_DIR, SQL_DIR)
    except ConfigError as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)


SUITE = _load_suite()


@pytest.fixture(scope="session")
def dq_runner(db: psycopg.Connection, settings: Settings, request: pytest.FixtureRequest) -> Runner:
    """Shared by every dq test: each table is scanned once, for the selected rules only."""
    selected = [
        item.callspec.params["check_id"]
        for item in request.session.items
        if getattr(item, "function", None) is test_dq
    ]
    return Runner(
        db,
        SUITE,
        zone=settings.tz,
        statement_timeout_ms=settings.statement_timeout_ms,
        selected=selected,
    )


CHECKED = {rule.id: rule for rule in SUITE.rules} | {check.id: check for check in SUITE.custom}


@pytest.mark.parametrize("check_id", SUITE.ids())
def test_dq(check_id: str, dq_runner: Runner, request: pytest.FixtureRequest, extras: list) -> None:
    result = dq_runner.result(check_id)
    attach(request, QUERIES, [asdict(query) for query in queries_of(result)])
    extras.append(pytest_html.extras.html(html_report(result)))
    if result.status in ("fail", "error", "warn"):
        problem = dq_problem(CHECKED[check_id], result, failure_text(result))
        report_problems(request, [problem])
