"""daily_metrics: exact values on a small dataset, local days across DST, touched-days recompute.
Property: every UTC hour lands on the local day Python's zoneinfo gives, in any time zone."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
from etl_support import OPTIONS, runs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from etl import metrics
from etl.jobs import run
from selfheal.core.settings import Settings

TORONTO = "America/Toronto"
USER = "6f1c8a2e-4b1d-4c3e-9a55-1f0e2d3c4b5a"


def insert_b(conn: psycopg.Connection, hours: list[datetime], campaign: str = "b-1") -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO public.ads_source_b (stat_hour, campaign, creative, impressions, clicks,"
            " cost_micros) VALUES (%s, %s, 'cr', 1, 0, 0) ON CONFLICT DO NOTHING",
            [(hour, campaign) for hour in hours],
        )


def metric_rows(conn: psycopg.Connection) -> dict[tuple, tuple]:
    rows = conn.execute(
        "SELECT metric_date, source, campaign, impressions, clicks, spend, conversions, ctr, cpc,"
        " cpa FROM public.daily_metrics"
    ).fetchall()
    return {row[:3]: row[3:] for row in rows}


def test_values_conversion_attribution_and_division_by_zero(migrated_db):
    day = date(2025, 6, 2)
    with psycopg.connect(migrated_db) as conn:
        conn.execute(
            "INSERT INTO public.ads_source_a VALUES (%s, 'a-1', 'ad-1', 1000, 40, 20.0000, 'USD'),"
            " (%s, 'a-1', 'ad-2', 0, 0, 0, 'USD'), (%s, 'a-2', 'ad-1', 0, 0, 5, 'USD')",
            (day, day, day),
        )
        # 04:00 UTC is 00:00 in Toronto on June 2; 03:00 UTC is still June 1.
        conn.execute(
            "INSERT INTO public.ads_source_b VALUES ('2025-06-02 04:00Z', 'b-1', 'cr', 500, 10,"
            " 2500000), ('2025-06-02 03:00Z', 'b-1', 'cr', 7, 0, 0)"
        )
        purchases = [
            ("p1", "source_a", "a-1", "2025-06-02 12:00Z"),
            ("p2", "source_a", "a-1", "2025-06-03 03:59Z"),
            ("p3", "source_b", "b-1", "2025-06-02 05:00Z"),
            ("p4", "source_b", "b-ghost", "2025-06-02 05:00Z"),
            ("p5", "elsewhere", "a-1", "2025-06-02 05:00Z"),
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO public.events (event_id, user_id, event_name, occurred_at, received_at,"
                " properties) VALUES (%s, %s, 'purchase', %s, %s, %s)",
                [
                    (e, USER, at, at, Jsonb({"source": s, "campaign": c}))
                    for e, s, c, at in purchases
                ]
                + [("v1", USER, "2025-06-02 12:00Z", "2025-06-02 12:00Z", Jsonb({}))],
            )
        counts = metrics.recompute(conn, TORONTO, [day])
        rows = metric_rows(conn)
    assert counts.computed == counts.inserted == 4
    assert rows[(day, "source_a", "a-1")] == (
        1000,
        40,
        Decimal("20.0000"),
        2,
        Decimal("0.040000"),
        Decimal("0.5000"),
        Decimal("10.0000"),
    )
    assert rows[(day, "source_a", "a-2")] == (0, 0, Decimal("5.0000"), 0, None, None, None)
    assert rows[(day, "source_b", "b-1")] == (
        500,
        10,
        Decimal("2.5000"),
        1,
        Decimal("0.020000"),
        Decimal("0.2500"),
        Decimal("2.5000"),
    )
    assert rows[(day, "source_b", "b-ghost")] == (
        0,
        0,
        Decimal("0.0000"),
        1,
        None,
        None,
        Decimal("0.0000"),
    )


def test_dst_days_have_23_and_25_hours(migrated_db):
    zone = ZoneInfo(TORONTO)
    start = datetime(2024, 3, 9, tzinfo=zone).astimezone(UTC)
    end = datetime(2024, 11, 5, tzinfo=zone).astimezone(UTC)
    spring = [start + timedelta(hours=n) for n in range(72)]
    autumn = [end - timedelta(hours=n) for n in range(1, 24 + 25 + 24 + 1)]
    with psycopg.connect(migrated_db) as conn:
        insert_b(conn, spring + autumn)
        days = [
            date(2024, 3, 9),
            date(2024, 3, 10),
            date(2024, 3, 11),
            date(2024, 11, 2),
            date(2024, 11, 3),
            date(2024, 11, 4),
        ]
        metrics.recompute(conn, TORONTO, days)
        hours = {key[0]: value[0] for key, value in metric_rows(conn).items()}
    assert hours == dict(zip(days, [24, 23, 24, 24, 25, 24], strict=True))


ZONES = [
    "America/Toronto",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "UTC",
    "Pacific/Apia",
]


@functools.cache
def transitions(zone: str, year: int) -> list[datetime]:
    """The UTC hours of `year` at which the zone's offset changes (DST starts and ends)."""
    tz = ZoneInfo(zone)
    hour = datetime(year, 1, 1, tzinfo=UTC)
    found = []
    while hour.year == year:
        following = hour + timedelta(hours=1)
        if hour.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            found.append(following)
        hour = following
    return found


@st.composite
def near_a_transition(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and an instant within two days before one of its offset changes, when it has any."""
    zone = draw(st.sampled_from(ZONES))
    changes = transitions(zone, draw(st.integers(2020, 2029)))
    if not changes:
        return zone, draw(
            st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))
        )
    return zone, draw(st.sampled_from(changes)) - timedelta(hours=draw(st.integers(0, 48)))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=near_a_transition(), span=st.integers(min_value=1, max_value=80))
def test_every_utc_hour_lands_on_its_local_day(migrated_db, case, span):
    zone, start = case
    first = start.replace(minute=0, second=0, microsecond=0)
    hours = [first + timedelta(hours=n) for n in range(span)]
    expected: dict[date, int] = {}
    for hour in hours:
        local_day = hour.astimezone(ZoneInfo(zone)).date()
        expected[local_day] = expected.get(local_day, 0) + 1
    with psycopg.connect(migrated_db) as conn:
        insert_b(conn, hours, campaign=f"prop-{zone}")
        metrics.recompute(conn, zone, sorted(expected))
        got = conn.execute(
            "SELECT metric_date, impressions FROM public.daily_metrics WHERE campaign = %s",
            (f"prop-{zone}",),
        ).fetchall()
        conn.rollback()
    assert dict(got) == expected


def test_metrics_job_recomputes_only_touched_days_and_is_idempotent(migrated_db):
    settings = Settings.from_env(environ={"TZ": TORONTO}, dotenv_path=None)
    with psycopg.connect(migrated_db) as conn:
        insert_b(conn, [datetime(2025, 1, d, 15, tzinfo=UTC) for d in range(1, 11)])
        conn.commit()
    first = run("metrics", migrated_db, settings, options=OPTIONS)
    assert (first.read, first.inserted) == (10, 10)
    assert run("metrics", migrated_db, settings, options=OPTIONS).read == 0
    with psycopg.connect(migrated_db) as conn:
        conn.execute(
            "UPDATE public.ads_source_b SET impressions = 5, loaded_at = now()"
            " WHERE stat_hour = '2025-01-04 15:00Z'"
        )
        conn.commit()
    touched = run("metrics", migrated_db, settings, options=OPTIONS)
    assert (touched.read, touched.updated, touched.unchanged) == (1, 1, 0)
    touched_window = runs(migrated_db)[-1]
    assert touched_window["window_end"] - touched_window["window_start"] == timedelta(days=1)
    ranged = run(
        "metrics",
        migrated_db,
        settings,
        since=date(2025, 1, 1),
        until=date(2025, 1, 10),
        options=OPTIONS,
    )
    assert (ranged.read, ranged.unchanged) == (10, 10)
