"""The doctor's handle on the ETL: run one job, again with backoff while it fails.

The doctor does not import the ETL: whoever starts it (the CLI, the doctor stage) hands it the
runner made here, a plain `(job, since, until) -> None` callable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from etl import jobs
from selfheal.core.settings import Settings

ATTEMPTS = 3

EtlRunner = Callable[[str, datetime | None, datetime | None], None]


class JobFailed(RuntimeError):
    """The job's result was not ok; the message is its one-line summary."""

    def __init__(self, summary: str, retryable: bool):
        super().__init__(summary)
        self.retryable = retryable


def etl_runner(dsn: str, settings: Settings, backoff_seconds: float = 1.0) -> EtlRunner:
    """A runner for the remedies: `(job, since, until)`, retried with exponential backoff
    unless the failure is one a retry cannot fix (JobResult.retryable)."""

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

    return run_job
