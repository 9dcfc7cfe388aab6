"""Local fake servers of the three contracts: plain HTTP on loopback, one thread each.

Faults are injected on request numbers counted per server, so a run is reproducible: from
request `first_faulty_request` on, the server answers `rate_limits` times 429 (with
`Retry-After`), then `server_errors` times 500, then delays `slow_responses` answers by
`slow_seconds`, then sends `malformed_json` truncated bodies; after that it behaves.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from etl.contracts import AUTH_HEADER, EVENTS_PATH, SOURCE_A_PATH, SOURCE_B_PATH
from etl.fake.data import Dataset, FakeRow


@dataclass(frozen=True)
class Faults:
    rate_limits: int = 0
    retry_after: str = "0"
    server_errors: int = 0
    slow_responses: int = 0
    slow_seconds: float = 0.0
    malformed_json: int = 0
    bad_rows: bool = False
    duplicate_rows: bool = False
    first_faulty_request: int = 1


class BadRequest(ValueError):
    """The client sent parameters the contract does not accept (answered 400)."""


class Contract:
    """One source's endpoint: turns query parameters into a page of its dataset."""

    path = ""

    def __init__(self, dataset: Dataset, duplicate_rows: bool):
        self.dataset = dataset
        self.duplicate_rows = duplicate_rows
        self.late_released = False

    def rows(self) -> list[FakeRow]:
        return self.dataset.rows(self.late_released)

    def page(
        self, rows: list[FakeRow], start: int, limit: int, following: bool
    ) -> list[dict[str, Any]]:
        """`limit` rows from `start`; with duplicates, a following page repeats the row before."""
        first = start - 1 if self.duplicate_rows and following and start > 0 else start
        return [row.payload for row in rows[first : start + limit]]

    def respond(self, params: dict[str, str]) -> dict[str, Any]:
        raise NotImplementedError


class SourceAContract(Contract):
    path = SOURCE_A_PATH

    def respond(self, params: dict[str, str]) -> dict[str, Any]:
        first, last = _date(params, "start_date"), _date(params, "end_date")
        limit, offset = _int(params, "limit", 100), _int(params, "cursor", 0)
        rows = [row for row in self.rows() if first <= row.at.date() <= last]
        following = offset + limit
        return {
            "data": self.page(rows, offset, limit, "cursor" in params),
            "next_cursor": str(following) if following < len(rows) else None,
        }


class SourceBContract(Contract):
    path = SOURCE_B_PATH

    def respond(self, params: dict[str, str]) -> dict[str, Any]:
        start, end = _instant(params, "start"), _instant(params, "end")
        per_page, page = _int(params, "per_page", 100), _int(params, "page", 1)
        rows = [row for row in self.rows() if start <= row.at < end]
        total = max(1, -(-len(rows) // per_page))
        return {
            "results": self.page(rows, (page - 1) * per_page, per_page, page > 1),
            "page": page,
            "total_pages": total,
        }


class EventsContract(Contract):
    path = EVENTS_PATH

    def respond(self, params: dict[str, str]) -> dict[str, Any]:
        after, until = _instant(params, "after"), _instant(params, "until")
        limit = _int(params, "limit", 100)
        rows = [row for row in self.rows() if row.at < until]
        start = bisect.bisect_right(
            [row.order for row in rows], (after, params.get("after_id", ""))
        )
        return {
            "events": self.page(rows, start, limit, "after_id" in params),
            "has_more": start + limit < len(rows),
        }


def _date(params: dict[str, str], name: str) -> date:
    try:
        return date.fromisoformat(params[name])
    except (KeyError, ValueError):
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD)") from None


def _instant(params: dict[str, str], name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(params[name])
    except (KeyError, ValueError):
        raise BadRequest(f"{name} must be an ISO 8601 instant") from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name} must carry a UTC offset")
    return moment


def _int(params: dict[str, str], name: str, default: int) -> int:
    try:
        value = int(params.get(name, default))
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if value < (0 if name == "cursor" else 1):
        raise BadRequest(f"{name} is out of range")
    return value


class FakeServer(ThreadingHTTPServer):
    """Serves one contract on 127.0.0.1 (a free port) with its faults."""

    daemon_threads = True

    def __init__(self, contract: Contract, token: str, faults: Faults):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.contract = contract
        self.token = token
        self.faults = faults
        self.requests_seen = 0
        self._counter = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    def release_late(self) -> None:
        """From now on, serve the late-arriving rows too."""
        self.contract.late_released = True

    def next_fault(self) -> str | None:
        """The fault for the request being answered, by its number."""
        with self._counter:
            number = self.requests_seen
            self.requests_seen += 1
        f = self.faults
        budget = number - f.first_faulty_request
        for name, count in (
            ("429", f.rate_limits),
            ("500", f.server_errors),
            ("slow", f.slow_responses),
            ("malformed", f.malformed_json),
        ):
            if 0 <= budget < count:
                return name
            budget -= count
        return None


class _Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fakes run inside tests and demos."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if self.headers.get(AUTH_HEADER) != f"Bearer {self.server.token}":
            return self._send(401, {"error": "unauthorized"})
        if url.path != self.server.contract.path:
            return self._send(404, {"error": "no such endpoint"})
        fault = self.server.next_fault()
        if fault == "429":
            return self._send(
                429, {"error": "slow down"}, {"Retry-After": self.server.faults.retry_after}
            )
        if fault == "500":
            return self._send(500, {"error": "internal"})
        if fault == "slow":
            time.sleep(self.server.faults.slow_seconds)
        params = {key: values[-1] for key, values in parse_qs(url.query).items()}
        try:
            body = self.server.contract.respond(params)
        except BadRequest as error:
            return self._send(400, {"error": str(error)})
        self._send(200, body, truncate=fault == "malformed")

    def _send(
        self,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        truncate: bool = False,
    ) -> None:
        data = json.dumps(body).encode()
        if truncate:
            data = data[: len(data) // 2]
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout under test); nothing to answer
