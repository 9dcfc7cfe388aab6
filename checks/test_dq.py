"""Data-quality gates (`pytest -m dq`): one test per (table, rule), one scan per table.

Rules are read from checks/dq/*.toml (or the folder in $SELFHEAL_DQ_DIR) and custom SQL checks
from checks/sql/*.sql (or $SELFHEAL_DQ_SQL_DIR). A bad rule file is one collection error naming
the file, the table and the key; a name the live database lacks fails that rule's test.
"""

from __future__ import annotations

import psycopg
import pytest
import pytest_html

from selfheal.core.settings import Settings
from selfheal.dq.config import ConfigError, Suite, load_suite
from selfheal.dq.report import failure_text, html_report
from selfheal.dq.runner import CheckResult, Runner
from selfheal.evidence import DETAILS, QUERIES, SAMPLE_ROWS, attach, warn

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


def _record(request: pytest.FixtureRequest, extras: list, result: CheckResult) -> None:
    """Evidence for the plugin and tickets, and the HTML report's table."""
    attach(request, QUERIES, [query.as_evidence() for query in result.queries])
    attach(
        request,
        DETAILS,
        {
            "check": result.id,
            "status": result.status,
            "message": result.message,
            "proven_by": result.proven_by,
        },
    )
    if result.sample:
        attach(request, SAMPLE_ROWS, result.sample)
    extras.append(pytest_html.extras.html(html_report(result)))


@pytest.mark.parametrize("check_id", SUITE.ids())
def test_dq(check_id: str, dq_runner: Runner, request: pytest.FixtureRequest, extras: list) -> None:
    result = dq_runner.result(check_id)
    _record(request, extras, result)
    if result.status in ("fail", "error"):
        pytest.fail(failure_text(result), pytrace=False)
    if result.status == "warn":
        warn(request, failure_text(result))
