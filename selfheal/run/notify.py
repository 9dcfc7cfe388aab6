"""One Slack message per run, posted to `SLACK_WEBHOOK_URL` with retries and a timeout.

A notification is a courtesy: whatever happens here (no webhook, a refusal, a timeout) comes
back as a `Delivery` to log and show in the summary, never as an exception that fails the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from tenacity import (
    RetryError,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from selfheal.core.settings import Settings

ATTEMPTS = 3
TIMEOUT_SECONDS = 5.0
TOP_FAILURES = 5


@dataclass(frozen=True)
class Delivery:
    sent: bool
    detail: str


@dataclass(frozen=True)
class StageCount:
    stage: str
    passed: int
    failed: int
    skipped: int


@dataclass(frozen=True)
class RunNews:
    """What the message says: counts per stage, ticket changes, the top failures."""

    title: str
    stages: list[StageCount]
    opened: list[str]
    resolved: list[str]
    failures: list[tuple[str, str]]  # (node id, one-line message)


def render_message(news: RunNews) -> dict[str, str]:
    lines = [f"*{news.title}*"]
    for s in news.stages:
        lines.append(f"- {s.stage}: {s.passed} passed, {s.failed} failed, {s.skipped} not run")
    lines.append(f"Tickets: {len(news.opened)} new, {len(news.resolved)} resolved")
    lines += [f"  new: {title}" for title in news.opened[:TOP_FAILURES]]
    lines += [f"  resolved: {title}" for title in news.resolved[:TOP_FAILURES]]
    if news.failures:
        lines.append("Top failures:")
    for node_id, message in news.failures[:TOP_FAILURES]:
        lines.append(f"- {message}\n  reproduce: `pytest '{node_id}'`")
    return {"text": "\n".join(lines)}


class _Retryable(Exception):
    """A transient answer (timeout, connection error, 429 or 5xx): worth another try."""


@retry(
    retry=retry_if_exception_type(_Retryable),
    stop=stop_after_attempt(ATTEMPTS),
    wait=wait_exponential(multiplier=0.2, max=2),
    reraise=False,
)
def _post(url: str, payload: dict[str, str], timeout: float) -> requests.Response:
    try:
        response = requests.post(url, json=payload, timeout=timeout)
    except (requests.Timeout, requests.ConnectionError) as error:
        raise _Retryable(type(error).__name__) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise _Retryable(f"HTTP {response.status_code}")
    return response


def send(settings: Settings, news: RunNews, timeout: float = TIMEOUT_SECONDS) -> Delivery:
    """Post the run's message; the returned detail never contains the webhook URL."""
    if settings.slack_webhook_url is None:
        return Delivery(False, "not sent: SLACK_WEBHOOK_URL is not set")
    try:
        response = _post(settings.slack_webhook_url.reveal(), render_message(news), timeout)
    except RetryError as error:
        reason = error.last_attempt.exception()
        return Delivery(False, f"failed after {ATTEMPTS} attempts: {reason}")
    except requests.RequestException as error:
        return Delivery(False, f"failed: {type(error).__name__}")
    if not response.ok:
        return Delivery(False, f"refused: HTTP {response.status_code}")
    return Delivery(True, "sent to Slack")
