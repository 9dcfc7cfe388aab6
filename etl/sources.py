"""Extractors: page through one source's contract (see etl/contracts.py) for a window.

Each returns the raw JSON rows; validation happens afterwards. Pagination is bounded: a source
that never stops paging, or repeats a cursor, fails with a clear message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from etl.contracts import AUTH_HEADER, EVENTS_PATH, SOURCE_A_PATH, SOURCE_B_PATH
from etl.http import HttpClient, RetryPolicy, SourceError
from etl.ledger import Window
from selfheal.core.settings import Secret, Settings, SettingsError

MAX_PAGES = 100_000
Progress = Callable[[int], None]

# source name -> (base URL attribute, its variable, token attribute, its variable)
CONNECTION = {
    "source_a": (
        "source_a_base_url",
        "SOURCE_A_BASE_URL",
        "source_a_token",
        "GENERIC_SOURCE_A_TOKEN",
    ),
    "source_b": (
        "source_b_base_url",
        "SOURCE_B_BASE_URL",
        "source_b_token",
        "GENERIC_SOURCE_B_TOKEN",
    ),
    "events": ("events_base_url", "EVENTS_BASE_URL", "events_token", "EVENTS_SOURCE_TOKEN"),
}


def client_for(source: str, settings: Settings, policy: RetryPolicy) -> HttpClient:
    url_attr, url_var, token_attr, token_var = CONNECTION[source]
    base_url: str | None = getattr(settings, url_attr)
    token: Secret | None = getattr(settings, token_attr)
    missing = {
        var: "is not set"
        for var, value in ((url_var, base_url), (token_var, token))
        if value is None
    }
    if missing:
        raise SettingsError(missing)
    return HttpClient(base_url, (AUTH_HEADER, Secret(f"Bearer {token.reveal()}")), policy)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _list(body: Any, field: str, path: str) -> list[Any]:
    rows = body.get(field) if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise SourceError(f"GET {path}: the response has no {field!r} list")
    return rows


def source_a(
    client: HttpClient, window: Window, zone: ZoneInfo, page_size: int, progress: Progress
) -> list[Any]:
    params: dict[str, Any] = {
        "start_date": window.start.astimezone(zone).date().isoformat(),
        "end_date": (window.end - timedelta(microseconds=1)).astimezone(zone).date().isoformat(),
        "limit": page_size,
    }
    rows: list[Any] = []
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        body = client.get_json(SOURCE_A_PATH, params)
        rows += _list(body, "data", SOURCE_A_PATH)
        progress(len(rows))
        cursor = body.get("next_cursor")
        if cursor is None:
            return rows
        if cursor in seen:
            raise SourceError(f"GET {SOURCE_A_PATH}: cursor {cursor!r} came back twice")
        seen.add(cursor)
        params["cursor"] = cursor
    raise SourceError(f"GET {SOURCE_A_PATH}: more than {MAX_PAGES} pages")


def source_b(
    client: HttpClient, window: Window, zone: ZoneInfo, page_size: int, progress: Progress
) -> list[Any]:
    params: dict[str, Any] = {
        "start": _iso(window.start),
        "end": _iso(window.end),
        "per_page": page_size,
    }
    rows: list[Any] = []
    for page in range(1, MAX_PAGES + 1):
        params["page"] = page
        body = client.get_json(SOURCE_B_PATH, params)
        rows += _list(body, "results", SOURCE_B_PATH)
        progress(len(rows))
        total = body.get("total_pages")
        if not isinstance(total, int):
            raise SourceError(f"GET {SOURCE_B_PATH}: the response has no total_pages")
        if page >= total:
            return rows
    raise SourceError(f"GET {SOURCE_B_PATH}: more than {MAX_PAGES} pages")


def events(
    client: HttpClient, window: Window, zone: ZoneInfo, page_size: int, progress: Progress
) -> list[Any]:
    # `after` is exclusive: start one microsecond early so the window's first instant is included.
    params: dict[str, Any] = {
        "after": _iso(window.start - timedelta(microseconds=1)),
        "until": _iso(window.end),
        "limit": page_size,
    }
    rows: list[Any] = []
    for _ in range(MAX_PAGES):
        body = client.get_json(EVENTS_PATH, params)
        page = _list(body, "events", EVENTS_PATH)
        rows += page
        progress(len(rows))
        if not body.get("has_more") or not page:
            return rows
        mark = _watermark(page)
        if mark is None or mark == (params["after"], params.get("after_id")):
            raise SourceError(f"GET {EVENTS_PATH}: the watermark did not advance")
        params["after"], params["after_id"] = mark
    raise SourceError(f"GET {EVENTS_PATH}: more than {MAX_PAGES} pages")


def _watermark(page: list[Any]) -> tuple[str, str] | None:
    """(occurred_at, event_id) of the page's last event that has both (malformed ones may not)."""
    for row in reversed(page):
        if (
            isinstance(row, dict)
            and isinstance(row.get("occurred_at"), str)
            and row.get("event_id")
        ):
            return row["occurred_at"], str(row["event_id"])
    return None


EXTRACTORS = {"source_a": source_a, "source_b": source_b, "events": events}
