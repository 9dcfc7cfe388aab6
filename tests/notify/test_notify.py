"""Slack notifications over real HTTP on loopback: content, retries, refusals, no webhook."""

from __future__ import annotations

import port_for
import pytest

from selfheal.core.settings import Secret, Settings
from selfheal.run.notify import RunNews, StageCount, send

NEWS = RunNews(
    title="selfheal run: 1 failed",
    stages=[StageCount("dq", 3, 1, 0), StageCount("doctor", 1, 0, 0)],
    opened=["[dq] test_rule[events.freshness.occurred_at] fails (AssertionError)"],
    resolved=["[rls] test_lint fails (AssertionError)"],
    failures=[("checks/test_dq.py::test_rule[events.freshness.occurred_at]", "stale by 3 days")],
)


def _settings(url: str) -> Settings:
    return Settings(slack_webhook_url=Secret(url))


def test_one_message_with_counts_tickets_and_reproduce_commands(slack_receiver) -> None:
    delivery = send(_settings(slack_receiver.url), NEWS)
    assert delivery.sent
    (body,) = slack_receiver.bodies
    text = body["text"]
    assert "- dq: 3 passed, 1 failed, 0 not run" in text
    assert "1 new, 1 resolved" in text
    assert "pytest 'checks/test_dq.py::test_rule[events.freshness.occurred_at]'" in text


@pytest.mark.parametrize("slack_receiver", [[503, 500, 200]], indirect=True)
def test_transient_errors_are_retried(slack_receiver) -> None:
    assert send(_settings(slack_receiver.url), NEWS).sent
    assert len(slack_receiver.bodies) == 3


@pytest.mark.parametrize("slack_receiver", [[404]], indirect=True)
def test_a_refusal_is_reported_not_raised_nor_retried(slack_receiver) -> None:
    delivery = send(_settings(slack_receiver.url), NEWS)
    assert (delivery.sent, delivery.detail) == (False, "refused: HTTP 404")
    assert len(slack_receiver.bodies) == 1
    assert slack_receiver.url not in delivery.detail


def test_an_unreachable_webhook_fails_quietly() -> None:
    url = f"http://127.0.0.1:{port_for.select_random()}/hooks/secret-path"
    delivery = send(_settings(url), NEWS, timeout=1)
    assert not delivery.sent and "after 3 attempts" in delivery.detail
    assert "secret-path" not in delivery.detail


def test_without_a_webhook_nothing_is_sent() -> None:
    delivery = send(Settings(), NEWS)
    assert (delivery.sent, delivery.detail) == (False, "not sent: SLACK_WEBHOOK_URL is not set")
