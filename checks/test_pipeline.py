"""The pipeline's working stages as thin tests: migrations, ETL and the doctor.

The engines are plain modules; these tests only call them, so whatever goes wrong in them is an
ordinary test failure that the plugin turns into a ticket. The doctor stage treats the failures
gathered earlier in this same session (plan only; `pytest --heal` applies the plan).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from etl import fake, jobs
from etl.rerun import etl_runner
from selfheal.core.readonly import Reader
from selfheal.core.settings import KNOWN_SOURCES, Settings
from selfheal.doctor import Context, Doctor, render_plan
from selfheal.doctor.doctor import DOCTOR_ERROR
from selfheal.migrate.runner import migrate
from selfheal.pytest_plugin.outcomes import collector
from selfheal.run.evidence import attach, report_problems
from selfheal.run.findings import missing_table_cause
from selfheal.run.problem import (
    DOCTOR_HEAL_FAILED,
    ETL_ROWS_QUARANTINED,
    ETL_SOURCE_FAILED,
    MIGRATIONS_PENDING,
    Evidence,
    Heal,
    Problem,
    Severity,
)
from selfheal.run.reporting import HEALS
from selfheal.run.tickets import load_tickets

log = logging.getLogger(__name__)


@pytest.mark.migrations
def test_pending_migrations_are_applied(
    settings: Settings, target_dsn: str, request: pytest.FixtureRequest
) -> None:
    migrate(target_dsn, settings.migrations_dir, connect_timeout=settings.connect_timeout)
    again = migrate(
        target_dsn, settings.migrations_dir, dry_run=True, connect_timeout=settings.connect_timeout
    )
    report_problems(
        request,
        [
            Problem(
                MIGRATIONS_PENDING, m.filename, f"{m.filename} is still pending after migrating"
            )
            for m in again.applied
        ],
    )


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


def _fake_window_start(sources: Settings) -> date | None:
    """On the local fakes every run pulls their whole window, as the first run on an empty
    embedded default does: the persistent database then gives the same verdict run after run
    (an incremental re-read of a small window would count the same bad rows against few)."""
    if sources.live:
        return None
    return datetime.now(sources.zone).date() - timedelta(days=fake.DEFAULT_DAYS - 1)


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


# The sources load side by side; metrics reads what they loaded, so it is the stage's later
# step: under xdist it starts once every load has finished, on whichever worker.
ETL_STEPS = [
    job if job in KNOWN_SOURCES else pytest.param(job, marks=pytest.mark.etl(step=1))
    for job in jobs.JOBS
]


@pytest.mark.etl
@pytest.mark.parametrize("job", ETL_STEPS)
def test_etl_job(
    job: str,
    target_dsn: str,
    sources: Settings,
    db: psycopg.Connection,
    request: pytest.FixtureRequest,
) -> None:
    result = jobs.run(job, target_dsn, sources, since=_fake_window_start(sources))
    if not result.ok:
        # A table missing or renamed is the schema's problem: one ticket, one repair.
        cause = missing_table_cause(request.getfixturevalue("lock_diff"), error=result.summary())
        report_problems(request, [cause or Problem(ETL_SOURCE_FAILED, job, result.summary())])
    if result.quarantined:
        report_problems(request, [_quarantine_problem(job, result, db)])


def _quarantine_problem(job: str, result: jobs.JobResult, db: psycopg.Connection) -> Problem:
    """Some quarantined rows are a warning; above the share a load may lose, a failure."""
    __tracebackhide__ = True
    message = f"{job}: {result.quarantined} of {result.read} rows quarantined"
    over = result.quarantined / max(result.read, 1) > QUARANTINE_FAILS_ABOVE
    return Problem(
        ETL_ROWS_QUARANTINED,
        job,
        f"{message} (over {QUARANTINE_FAILS_ABOVE:.0%})" if over else message,
        Severity.ERROR if over else Severity.WARN,
        "fix the source's rows (reasons in public.etl_quarantine), then re-run the job",
        Evidence(offending=result.quarantined, samples=tuple(_quarantined_sample(db, job))),
    )


@pytest.mark.doctor
def test_doctor_treats_this_runs_failures(
    settings: Settings, target_dsn: str, sources: Settings, request: pytest.FixtureRequest
) -> None:
    config = request.config
    doctor = Doctor(
        Context(target_dsn, settings, etl=etl_runner(target_dsn, sources)),
        rootdir=Path(config.rootpath),
        tickets=load_tickets(settings.backlog_dir),
    )
    results = doctor.run(collector(config).session_failures(), heal=config.getoption("heal"))
    attach(request, HEALS, [result.to_dict() for result in results])
    log.info("the doctor's plan:\n%s", render_plan(results))
    # A heal that failed is told on its problem's ticket; only the doctor's own errors are its own
    # (and what its re-checks found anew, which then joins its check's ticket by identity).
    errors = [_heal_failed(r) for r in results if r.outcome == DOCTOR_ERROR]
    report_problems(request, errors + doctor.surfaced)


def _heal_failed(heal: Heal) -> Problem:
    about = f"{heal.code} {heal.object}".strip()
    return Problem(
        DOCTOR_HEAL_FAILED,
        about,
        f"{heal.remedy} did not heal {about} ({heal.node_id}): {heal.detail}",
        remediation="look at the ticket of the problem: the doctor tries twice, then stops",
    )
