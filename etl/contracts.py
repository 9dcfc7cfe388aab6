"""The three source contracts (what the extractors expect and the fake servers serve).

All three answer `GET` with a JSON object, authenticate with `Authorization: Bearer <token>`, and
signal rate limiting with HTTP 429 + `Retry-After` (seconds or an HTTP date). Timestamps are
ISO 8601 with an offset.

Source A — daily ad stats, cursor pagination (token `GENERIC_SOURCE_A_TOKEN`, `SOURCE_A_BASE_URL`)
    GET /v1/ad-stats?start_date=YYYY-MM-DD&end_date=YYYY-MM-DD&limit=N[&cursor=C]
    -> {"data": [{"date": "2025-01-31", "campaign_id": "a-spring", "ad_id": "ad-1",
                  "impressions": 1200, "clicks": 31, "spend": "12.3400", "currency": "USD"}],
        "next_cursor": "opaque" | null}
    Both dates inclusive, days of the configured time zone. `spend` in currency units
    (number or decimal string, at most 4 decimals). Follow `next_cursor` until null.

Source B — hourly ad stats in UTC, page numbers (token `GENERIC_SOURCE_B_TOKEN`, `SOURCE_B_BASE_URL`)
    GET /v2/hourly-stats?start=ISO&end=ISO&page=P&per_page=N      (start inclusive, end exclusive)
    -> {"results": [{"hour": "2025-01-31T05:00:00Z", "campaign": "b-brand", "creative": "cr-1",
                     "impressions": 90, "clicks": 2, "cost_micros": 1250000}],
        "page": P, "total_pages": T}
    `hour` is the start of a UTC hour; `cost_micros` is cost x 1,000,000. Pages run 1..T.

Events — product analytics events, `after` watermark (token `EVENTS_SOURCE_TOKEN`, `EVENTS_BASE_URL`)
    GET /v1/events?after=ISO&until=ISO&limit=N[&after_id=ID]
    -> {"events": [{"event_id": "ev-…", "user_id": "<uuid>", "event_name": "purchase",
                    "occurred_at": ISO, "received_at": ISO, "properties": {…}}],
        "has_more": bool}
    Events come ordered by (occurred_at, event_id), with occurred_at > after (or equal to it with
    event_id > after_id) and occurred_at < until. The next page passes the last event's
    occurred_at as `after` and its event_id as `after_id`.

Conversions: a `purchase` event whose properties carry `"source"` (`source_a` or `source_b`) and
`"campaign"` (the campaign id of that source) is one conversion of that source and campaign on the
local day of its occurred_at. Other events, and purchases without both keys, are not attributed.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_A_PATH = "/v1/ad-stats"
SOURCE_B_PATH = "/v2/hourly-stats"
EVENTS_PATH = "/v1/events"
AUTH_HEADER = "Authorization"
CONVERSION_EVENT = "purchase"
AD_SOURCES = ("source_a", "source_b")


@dataclass(frozen=True)
class TableSpec:
    """Where a source lands: its table, key columns, every loaded column with its SQL type, and
    the column whose range a job's window asks for (a day, an hour, an instant)."""

    table: str
    key: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    windowed_by: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def window_index(self) -> int:
        """The window column's position in a row."""
        return self.names.index(self.windowed_by)

    @property
    def windowed_by_day(self) -> bool:
        """Whether the window column holds local days (source A) rather than instants."""
        return dict(self.columns)[self.windowed_by] == "date"

    @property
    def values(self) -> tuple[str, ...]:
        """The non-key columns: what an update changes."""
        return tuple(name for name in self.names if name not in self.key)


SOURCE_A_TABLE = TableSpec(
    "ads_source_a",
    ("stat_date", "campaign_id", "ad_id"),
    (
        ("stat_date", "date"),
        ("campaign_id", "text"),
        ("ad_id", "text"),
        ("impressions", "bigint"),
        ("clicks", "bigint"),
        ("spend", "numeric(18,4)"),
        ("currency", "char(3)"),
    ),
    windowed_by="stat_date",
)
SOURCE_B_TABLE = TableSpec(
    "ads_source_b",
    ("stat_hour", "campaign", "creative"),
    (
        ("stat_hour", "timestamptz"),
        ("campaign", "text"),
        ("creative", "text"),
        ("impressions", "bigint"),
        ("clicks", "bigint"),
        ("cost_micros", "bigint"),
    ),
    windowed_by="stat_hour",
)
EVENTS_TABLE = TableSpec(
    "events",
    ("event_id",),
    (
        ("event_id", "text"),
        ("user_id", "uuid"),
        ("event_name", "text"),
        ("occurred_at", "timestamptz"),
        ("received_at", "timestamptz"),
        ("properties", "jsonb"),
    ),
    windowed_by="occurred_at",
)

METRICS_TABLE = "daily_metrics"  # computed by the metrics job from the three tables above
# The table each job loads (in load.SCHEMA): the doctor re-runs a stale table's job.
LOADS = {
    "events": EVENTS_TABLE.table,
    "source_a": SOURCE_A_TABLE.table,
    "source_b": SOURCE_B_TABLE.table,
    "metrics": METRICS_TABLE,
}
