"""The doctor's handle on the ETL: run one job, again with backoff while it fails.

The doctor does not import the ETL: whoever starts it (the CLI, the doctor stage) hands it the
runner made here: `run(job, since, until)`, the jobs in order, and the table each job loads
(from the contracts), so a stale table's job is found without a table of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from etl import jobs
from etl.contracts import LOADS
from etl.load import SCHEMA
from selfheal.core.settings import Settings

ATTEMPTS = 3

RunJob = Callable[[str, datetime | None, datetime | None], None]


@dataclass(frozen=True)
class EtlRunner:
    """What the doctor's ETL remedies need (selfheal.doctor.remedies.Etl): run a job, the jobs
    in the order they must run (metrics last: it reads the others), the table each loads."""

    run: RunJob
    jobs: tuple[str, ...]
    job_of_table: Mapping[tuple[str, str], str]


class JobFailed(RuntimeError):
    """The job's result was not ok; the message is its one-line summary."""

    def __init__(self, summary: str, retryable: bool):
        super().__init__(summary)
        self.retryable = retryable


def etl_runner(dsn: str, settings: Settings, backoff_seconds: float = 1.0) -> EtlRunner:
    """The ETL for the remedies: its jobs in order, the table each loads (from the contracts),
    and `run(job, since, until)`, retried with exponential backoff unless the failure is one a
    retry cannot fix (JobResult.retryable)."""

    def run_job(job: str, since: datetime | None, until: datetime | None) -> None:
        retrying = Retrying(
            retry=retry_if_exception(lambda error: getattr(error, "retryable", False)),
            stop=stop_after_attempt(ATTEMPTS),
            wait=wait_exponential(multiplier=backoff_seconds, max=10 * backoff_seconds),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                result = jobs.run(
                    job,
                    dsn,
                    settings,
                    since=since.date() if since else None,
                    until=until.date() if until else None,
                )
                if not result.ok:
                    raise JobFailed(result.summary(), result.retryable)

    job_of_table = {(SCHEMA, table): job for job, table in LOADS.items()}
    return EtlRunner(run_job, jobs.JOBS, job_of_table)
