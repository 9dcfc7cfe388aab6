"""The pipeline's working stages as thin tests: migrations, ETL and the doctor.

The engines are plain modules; these tests only call them, so whatever goes wrong in them is an
ordinary test failure that the plugin turns into a ticket. The doctor stage treats the failures
gathered earlier in this same session (plan only; `pytest --heal` applies the plan).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from selfheal.doctor import Context, Doctor, render_plan
from selfheal.doctor.doctor import FAILED
from selfheal.evidence import DETAILS, attach
from selfheal.migrate.runner import migrate
from selfheal.plugin import collector
from selfheal.reporting import HEALS
from selfheal.settings import Settings
from selfheal.tickets import load_tickets


@pytest.mark.migrations
def test_pending_migrations_are_applied(
    settings: Settings, target_dsn: str, request: pytest.FixtureRequest
) -> None:
    result = migrate(target_dsn, settings.migrations_dir, connect_timeout=settings.connect_timeout)
    attach(request, DETAILS, {"applied": [m.filename for m in result.applied]})
    again = migrate(
        target_dsn, settings.migrations_dir, dry_run=True, connect_timeout=settings.connect_timeout
    )
    assert not again.applied, f"still pending after migrating: {again.applied}"


@pytest.mark.doctor
def test_doctor_treats_this_runs_failures(
    settings: Settings, target_dsn: str, request: pytest.FixtureRequest
) -> None:
    config = request.config
    doctor = Doctor(
        Context(target_dsn, settings),
        rootdir=Path(config.rootpath),
        tickets=load_tickets(settings.backlog_dir),
    )
    results = doctor.run(collector(config).session_failures(), heal=config.getoption("heal"))
    attach(request, HEALS, [result.to_dict() for result in results])
    print(render_plan(results))
    failed = [result for result in results if result.outcome == FAILED]
    assert not failed, render_plan(failed)
