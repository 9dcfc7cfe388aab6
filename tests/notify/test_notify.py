"""Slack notifications over real HTTP on loopback: the Block Kit payload (checked against
Slack's own block models), retries, refusals, no webhook, never the webhook in what is shown."""

from __future__ import annotations

import port_for
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from selfheal.core.settings import Secret, Settings
from selfheal.run.notify import Failure, RunNews, StageCount, ci_run_url, render_message, send

NODE = "checks/test_dq.py::test_rule[events.freshness.occurred_at]"
NEWS = RunNews(
    title="selfheal run: 2 failed",
    stages=[StageCount("dq", 3, 1, 0), StageCount("doctor", 1, 0, 0)],
    opened=["[dq] test_rule[events.freshness.occurred_at] fails (AssertionError)"],
    resolved=["[rls] test_lint fails (AssertionError)"],
    failures=[
        Failure(NODE, "stale by 3 days", "new"),
        Failure("checks/test_schema.py::test_table[public.x]", "x < y & z", "still failing"),
    ],
)
GITHUB = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/data",
    "GITHUB_RUN_ID": "42",
}


def _valid_blocks(payload: dict) -> list[dict]:
    """Each block parsed by Slack's SDK, within Slack's limits, and nothing it does not know."""
    for block in payload["blocks"]:
        parsed = Block.parse(block)
        parsed.validate_json()
        assert parsed.to_dict() == block
    return payload["blocks"]


def test_the_payload_snapshot():
    assert render_message(NEWS, "https://github.com/acme/data/actions/runs/42") == {
        "text": "selfheal run: 2 failed\ndq: 3 passed, 1 failed, 0 not run\n"
        "doctor: 1 passed, 0 failed, 0 not run\nTickets: 1 new, 1 resolved\n"
        f"new: stale by 3 days (reproduce: pytest '{NODE}')\n"
        "still failing: x < y & z (reproduce: pytest 'checks/test_schema.py::test_table[public.x]')\n"
        "https://github.com/acme/data/actions/runs/42",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "selfheal run: 2 failed"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*dq*\n3 passed · 1 failed · 0 not run"},
                    {"type": "mrkdwn", "text": "*doctor*\n1 passed · 0 failed · 0 not run"},
                ],
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Tickets:* 1 new, 1 resolved\n"
                    "• new: [dq] test_rule[events.freshness.occurred_at] fails (AssertionError)\n"
                    "• resolved: [rls] test_lint fails (AssertionError)",
                },
            },
            {"type": "divider"},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*Top failures* (2: 1 new, 1 still failing)"},
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*new* · stale by 3 days\nreproduce: `pytest '{NODE}'`",
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*still failing* · x &lt; y &amp; z\nreproduce: "
                    "`pytest 'checks/test_schema.py::test_table[public.x]'`",
                },
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "<https://github.com/acme/data/actions/runs/42|Open the CI run>",
                    }
                ],
            },
        ],
    }


def test_the_run_link_comes_from_github_actions_variables():
    assert ci_run_url(GITHUB) == "https://github.com/acme/data/actions/runs/42"
    assert ci_run_url({**GITHUB, "GITHUB_RUN_ID": ""}) is None
    assert ci_run_url({}) is None


TEXT = st.text(min_size=1, max_size=4000)


@settings(max_examples=30, deadline=None)
@given(
    title=TEXT,
    stages=st.lists(st.builds(StageCount, TEXT, st.integers(0, 10**6), st.just(0), st.just(0))),
    failures=st.lists(st.builds(Failure, TEXT, TEXT, st.sampled_from(["new", ""])), max_size=8),
)
def test_any_run_gives_blocks_within_slacks_limits(title, stages, failures):
    news = RunNews(title, stages, ["t" * 5000], [], failures)
    blocks = _valid_blocks(render_message(news, "https://example.test/run/1"))
    assert len(blocks) <= 50


def _settings(url: str) -> Settings:
    return Settings(slack_webhook_url=Secret(url))


def test_one_message_with_counts_tickets_reproduce_commands_and_the_run(
    slack_receiver, monkeypatch
) -> None:
    for variable, value in GITHUB.items():
        monkeypatch.setenv(variable, value)
    delivery = send(_settings(slack_receiver.url), NEWS)
    assert delivery.sent
    (body,) = slack_receiver.bodies
    blocks = _valid_blocks(body)
    assert blocks == render_message(NEWS, ci_run_url(GITHUB))["blocks"]
    assert "dq: 3 passed, 1 failed, 0 not run" in body["text"]
    assert slack_receiver.url not in str(body)


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
