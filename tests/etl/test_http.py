"""The HTTP client against the fake servers over loopback: every fault, bounded retries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from etl_support import FAST, NOW

from etl.contracts import AUTH_HEADER, SOURCE_A_PATH
from etl.fake import Faults, serve_all
from etl.fake.server import FakeServer
from etl.http import HttpClient, RetryPolicy, SourceError, parse_retry_after
from selfheal.core.settings import Secret

PARAMS = {"start_date": "2000-01-01", "end_date": "2100-01-01", "limit": 5}


@contextmanager
def source_a(faults: Faults) -> Iterator[FakeServer]:
    with serve_all(seed=3, faults=faults, now=NOW) as fakes:
        yield fakes.source_a


def client(server: FakeServer, token: str | None = None, policy: RetryPolicy = FAST) -> HttpClient:
    bearer = Secret(f"Bearer {token or server.token}")
    return HttpClient(server.base_url, (AUTH_HEADER, bearer), policy)


def test_healthy_source_answers_in_one_request():
    with source_a(Faults()) as server:
        http = client(server)
        assert len(http.get_json(SOURCE_A_PATH, PARAMS)["data"]) == 5
        assert http.requests_made == 1


@pytest.mark.parametrize(
    "faults",
    [
        Faults(rate_limits=2, retry_after="0", first_faulty_request=0),
        Faults(rate_limits=1, retry_after="Wed, 21 Oct 2015 07:28:00 GMT", first_faulty_request=0),
        Faults(server_errors=3, first_faulty_request=0),
        Faults(slow_responses=1, slow_seconds=1.5, first_faulty_request=0),
        Faults(malformed_json=2, first_faulty_request=0),
    ],
    ids=["429", "429-http-date", "500", "timeout", "malformed-json"],
)
def test_transient_faults_are_retried_until_an_answer(faults: Faults):
    with source_a(faults) as server:
        http = client(server)
        body = http.get_json(SOURCE_A_PATH, PARAMS)
        expected_failures = faults.rate_limits + faults.server_errors + faults.slow_responses
        expected_failures += faults.malformed_json
        assert http.requests_made == expected_failures + 1
        assert len(body["data"]) == 5


def test_retry_after_is_honoured():
    with source_a(Faults(rate_limits=1, retry_after="1", first_faulty_request=0)) as server:
        http = client(server)
        waits: list[float] = []
        http._session.hooks["response"].append(lambda r, *a, **k: waits.append(_now()))
        http.get_json(SOURCE_A_PATH, PARAMS)
        assert waits[1] - waits[0] >= 0.9


def _now() -> float:
    return datetime.now(UTC).timestamp()


def test_retry_after_accepts_seconds_and_http_dates():
    now = datetime(2025, 3, 9, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_persistent_server_errors_fail_after_the_attempts_with_the_endpoint():
    with source_a(Faults(server_errors=50, first_faulty_request=0)) as server:
        http = client(server)
        with pytest.raises(SourceError, match="GET /v1/ad-stats failed after retries: HTTP 500"):
            http.get_json(SOURCE_A_PATH, PARAMS)
        assert http.requests_made == FAST.attempts


def test_retries_are_bounded_by_total_time():
    policy = RetryPolicy(
        timeout_seconds=0.5,
        attempts=100,
        total_seconds=0.3,
        backoff_seconds=0.01,
        max_backoff_seconds=0.05,
    )
    with source_a(Faults(rate_limits=50, retry_after="1", first_faulty_request=0)) as server:
        http = client(server, policy=policy)
        with pytest.raises(SourceError, match="HTTP 429"):
            http.get_json(SOURCE_A_PATH, PARAMS)
        assert http.requests_made == 1


def test_client_errors_fail_at_once_without_the_token():
    with source_a(Faults()) as server:
        http = client(server, token="wrong-secret-token")
        with pytest.raises(SourceError) as failure:
            http.get_json(SOURCE_A_PATH, PARAMS)
        assert http.requests_made == 1
        message = str(failure.value)
        assert "401" in message and SOURCE_A_PATH in message
        assert "wrong-secret-token" not in message and server.token not in message


def test_bad_parameters_are_a_client_error():
    with source_a(Faults()) as server:
        http = client(server)
        with pytest.raises(SourceError, match="HTTP 400"):
            http.get_json(SOURCE_A_PATH, {"start_date": "yesterday"})
        assert http.requests_made == 1


def test_unreachable_source_fails_after_bounded_attempts():
    with source_a(Faults()) as server:
        url = server.base_url
    http = HttpClient(url, None, FAST)
    with pytest.raises(SourceError, match="cannot connect to 127.0.0.1"):
        http.get_json(SOURCE_A_PATH, PARAMS)
    assert http.requests_made == FAST.attempts


def test_fake_data_is_deterministic_from_the_seed():
    def first_page(seed: int) -> object:
        with serve_all(seed=seed, now=NOW) as fakes:
            return client(fakes.source_a).get_json(SOURCE_A_PATH, PARAMS)

    assert first_page(5) == first_page(5)
    assert first_page(5) != first_page(6)
