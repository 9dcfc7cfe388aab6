"""Data-quality gates (`pytest -m dq`): one test per (table, rule), one scan per table.

Rules are read from checks/dq/*.toml (or the folder in $SELFHEAL_DQ_DIR) and custom SQL checks
from checks/sql/*.sql (or $SELFHEAL_DQ_SQL_DIR). A bad rule file, or SQL in it that could write,
call a volatile function or read outside the checked schemas, is one failing test (named after
the file) naming the file, the table and the key, while every other file's rules run; a name the
live database lacks fails that rule's test. Rule SQL runs
as selfheal_reader where the target has it (see test_preflight.py::test_read_only_boundary).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

import psycopg
import pytest

from selfheal.core.identifiers import qualified
from selfheal.core.readonly import boundary
from selfheal.core.settings import Settings
from selfheal.dq.config import ConfigError, Suite, load_suite
from selfheal.dq.report import failure_text
from selfheal.dq.rules import CustomCheck, Rule
from selfheal.dq.runner import CheckResult, Runner
from selfheal.dq.vetting import checked_schemas
from selfheal.dq.watermarks import store_watermarks
from selfheal.pytest_plugin.session import settings_of
from selfheal.run.evidence import QUERIES, TABLE, attach, report_problems
from selfheal.run.findings import dq_problem, missing_table_cause, queries_of, rule_file_problem
from selfheal.run.problem import Problem

pytestmark = pytest.mark.dq


_SUITE = pytest.StashKey[Suite]()


def suite_of(config: pytest.Config) -> Suite:
    """The rules of this session's folders, loaded once; a bad file fails collection."""
    if _SUITE not in config.stash:
        config.stash[_SUITE] = _load_suite(settings_of(config))
    return config.stash[_SUITE]


def _load_suite(settings: Settings) -> Suite:
    try:
        return load_suite(settings.dq_dir, settings.dq_sql_dir, strict=False)
    except ConfigError as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)  # outside the handler: no "during handling" chain


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.originalname == "test_dq":
        suite = suite_of(metafunc.config)
        metafunc.parametrize("check_id", suite.ids() + [path.name for path in suite.broken])


@pytest.fixture(scope="session")
def dq_runner(
    db: psycopg.Connection, target_dsn: str, settings: Settings, request: pytest.FixtureRequest
) -> Iterator[Runner]:
    """Shared by every dq test: each table is scanned once, for the selected rules only. At the
    end, the watermarks of incremental tables are stored on a write connection of its own."""
    suite = suite_of(request.config)
    selected = [
        item.callspec.params["check_id"]
        for item in request.session.items
        if getattr(item, "function", None) is test_dq
        and item.callspec.params["check_id"] in suite.ids()
    ]
    runner = Runner(
        db,
        suite,
        zone=settings.tz,
        statement_timeout_ms=settings.statement_timeout_ms,
        selected=selected,
        role=boundary(db, checked_schemas(suite.rules, suite.custom)).role,
    )
    yield runner
    store_watermarks(target_dsn, runner.verified(), settings.connect_timeout, settings.pooler)


def test_dq(check_id: str, request: pytest.FixtureRequest) -> None:
    suite = suite_of(request.config)
    broken = {path.name: (path, problems) for path, problems in suite.broken.items()}
    if check_id in broken:  # this file's rules do not run; every other file's do
        report_problems(request, [rule_file_problem(*broken[check_id])])
        return
    dq_runner: Runner = request.getfixturevalue("dq_runner")
    result = dq_runner.result(check_id)
    checked = next(c for c in (*suite.rules, *suite.custom) if c.id == check_id)
    attach(request, TABLE, qualified(checked.table.schema, checked.table.name))
    attach(request, QUERIES, [asdict(query) for query in queries_of(result)])
    if result.status in ("fail", "error", "warn"):
        cause = result.status == "error" and _missing_table(request, checked, result)
        report_problems(request, [cause or dq_problem(checked, result, failure_text(result))])


def _missing_table(
    request: pytest.FixtureRequest, checked: Rule | CustomCheck, result: CheckResult
) -> Problem | None:
    """A rule that cannot run because a table it reads is missing or renamed reports that
    table's problem (the schema's: one ticket, one repair)."""
    tables = [(checked.table.schema, checked.table.name)]
    if isinstance(checked, Rule):
        tables += [(schema, name) for schema, name, _ in checked.foreign_columns()]
    errors = " ".join([result.message, *(q.error or "" for q in result.queries)])
    return missing_table_cause(request.getfixturevalue("lock_diff"), tables, errors)
