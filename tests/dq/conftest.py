"""Helpers of the data-quality tests: rule files in a temporary folder, a read-only run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from selfheal.core.db import connect
from selfheal.dq.config import load_suite
from selfheal.dq.runner import CheckResult, Runner

SCRATCH_TABLES = """
CREATE TABLE parent (id integer);
CREATE TABLE t (
    id    integer PRIMARY KEY,
    k     text,
    n     integer,
    ts    timestamptz,
    d     date,
    name  text,
    ref   integer
);
"""

RunChecks = Callable[..., dict[str, CheckResult]]


@pytest.fixture
def scratch_db(empty_db: str) -> str:
    """A database with a nullable, unconstrained table `t` (so rules must scan) and `parent`."""
    with connect(empty_db, autocommit=True) as conn:
        conn.execute(SCRATCH_TABLES)
    return empty_db


def execute(dsn: str, statement: str, params: object = None) -> None:
    """Write test data (as the superuser: the checks themselves only ever read)."""
    with connect(dsn, autocommit=True) as conn:
        conn.execute(statement, params)


@pytest.fixture
def run_checks(tmp_path: Path) -> RunChecks:
    """Write `rules` (TOML) and custom `sql` files, run every check read-only, return results."""

    def run(
        dsn: str,
        rules: str = "",
        *,
        sql: dict[str, str] | None = None,
        tz: str = "UTC",
        timeout_ms: int = 10_000,
    ) -> dict[str, CheckResult]:
        rules_dir, sql_dir = tmp_path / "dq", tmp_path / "sql"
        rules_dir.mkdir(exist_ok=True)
        sql_dir.mkdir(exist_ok=True)
        if rules:
            (rules_dir / "t.toml").write_text(rules)
        for name, text in (sql or {}).items():
            (sql_dir / name).write_text(text)
        suite = load_suite(rules_dir, sql_dir)
        with connect(dsn, read_only=True, autocommit=True) as conn:
            runner = Runner(conn, suite, zone=tz, statement_timeout_ms=timeout_ms)
            return {check_id: runner.result(check_id) for check_id in suite.ids()}

    return run
