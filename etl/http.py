"""The one HTTP client of every source: a requests Session with tenacity retries.

Every request has a timeout. Connection errors, timeouts, 429, 5xx and unparseable JSON bodies
are retried with exponential backoff and full jitter, honouring `Retry-After` (seconds or an HTTP
date); retries are bounded by a number of attempts and a total time. Any other 4xx fails at once.
Errors name the status and the endpoint (path only), never the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from selfheal.core.settings import Secret


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests use tiny backoffs so they stay fast."""

    timeout_seconds: float = 30.0
    attempts: int = 6
    total_seconds: float = 120.0
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0


class SourceError(RuntimeError):
    """A source could not be read; the message names the endpoint and the reason."""


class TransientError(Exception):
    """A failure worth retrying; `retry_after` is the server's requested pause, if any."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HttpClient:
    """GET JSON from one base URL with an auth header, under a retry policy."""

    def __init__(
        self,
        base_url: str,
        auth_header: tuple[str, Secret] | None,
        policy: RetryPolicy = RetryPolicy(),
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self._auth = auth_header
        self._session = session or requests.Session()
        self.requests_made = 0

    def close(self) -> None:
        self._session.close()

    def get_json(self, path: str, params: dict[str, Any]) -> Any:
        """The decoded JSON body of GET `path`; raises SourceError when retries are exhausted."""
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(self.policy.attempts)
            | stop_before_delay(self.policy.total_seconds),
            wait=self._wait,
            reraise=True,
        )
        try:
            return retrying(self._attempt, path, params)
        except TransientError as error:
            raise SourceError(f"GET {path} failed after retries: {error}") from None

    def _wait(self, state: RetryCallState) -> float:
        """The server's Retry-After when it sent one, else exponential backoff with full jitter."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientError) and error.retry_after is not None:
            return error.retry_after
        return wait_random_exponential(
            multiplier=self.policy.backoff_seconds, max=self.policy.max_backoff_seconds
        )(state)

    def _attempt(self, path: str, params: dict[str, Any]) -> Any:
        self.requests_made += 1
        headers = {"Accept": "application/json"}
        if self._auth is not None:
            headers[self._auth[0]] = self._auth[1].reveal()
        try:
            response = self._session.get(
                self.base_url + path,
                params=params,
                headers=headers,
                timeout=self.policy.timeout_seconds,
            )
        except requests.Timeout:
            raise TransientError(f"timed out after {self.policy.timeout_seconds}s") from None
        except requests.ConnectionError:
            raise TransientError(f"cannot connect to {urlsplit(self.base_url).netloc}") from None
        return _decode(path, response)


def _decode(path: str, response: requests.Response) -> Any:
    status = response.status_code
    if status == 429 or status >= 500:
        raise TransientError(
            f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After"))
        )
    if status >= 400:
        raise SourceError(f"GET {path} answered HTTP {status} {response.reason or ''}".rstrip())
    try:
        return response.json()
    except ValueError:
        raise TransientError("malformed JSON in the response body") from None
