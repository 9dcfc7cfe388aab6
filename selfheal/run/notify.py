"""One Slack message per run, posted to `SLACK_WEBHOOK_URL` with retries and a timeout.

The message is Block Kit: a header, the counts per stage, the ticket changes, the top failures
(each marked new or still failing, with the command that reproduces it) and, on a CI runner, a
link to the run (`GITHUB_SERVER_URL`/`GITHUB_REPOSITORY`/`GITHUB_RUN_ID`); `text` carries the same
in plain words for notifications. A notification is a courtesy: whatever happens here (no
webhook, a refusal, a timeout) comes back as a `Delivery` to log and show in the summary, never
as an exception that fails the run, and never with the webhook URL in it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
# Block Kit's limits: a header's text, a section's text, a section's fields.
_HEADER_CHARS, _SECTION_CHARS, _FIELDS = 150, 3000, 10


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
class Failure:
    node_id: str
    message: str  # one line
    status: str = ""  # "new", "still failing", or "" when tickets are off


@dataclass(frozen=True)
class RunNews:
    """What the message says: counts per stage, ticket changes, the top failures."""

    title: str
    stages: list[StageCount]
    opened: list[str]
    resolved: list[str]
    failures: list[Failure]


def ci_run_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The CI run's page, from GitHub Actions' variables; None outside a CI run."""
    environ = os.environ if environ is None else environ
    parts = [environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not all(parts):
        return None
    server, repository, run_id = parts
    return f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _clip(text, _SECTION_CHARS)}


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, as Slack asks them escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_message(news: RunNews, run_url: str | None = None) -> dict[str, Any]:
    """The Block Kit payload (and its plain-text fallback)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(news.title, _HEADER_CHARS)}}
    ]
    fields = [
        _mrkdwn(
            f"*{_escape(s.stage)}*\n{s.passed} passed · {s.failed} failed · {s.skipped} not run"
        )
        for s in news.stages
    ]
    blocks += [
        {"type": "section", "fields": fields[i : i + _FIELDS]}
        for i in range(0, len(fields), _FIELDS)
    ]
    tickets = f"*Tickets:* {len(news.opened)} new, {len(news.resolved)} resolved"
    tickets += "".join(f"\n• new: {_escape(t)}" for t in news.opened[:TOP_FAILURES])
    tickets += "".join(f"\n• resolved: {_escape(t)}" for t in news.resolved[:TOP_FAILURES])
    blocks.append({"type": "section", "text": _mrkdwn(tickets)})
    if news.failures:
        new = sum(f.status == "new" for f in news.failures)
        still = sum(f.status == "still failing" for f in news.failures)
        blocks += [
            {"type": "divider"},
            {
                "type": "section",
                "text": _mrkdwn(
                    f"*Top failures* ({len(news.failures)}: {new} new, {still} still failing)"
                ),
            },
        ]
        blocks += [_failure_block(f) for f in news.failures[:TOP_FAILURES]]
    if run_url:
        blocks.append({"type": "context", "elements": [_mrkdwn(f"<{run_url}|Open the CI run>")]})
    return {"text": _fallback(news, run_url), "blocks": blocks}


def _failure_block(failure: Failure) -> dict[str, Any]:
    status = f"*{failure.status}* · " if failure.status else ""
    reproduce = f"pytest '{failure.node_id}'".replace("`", "'")
    text = f"{status}{_escape(failure.message)}\nreproduce: `{_escape(reproduce)}`"
    return {"type": "section", "text": _mrkdwn(text)}


def _fallback(news: RunNews, run_url: str | None) -> str:
    lines = [news.title]
    lines += [
        f"{s.stage}: {s.passed} passed, {s.failed} failed, {s.skipped} not run" for s in news.stages
    ]
    lines.append(f"Tickets: {len(news.opened)} new, {len(news.resolved)} resolved")
    lines += [
        f"{f.status or 'failing'}: {f.message.splitlines()[0] if f.message else ''} "
        f"(reproduce: pytest '{f.node_id}')"
        for f in news.failures[:TOP_FAILURES]
    ]
    if run_url:
        lines.append(run_url)
    return "\n".join(lines)


class _Retryable(Exception):
    """A transient answer (timeout, connection error, 429 or 5xx): worth another try."""


@retry(
    retry=retry_if_exception_type(_Retryable),
    stop=stop_after_attempt(ATTEMPTS),
    wait=wait_exponential(multiplier=0.2, max=2),
    reraise=False,
)
def _post(url: str, payload: dict[str, Any], timeout: float) -> requests.Response:
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
        payload = render_message(news, ci_run_url())
        response = _post(settings.slack_webhook_url.reveal(), payload, timeout)
    except RetryError as error:
        reason = error.last_attempt.exception()
        return Delivery(False, f"failed after {ATTEMPTS} attempts: {reason}")
    except requests.RequestException as error:
        return Delivery(False, f"failed: {type(error).__name__}")
    if not response.ok:
        return Delivery(False, f"refused: HTTP {response.status_code}")
    return Delivery(True, "sent to Slack")
