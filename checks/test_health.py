"""The six-part system health audit (`pytest -m health`, weekly).

One test per check, named `part:check` (`pytest -m health -k fk_without_index`). A check's
error-level findings fail it; warn-level ones pass and are shown; every finding carries its
remediation into the report, the health report (reports/system_health_YYYY-MM-DD.md) and tickets.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import psycopg
import pytest

from selfheal.evidence import DETAILS, SAMPLE_ROWS, attach, warn
from selfheal.health.audit import CHECKS
from selfheal.health.config import HealthConfig, load_config
from selfheal.health.model import AuditContext, Check
from selfheal.health.report import details_of
from selfheal.settings import Settings

CONFIG_PATH = Path(__file__).with_name("health.toml")


@pytest.fixture(scope="session")
def health_config() -> HealthConfig:
    return load_config(CONFIG_PATH)


@pytest.mark.health
@pytest.mark.parametrize("check", CHECKS, ids=[check.id for check in CHECKS])
def test_health(
    check: Check,
    db: psycopg.Connection,
    settings: Settings,
    health_config: HealthConfig,
    request: pytest.FixtureRequest,
) -> None:
    result = check(AuditContext(db, health_config, settings.backlog_dir))
    errors = result.at_level("error")
    attach(request, DETAILS, details_of(check, result))
    if errors:
        attach(request, SAMPLE_ROWS, [asdict(f) for f in errors])
    for finding in result.at_level("warn"):
        warn(request, str(finding))
    assert not errors, f"{check.id}: {len(errors)} finding(s)\n" + "\n".join(map(str, errors))
