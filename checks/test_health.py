"""The six-part system health audit (`pytest -m health`, weekly).

One test per check, named `part:check` (`pytest -m health -k fk_without_index`). A check's
error-level findings fail it; warn-level ones pass and are shown; every finding carries its
remediation into the report, the health report (reports/system_health_YYYY-MM-DD.md) and tickets.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from selfheal.core.settings import Settings
from selfheal.health.audit import CHECKS, configured
from selfheal.health.model import AuditContext, Check
from selfheal.health.report import record_of
from selfheal.run.evidence import HEALTH, attach, report_problems
from selfheal.run.findings import health_problems
from selfheal.run.tickets import load_tickets

CONFIG_PATH = Path(__file__).with_name("health.toml")
DQ_DIR_VARIABLE = "SELFHEAL_DQ_DIR"


@pytest.fixture(scope="session")
def audit_context(db: psycopg.Connection, settings: Settings) -> AuditContext:
    """One context for the whole audit: what several checks need is read once."""
    config = configured(CONFIG_PATH)
    if settings.is_set(DQ_DIR_VARIABLE):  # the folder the dq checks read, when moved
        config = replace(config, dq_rules_dir=settings.dq_dir)
    return AuditContext(db, config, settings.backlog_dir, load_tickets, zone=settings.zone)


@pytest.mark.health
@pytest.mark.parametrize("check", CHECKS, ids=[check.id for check in CHECKS])
def test_health(check: Check, audit_context: AuditContext, request: pytest.FixtureRequest) -> None:
    result = check(audit_context)
    attach(request, HEALTH, record_of(check, result))
    report_problems(request, health_problems(check, result))
