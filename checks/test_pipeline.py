"""The pipeline's working stages as thin tests: migrations, ETL and the doctor.

The engines are plain modules; these tests only call them, so whatever goes wrong in them is an
ordinary test failure that the plugin turns into a ticket. The doctor stage treats the failures
gathered earlier in this same session (plan only; `pytest --heal` applies the plan).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from etl import fake, jobs
from etl.rerun import etl_runner
from selfheal.core.readonly import Reader
from selfheal.core.settings import Settings
from selfheal.doctor import Context, Doctor, render_plan
from selfheal.doctor.doctor import FAILED
from selfheal.evidence import DETAILS, SAMPLE_ROWS, attach, warn
from selfheal.migrate.runner import migrate
from selfheal.plugin import collector
from selfheal.reporting import HEALS
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


# Above this share of a run's rows quarantined, the load is a failure, not a warning.
QUARANTINE_FAILS_ABOVE = 0.05
FAKE_SEED = 7


@pytest.fixture(scope="session")
def sources(settings: Settings) -> Iterator[Settings]:
    """Settings naming the sources to pull: the configured ones (live), or the local fakes."""
    if settings.live:
        yield settings
        return
    with fake.serve_all(seed=FAKE_SEED, faults=fake.DEMO_FAULTS) as fakes:
        yield fakes.configure(settings)


def _quarantined_sample(db: psycopg.Connection, source: str) -> list[dict]:
    return Reader(db).rows(
        """
        SELECT q.source, q.reason, left(q.raw_payload, 200) AS raw_payload
        FROM public.etl_quarantine q
        WHERE q.run_id = (SELECT max(run_id) FROM public.etl_runs WHERE source = %s)
        ORDER BY q.quarantine_id LIMIT 5
        """,
        (source,),
        row_factory=dict_row,
    )


@pytest.mark.etl
@pytest.mark.parametrize("job", jobs.JOBS)
def test_etl_job(
    job: str,
    target_dsn: str,
    sources: Settings,
    db: psycopg.Connection,
    request: pytest.FixtureRequest,
) -> None:
    result = jobs.run(job, target_dsn, sources)
    share = result.quarantined / max(result.read, 1)
    problems = ([] if result.ok else ["job_failed"]) + (
        ["rows_quarantined"] if share > QUARANTINE_FAILS_ABOVE else []
    )
    attach(request, DETAILS, {"job": job, "result": result.summary(), "problems": problems})
    assert result.ok, result.summary()
    if result.quarantined:
        attach(request, SAMPLE_ROWS, _quarantined_sample(db, job))
        message = f"{job}: {result.quarantined} of {result.read} rows quarantined"
        assert share <= QUARANTINE_FAILS_ABOVE, f"{message} (over {QUARANTINE_FAILS_ABOVE:.0%})"
        warn(request, message)


@pytest.mark.doctor
def test_doctor_treats_this_runs_failures(
    settings: Settings, target_dsn: str, sources: Settings, request: pytest.FixtureRequest
) -> None:
    config = request.config
    doctor = Doctor(
        Context(target_dsn, settings, run_etl=etl_runner(target_dsn, sources)),
        rootdir=Path(config.rootpath),
        tickets=load_tickets(settings.backlog_dir),
    )
    results = doctor.run(collector(config).session_failures(), heal=config.getoption("heal"))
    attach(request, HEALS, [result.to_dict() for result in results])
    print(render_plan(results))
    failed = [result for result in results if result.outcome == FAILED]
    assert not failed, render_plan(failed)
