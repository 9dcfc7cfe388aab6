"""The one HTTP client of every source: a requests Session with tenacity retries and deadlines.

Every request has a wall-clock deadline covering connect, headers and body: a watchdog shuts the
request's socket down when it passes, so a server dribbling one byte a second is cut at the
deadline, not at a per-read timeout. A job's deadline caps every request and every retry wait.

Failures are classified. Retried, with exponential backoff and full jitter, honouring
`Retry-After` (seconds or an HTTP date), bounded by attempts, total time and the job deadline:
connection errors and resets, the request deadline, 429, 5xx, bodies cut short and unparseable
JSON. Not retried: any other status (4xx, 3xx without a usable Location), a redirect to another
origin (the token must not follow, and data must not come from elsewhere), a redirect loop, TLS
failures, bodies that do not decode as their Content-Encoding says, oversized bodies and JSON
objects that repeat a member. Every error is one line naming the endpoint (path only) and the
cause, never the token.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from etl import strict_json
from selfheal.core.settings import Secret

log = logging.getLogger(__name__)
CHUNK_BYTES = 64 * 1024
WATCH_INTERVAL = 0.05


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests use tiny backoffs so they stay fast.

    `timeout_seconds` is the wall-clock deadline of one request (connect + headers + body).
    """

    timeout_seconds: float = 30.0
    attempts: int = 6
    total_seconds: float = 120.0
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_redirects: int = 5
    max_body_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class Deadline:
    """A point in monotonic time, `seconds` after it was set."""

    seconds: float
    ends: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    @property
    def passed(self) -> bool:
        return self.remaining() <= 0

    def earliest(self, other: Deadline) -> Deadline:
        return self if self.ends <= other.ends else other


NO_DEADLINE = Deadline(float("inf"), float("inf"))


class SourceError(RuntimeError):
    """A source could not be read; the message names the endpoint and the cause."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class JobDeadlinePassed(SourceError):
    """The job ran out of time: no further request, page or retry is started."""


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


# ---- the request deadline: a watchdog that shuts the request's sockets down -------------------

_active = threading.local()


class _Watch:
    """While open, every connection the thread connects or sends a request on is watched; once
    `deadline` passes, their sockets are shut down (again every WATCH_INTERVAL, in case one
    connects late), which ends any blocked TLS handshake or read at once."""

    def __init__(self, deadline: Deadline):
        self.deadline = deadline
        self.connections: list[HTTPConnection] = []
        # A connection hands its socket to the response it reads and forgets it: kept here.
        self.sockets: list[socket.socket] = []
        self.fired = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="etl-request-deadline", daemon=True)

    def __enter__(self) -> _Watch:
        _active.watch = self
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        _active.watch = None
        self._closed.set()
        self._thread.join()

    def _run(self) -> None:
        if self._closed.wait(max(0.0, self.deadline.remaining())):
            return
        self.fired = True
        while True:
            for sock in [c.sock for c in self.connections] + self.sockets:
                _shut_down(sock)
            if self._closed.wait(WATCH_INTERVAL):
                return


def _shut_down(sock: socket.socket | None) -> None:
    if sock is None:
        return
    # The plain socket's shutdown, also for a TLS socket: it wakes a blocked read at once.
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watched:
    """Mixin of the connection classes: put the connection and its socket under the thread's
    open watch when it connects and whenever it sends a request."""

    sock: socket.socket | None

    def connect(self) -> None:
        watch = _open_watch()
        if watch is not None:
            watch.connections.append(self)
        super().connect()  # type: ignore[misc]
        if watch is not None and self.sock is not None:
            watch.sockets.append(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = _open_watch()
        if watch is not None:
            watch.connections.append(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


def _open_watch() -> _Watch | None:
    return getattr(_active, "watch", None)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_DEFAULT_POOLS = urllib3.poolmanager.pool_classes_by_scheme
_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections (direct or through an HTTP proxy) can be watched."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if manager.pool_classes_by_scheme == _DEFAULT_POOLS:  # not a SOCKS proxy
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


# ---- the client --------------------------------------------------------------------------------


class HttpClient:
    """GET JSON from one base URL with an auth header, under a retry policy and a job deadline."""

    def __init__(
        self,
        base_url: str,
        auth_header: tuple[str, Secret] | None,
        policy: RetryPolicy = RetryPolicy(),
        session: requests.Session | None = None,
        deadline: Deadline = NO_DEADLINE,
    ):
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.deadline = deadline
        self._auth = auth_header
        self._session = session or requests.Session()
        for prefix in ("http://", "https://"):
            self._session.mount(prefix, _WatchedAdapter())
        self.requests_made = 0
        self._last_failure: str | None = None

    def close(self) -> None:
        self._session.close()

    def get_json(self, path: str, params: dict[str, Any]) -> Any:
        """The decoded JSON body of GET `path`; raises SourceError (one line) when it fails."""
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(self.policy.attempts)
            | stop_before_delay(self.policy.total_seconds)
            | self._past_job_deadline,
            wait=self._wait,
            reraise=True,
        )
        started, made = time.monotonic(), self.requests_made
        try:
            return retrying(self._attempt, path, params)
        except TransientError as error:
            attempts, seconds = self.requests_made - made, time.monotonic() - started
            raise self._error(
                f"GET {path} failed after retries: {error} ({attempts} attempts in {seconds:.1f} s)",
                retryable=True,
            ) from None

    def _error(self, message: str, retryable: bool = False, kind: type = SourceError) -> Exception:
        """The error, with any trace of the token (a server may echo it) blanked out."""
        if self._auth is not None:
            secret = self._auth[1].reveal()
            for part in sorted({secret, *secret.split()} - {"", "Bearer"}, key=len, reverse=True):
                message = message.replace(part, "***")
        return kind(message, retryable)

    def _past_job_deadline(self, state: RetryCallState) -> bool:
        return self.deadline.remaining() <= (state.upcoming_sleep or 0.0)

    def _wait(self, state: RetryCallState) -> float:
        """The server's Retry-After when it sent one, else exponential backoff with full jitter."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientError) and error.retry_after is not None:
            return error.retry_after
        return wait_random_exponential(
            multiplier=self.policy.backoff_seconds, max=self.policy.max_backoff_seconds
        )(state)

    def _job_deadline_passed(self, path: str, last: str | None) -> Exception:
        return self._error(
            f"GET {path}: the job deadline of {self.deadline.seconds:g} s passed after"
            f" {self.requests_made} requests"
            + (f" (the last: {last})" if last else "")
            + "; stopped",
            kind=JobDeadlinePassed,
        )

    def _attempt(self, path: str, params: dict[str, Any]) -> Any:
        if self.deadline.passed:
            raise self._job_deadline_passed(path, self._last_failure)
        self.requests_made += 1
        limit = Deadline.after(self.policy.timeout_seconds).earliest(self.deadline)
        failure: Exception | None = None
        with _Watch(limit) as watch:
            try:
                body = self._fetch(path, params, limit)
            except Exception as error:  # classified below, once the watch is closed
                failure = error
        if watch.fired and self.deadline.passed:
            raise self._job_deadline_passed(path, "cut off at the job deadline")
        if watch.fired:
            failure = TransientError(
                f"no complete answer within the {self.policy.timeout_seconds:g} s request deadline"
            )
        if failure is None:
            return body
        failure = self._classified(path, failure)
        if isinstance(failure, TransientError):
            self._last_failure = str(failure)
        raise failure

    def _fetch(self, path: str, params: dict[str, Any] | None, limit: Deadline) -> Any:
        """GET, following redirects only within the base URL's origin."""
        url, visited = self.base_url + path, []
        for _ in range(self.policy.max_redirects + 1):
            visited.append(url)
            seconds = max(limit.remaining(), 0.001)
            response = self._session.get(
                url,
                params=params,
                headers=self._headers(),
                timeout=(seconds, seconds),
                stream=True,
                allow_redirects=False,
            )
            with response:
                if not response.is_redirect:
                    return self._decode(path, response)
                url, params = self._redirect(path, response, visited), None
        raise self._error(f"GET {path}: more than {self.policy.max_redirects} redirects")

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
        if self._auth is not None:
            headers[self._auth[0]] = self._auth[1].reveal()
        return headers

    def _redirect(self, path: str, response: requests.Response, visited: list[str]) -> str:
        try:
            target = urljoin(response.url, response.headers["Location"])
            urlsplit(target).port  # noqa: B018 - validates the port
        except ValueError:
            raise self._error(f"GET {path}: redirected to an invalid Location") from None
        if _origin(target) != _origin(self.base_url):
            raise self._error(
                f"GET {path}: redirected to another origin ({_origin(target)}); refused, so the"
                " token is not sent there and no data is taken from it"
            )
        if target in visited:
            raise self._error(f"GET {path}: redirect loop ({urlsplit(target).path} again)")
        return target

    def _decode(self, path: str, response: requests.Response) -> Any:
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(
                f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After"))
            )
        if status >= 300:
            reason = "".join(c for c in (response.reason or "")[:60] if c.isprintable())
            raise self._error(f"GET {path} answered HTTP {status} {reason}".rstrip())
        try:
            body = strict_json.loads(self._read(path, response))
        except RecursionError:
            raise self._error(f"GET {path}: the JSON body nests too deeply to decode") from None
        except ValueError:
            raise TransientError("malformed JSON in the response body") from None
        if isinstance(body, strict_json.RepeatedMembers):
            names = ", ".join(repr(name) for name in body.repeated)
            raise self._error(
                f"GET {path}: the response repeats member {names}; rejected, as which one is"
                " meant is ambiguous"
            )
        return body

    def _read(self, path: str, response: requests.Response) -> bytes:
        """The decoded body, refusing one larger than the policy's maximum."""
        limit = self.policy.max_body_bytes
        too_large = self._error(f"GET {path}: the response is larger than {limit} bytes")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        for chunk in response.iter_content(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _classified(self, path: str, error: Exception) -> Exception:
        """Any failure of one attempt as a TransientError (retried) or a one-line SourceError."""
        if isinstance(error, TransientError | SourceError):
            return error
        if not isinstance(
            error, requests.RequestException | urllib3.exceptions.HTTPError | OSError
        ):
            log.info("GET %s: unexpected failure", path, exc_info=error)
            return self._error(f"GET {path}: unexpected {type(error).__name__} (not retried)")
        host = urlsplit(self.base_url).netloc.rpartition("@")[2]
        cause = _cause(error, host)
        if cause.retryable:
            return TransientError(cause.text)
        return self._error(f"GET {path}: {cause.text} (not retried)")


@dataclass(frozen=True)
class _Cause:
    text: str
    retryable: bool


def _cause(error: BaseException, host: str) -> _Cause:
    """What went wrong, in words, and whether trying again may help."""
    if isinstance(error, requests.exceptions.SSLError):
        return _Cause(f"TLS with {host} failed (certificate, name or protocol)", False)
    if isinstance(error, requests.exceptions.ContentDecodingError):
        return _Cause("the body does not decode as its Content-Encoding says", False)
    if isinstance(error, requests.exceptions.TooManyRedirects):
        return _Cause("too many redirects", False)
    if isinstance(error, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return _Cause("the URL is not valid", False)
    if isinstance(error, requests.exceptions.InvalidHeader):
        return _Cause("a request header is not valid", False)
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return _Cause("the body was cut off before its end", True)
    if isinstance(error, requests.Timeout):
        return _Cause(f"{host} did not answer in time", True)
    if _refused(error):
        return _Cause(f"cannot connect to {host}", True)
    return _Cause("the connection broke before a complete answer", True)


def _refused(error: BaseException) -> bool:
    """Whether the failure was to open the connection (as opposed to losing it afterwards)."""
    pending: list[BaseException | None] = [error]
    seen = set()
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return True
        pending += [item.__cause__, item.__context__, getattr(item, "reason", None)]
        pending += [arg for arg in item.args if isinstance(arg, BaseException)]
    return False


def _origin(url: str) -> str:
    """scheme://host:port of a URL (never its user info, path or query)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"
