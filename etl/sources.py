"""Extractors: page through one source's contract (see etl/contracts.py) for a window.

Each returns the raw JSON rows; validation happens afterwards. Pagination is guarded, each guard
failing the job with its reason: a cursor that comes back, a page repeating an earlier page, a
page number other than the one asked for, a total of pages that grows, an empty page before the
end, an events watermark that does not advance or goes back, more than MAX_PAGES pages; and the
job deadline (in the client) stops a source that pages on with ever new data.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from etl import strict_json
from etl.contracts import AUTH_HEADER, EVENTS_PATH, SOURCE_A_PATH, SOURCE_B_PATH
from etl.http import NO_DEADLINE, Deadline, HttpClient, RetryPolicy, SourceError
from etl.ledger import Window
from selfheal.core.settings import Secret, Settings

MAX_PAGES = 100_000
Progress = Callable[[int], None]

# source name -> the settings of its connection: base URL, token
CONNECTION = {
    "source_a": ("source_a_base_url", "source_a_token"),
    "source_b": ("source_b_base_url", "source_b_token"),
    "events": ("events_base_url", "events_token"),
}


def client_for(
    source: str, settings: Settings, policy: RetryPolicy, deadline: Deadline = NO_DEADLINE
) -> HttpClient:
    """A client for `source`; a `SettingsError` names each of its variables that is unset."""
    base_url, token = settings.require(*CONNECTION[source])
    bearer = Secret(f"Bearer {token.reveal()}")
    return HttpClient(base_url, (AUTH_HEADER, bearer), policy, deadline=deadline)


def _first_page(source: str, now: datetime) -> tuple[str, dict[str, Any]]:
    """The smallest authenticated request of each source: one row of the last hour."""
    hour_ago = now - timedelta(hours=1)
    if source == "source_a":
        day = now.date().isoformat()
        return SOURCE_A_PATH, {"start_date": day, "end_date": day, "limit": 1}
    if source == "source_b":
        return SOURCE_B_PATH, {
            "start": hour_ago.isoformat(),
            "end": now.isoformat(),
            "per_page": 1,
            "page": 1,
        }
    return EVENTS_PATH, {"after": hour_ago.isoformat(), "until": now.isoformat(), "limit": 1}


def answers(source: str, settings: Settings, timeout_seconds: float = 10.0) -> float:
    """Seconds one authenticated request to `source` took (its first page, one row, of the last
    hour). Raises SettingsError naming unset variables, or SourceError: one line, never the
    token (the status the source answered, or why it did not)."""
    policy = RetryPolicy(timeout_seconds=timeout_seconds, attempts=1, total_seconds=timeout_seconds)
    client = client_for(source, settings, policy)
    try:
        started = time.monotonic()
        client.get_json(*_first_page(source, datetime.now(UTC)))
        return time.monotonic() - started
    finally:
        client.close()


def _list(body: Any, field: str, path: str) -> list[Any]:
    rows = body.get(field) if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise SourceError(f"GET {path}: the response has no {field!r} list")
    return rows


class _Pages:
    """The pages of one extraction so far: refuses a page that repeats an earlier one (the same
    rows again: the source is not moving on) and more than MAX_PAGES of them."""

    def __init__(self, path: str):
        self.path = path
        self.rows: list[Any] = []
        self.count = 0
        # digest -> (number, first row) of the pages with that digest
        self._pages: dict[str, list[tuple[int, int]]] = {}

    def add(self, rows: list[Any], progress: Progress) -> None:
        self.count += 1
        if self.count > MAX_PAGES:
            raise SourceError(f"GET {self.path}: more than {MAX_PAGES} pages")
        earlier = self._earlier(rows)
        if earlier is not None:
            raise SourceError(
                f"GET {self.path}: page {self.count} repeats page {earlier}"
                f" ({len(rows)} rows); the source is not moving on"
            )
        self.rows += rows
        progress(len(self.rows))

    def _earlier(self, rows: list[Any]) -> int | None:
        """The number of an earlier page with the same rows, if any.

        The digest is of the standard JSON text (which keeps only the last of repeated members:
        half the cost of the strict text, whose search for repeated members walks every value);
        pages it cannot tell apart are compared by their strict text.
        """
        text = json.dumps(rows, sort_keys=True, default=str)
        same = self._pages.setdefault(hashlib.sha256(text.encode()).hexdigest(), [])
        for number, start in same:
            if strict_json.dumps(self.rows[start : start + len(rows)]) == strict_json.dumps(rows):
                return number
        same.append((self.count, len(self.rows)))
        return None


def source_a(
    client: HttpClient, window: Window, zone: ZoneInfo, page_size: int, progress: Progress
) -> list[Any]:
    params: dict[str, Any] = {
        "start_date": window.start.astimezone(zone).date().isoformat(),
        "end_date": (window.end - timedelta(microseconds=1)).astimezone(zone).date().isoformat(),
        "limit": page_size,
    }
    pages = _Pages(SOURCE_A_PATH)
    seen: set[str] = set()
    while True:
        body = client.get_json(SOURCE_A_PATH, params)
        pages.add(_list(body, "data", SOURCE_A_PATH), progress)
        cursor = body.get("next_cursor")
        if cursor is None:
            return pages.rows
        if not isinstance(cursor, str | int) or isinstance(cursor, bool):
            raise SourceError(f"GET {SOURCE_A_PATH}: next_cursor is not a string")
        if str(cursor) in seen:
            raise SourceError(f"GET {SOURCE_A_PATH}: cursor {str(cursor)[:40]!r} came back twice")
        seen.add(str(cursor))
        params["cursor"] = cursor


def source_b(
    client: HttpClient, window: Window, zone: ZoneInfo, page_size: int, progress: Progress
) -> list[Any]:
    """Pages 1..T, T as the first page says; a later page may lower T, never raise it."""
    params: dict[str, Any] = {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "per_page": page_size,
    }
    pages = _Pages(SOURCE_B_PATH)
    total: int | None = None
    page = 1
    while True:
        params["page"] = page
        body = client.get_json(SOURCE_B_PATH, params)
        rows = _list(body, "results", SOURCE_B_PATH)
        said = _total_pages(body)
        if body.get("page", page) != page:
            raise SourceError(
                f"GET {SOURCE_B_PATH}: asked for page {page}, answered page {body.get('page')!r}"
            )
        if total is not None and said > total:
            raise SourceError(
                f"GET {SOURCE_B_PATH}: total_pages grew from {total} to {said} while paging"
            )
        total = said
        if not rows and page < total:
            raise SourceError(f"GET {SOURCE_B_PATH}: page {page} of {total} is empty")
        pages.add(rows, progress)
        if page >= total:
            return pages.rows
        page += 1


def _total_pages(body: dict[str, Any]) -> int:
    total = body.get("total_pages")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise SourceError(f"GET {SOURCE_B_PATH}: total_pages is not a count: {str(total)[:40]}")
    return total


def events(
    client: HttpClient, window: Window, zone: ZoneInfo, page_size: int, progress: Progress
) -> list[Any]:
    """Pages on the (occurred_at, event_id) watermark, which must move forward on every page."""
    # `after` is exclusive: start one microsecond early so the window's first instant is included.
    params: dict[str, Any] = {
        "after": (window.start - timedelta(microseconds=1)).isoformat(),
        "until": window.end.isoformat(),
        "limit": page_size,
    }
    pages = _Pages(EVENTS_PATH)
    mark: tuple[datetime, str] = (window.start - timedelta(microseconds=1), "")
    while True:
        body = client.get_json(EVENTS_PATH, params)
        page = _list(body, "events", EVENTS_PATH)
        more = body.get("has_more")
        if not isinstance(more, bool) and more is not None:
            raise SourceError(f"GET {EVENTS_PATH}: has_more is not true or false")
        if more and not page:
            raise SourceError(f"GET {EVENTS_PATH}: an empty page says it has more")
        pages.add(page, progress)
        if not more:
            return pages.rows
        mark = _advanced(mark, page)
        params["after"], params["after_id"] = mark[0].isoformat(), mark[1]


def _advanced(previous: tuple[datetime, str], page: list[Any]) -> tuple[datetime, str]:
    """The page's watermark (its last event that has one), which must be past the previous."""
    mark = _watermark(page)
    if mark is None or mark == previous:
        raise SourceError(f"GET {EVENTS_PATH}: the watermark did not advance")
    if mark < previous:
        raise SourceError(
            f"GET {EVENTS_PATH}: the watermark went back from {previous[0].isoformat()}"
            f" to {mark[0].isoformat()}"
        )
    return mark


def _watermark(page: list[Any]) -> tuple[datetime, str] | None:
    """(occurred_at, event_id) of the page's last event that has both (malformed ones may not)."""
    for row in reversed(page):
        if not isinstance(row, dict) or not row.get("event_id"):
            continue
        try:
            moment = datetime.fromisoformat(row.get("occurred_at"))
        except (TypeError, ValueError):
            continue
        if moment.tzinfo is not None:
            return moment, str(row["event_id"])
    return None


EXTRACTORS = {"source_a": source_a, "source_b": source_b, "events": events}
