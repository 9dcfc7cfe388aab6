"""Deterministic fake data of the three contracts: recent (the last `days` before `now`), seeded.

Each source yields `FakeRow`s: the JSON payload as served, plus the instant the server uses to
filter and order it (kept apart so that malformed payloads can still be placed in a window).
`late` rows appear only once the server releases them: restated stats and events that arrive
days after they occurred.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from etl.contracts import CONVERSION_EVENT

SOURCE_A_CAMPAIGNS = ("a-spring-sale", "a-retarget", "a-search")
SOURCE_B_CAMPAIGNS = ("b-brand", "b-video")
CREATIVES = ("cr-1", "cr-2")
EVENT_NAMES = ("page_view", "page_view", "page_view", "add_to_cart", "signup", CONVERSION_EVENT)


@dataclass(frozen=True)
class FakeRow:
    at: datetime
    payload: dict[str, Any]

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.at, str(self.payload.get("event_id", "")))


@dataclass
class Dataset:
    """The rows of one source before and after late data arrives, in serving order."""

    initial: list[FakeRow]
    late: list[FakeRow] = field(default_factory=list)

    def rows(self, late_released: bool) -> list[FakeRow]:
        if not late_released:
            return self.initial
        replaced = {_identity(row) for row in self.late}
        kept = [row for row in self.initial if _identity(row) not in replaced]
        return sorted(kept + self.late, key=lambda row: row.order)


def _identity(row: FakeRow) -> tuple[Any, ...]:
    p = row.payload
    return (
        row.at,
        p.get("campaign_id") or p.get("campaign"),
        p.get("ad_id") or p.get("creative"),
        p.get("event_id"),
    )


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(str(part) for part in (seed, *parts)))


def _days(now: datetime, days: int) -> list[datetime]:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [midnight - timedelta(days=back) for back in range(days - 1, -1, -1)]


def source_a(seed: int, now: datetime, days: int, bad_rows: bool) -> Dataset:
    rows = []
    for day in _days(now, days):
        for campaign in SOURCE_A_CAMPAIGNS:
            for ad in ("ad-1", "ad-2", "ad-3"):
                rng = _rng(seed, "a", day.date(), campaign, ad)
                impressions = rng.randint(500, 5000)
                clicks = rng.randint(0, impressions // 20)
                payload = {
                    "date": day.date().isoformat(),
                    "campaign_id": campaign,
                    "ad_id": ad,
                    "impressions": impressions,
                    "clicks": clicks,
                    "spend": f"{rng.randint(0, 500_000) / 100:.2f}",
                    "currency": "USD",
                }
                rows.append(FakeRow(day, payload))
    recent = _days(now, 2)[0]
    if bad_rows:
        rows.append(
            FakeRow(
                recent,
                {
                    "date": recent.date().isoformat(),
                    "campaign_id": "a-search",
                    "ad_id": "ad-bad",
                    "impressions": "many",
                    "clicks": 1,
                    "spend": "1.00",
                    "currency": "USD",
                },
            )
        )
        rows.append(
            FakeRow(
                recent,
                {
                    "date": recent.date().isoformat(),
                    "ad_id": "ad-orphan",
                    "impressions": 10,
                    "clicks": 1,
                    "spend": 1,
                    "currency": "USD",
                },
            )
        )
    late_day = _days(now, 3)[0]
    late = [
        FakeRow(late_day, {**rows[_index_of(rows, late_day)].payload, "clicks": 999}),
        FakeRow(
            late_day,
            {
                "date": late_day.date().isoformat(),
                "campaign_id": "a-search",
                "ad_id": "ad-late",
                "impressions": 50,
                "clicks": 5,
                "spend": "2.50",
                "currency": "USD",
            },
        ),
    ]
    return Dataset(rows, late)


def _index_of(rows: list[FakeRow], at: datetime) -> int:
    return next(i for i, row in enumerate(rows) if row.at == at)


def source_b(seed: int, now: datetime, days: int, bad_rows: bool) -> Dataset:
    top = now.replace(minute=0, second=0, microsecond=0)
    rows = []
    for back in range(days * 24, 0, -1):
        hour = top - timedelta(hours=back)
        for campaign in SOURCE_B_CAMPAIGNS:
            for creative in CREATIVES:
                rng = _rng(seed, "b", hour.isoformat(), campaign, creative)
                impressions = rng.randint(0, 400)
                clicks = rng.randint(0, impressions // 25)
                payload = {
                    "hour": _iso(hour),
                    "campaign": campaign,
                    "creative": creative,
                    "impressions": impressions,
                    "clicks": clicks,
                    "cost_micros": clicks * rng.randint(200_000, 2_000_000),
                }
                rows.append(FakeRow(hour, payload))
    recent = top - timedelta(hours=30)
    if bad_rows:
        rows.append(
            FakeRow(
                recent,
                {
                    "hour": _iso(recent),
                    "campaign": "b-brand",
                    "creative": "cr-bad",
                    "impressions": 5,
                    "clicks": 1,
                    "cost_micros": "1.5e6",
                },
            )
        )
        rows.append(
            FakeRow(
                recent,
                {
                    "campaign": "b-video",
                    "creative": "cr-1",
                    "impressions": 5,
                    "clicks": 0,
                    "cost_micros": 0,
                },
            )
        )
    late_hour = top - timedelta(hours=50)
    late = [FakeRow(late_hour, {**rows[_index_of(rows, late_hour)].payload, "clicks": 77})]
    return Dataset(rows, late)


def events(seed: int, now: datetime, days: int, bad_rows: bool) -> Dataset:
    users = [
        str(uuid.UUID(int=_rng(seed, "user", n).getrandbits(128), version=4)) for n in range(20)
    ]
    rows = []
    for day in _days(now, days):
        rng = _rng(seed, "events", day.date())
        for n in range(40):
            occurred = day + timedelta(seconds=rng.randint(0, 86_399), microseconds=n)
            if occurred >= now:
                continue
            rows.append(FakeRow(occurred, _event(rng, f"ev-{day:%Y%m%d}-{n:03d}", users, occurred)))
    recent = now - timedelta(hours=20)
    if bad_rows:
        bad_id = _event(random.Random(seed), "ev-bad-user", users, recent) | {"user_id": "nobody"}
        rows.append(FakeRow(recent, bad_id))
        missing = _event(random.Random(seed), "ev-bad-time", users, recent)
        del missing["occurred_at"]
        rows.append(FakeRow(recent, missing))
    rows.sort(key=lambda row: row.order)
    rng = _rng(seed, "late")
    late_at = now - timedelta(days=2)
    late = [
        FakeRow(
            late_at + timedelta(seconds=n),
            _event(rng, f"ev-late-{n}", users, late_at + timedelta(seconds=n), now),
        )
        for n in range(3)
    ]
    return Dataset(rows, late)


def _event(
    rng: random.Random,
    event_id: str,
    users: list[str],
    occurred: datetime,
    received: datetime | None = None,
) -> dict[str, Any]:
    name = rng.choice(EVENT_NAMES)
    properties: dict[str, Any] = {"path": rng.choice(("/", "/pricing", "/checkout"))}
    if name == CONVERSION_EVENT:
        source = rng.choice(("source_a", "source_b"))
        campaigns = SOURCE_A_CAMPAIGNS if source == "source_a" else SOURCE_B_CAMPAIGNS
        properties = {
            "source": source,
            "campaign": rng.choice(campaigns),
            "value": round(rng.uniform(5, 200), 2),
        }
    received = received or occurred + timedelta(seconds=rng.randint(0, 120))
    return {
        "event_id": event_id,
        "user_id": rng.choice(users),
        "event_name": name,
        "occurred_at": _iso(occurred),
        "received_at": _iso(received),
        "properties": properties,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
