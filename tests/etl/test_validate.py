"""Property tests over payloads: validation never crashes and loses nothing; valid rows load
idempotently whatever their text (unicode, quotes, reserved words)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from etl import load
from etl.validate import table_spec, validate

SOURCES = ("source_a", "source_b", "events")
KEYS = (
    "date",
    "campaign_id",
    "ad_id",
    "impressions",
    "clicks",
    "spend",
    "currency",
    "hour",
    "campaign",
    "creative",
    "cost_micros",
    "event_id",
    "user_id",
    "event_name",
    "occurred_at",
    "received_at",
    "properties",
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.dates().map(date.isoformat),
    st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
payloads = st.lists(st.one_of(st.dictionaries(st.sampled_from(KEYS), values), values), max_size=30)


@settings(max_examples=50, deadline=None)
@given(source=st.sampled_from(SOURCES), batch=payloads)
def test_every_payload_is_loaded_duplicated_or_quarantined(source, batch):
    result = validate(source, batch)
    assert result.read == len(batch)
    assert all(r.reason and isinstance(r.raw_payload, str) for r in result.rejected)


names = st.text(min_size=1, max_size=40).filter(str.strip)
valid_a = st.fixed_dictionaries(
    {
        "date": st.dates(date(2000, 1, 1), date(2100, 1, 1)).map(date.isoformat),
        "campaign_id": st.sampled_from(
            ["select", 'a "quoted" one', "Ünïcödé", "x" * 63, "a\x00b", "\ud800"]
        )
        | names,
        "ad_id": names,
        "impressions": st.integers(0, 2**64),
        "clicks": st.integers(0, 2**62),
        "spend": st.decimals(0, Decimal("99999999999999.9999"), places=4).map(str),
        "currency": st.sampled_from(["USD", "CAD", "EUR"]),
    }
)
# Any offset ISO 8601 can write (Python reads up to +-23:59); PostgreSQL stores up to +-15:59.
offsets = st.timedeltas(-timedelta(hours=23, minutes=59), timedelta(hours=23, minutes=59)).map(
    lambda delta: timezone(timedelta(minutes=delta // timedelta(minutes=1)))
)
instants = st.datetimes(timezones=offsets).map(datetime.isoformat)
valid_events = st.fixed_dictionaries(
    {
        "event_id": names,
        "user_id": st.uuids().map(str),
        "event_name": names,
        "occurred_at": instants,
        "received_at": instants,
        "properties": st.dictionaries(st.text(max_size=5), values, max_size=4),
    }
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(source=st.sampled_from(["source_a", "events"]), data=st.data())
def test_whatever_validation_accepts_loads_then_reloads_unchanged(migrated_db, source, data):
    rows = valid_a if source == "source_a" else valid_events
    checked = validate(source, data.draw(st.lists(rows, min_size=1, max_size=15)))
    assume(checked.rows)
    spec = table_spec(source)
    with psycopg.connect(migrated_db) as conn:
        first = load.load(conn, spec, checked.rows)
        again = load.classify(conn, spec, checked.rows)
        conn.rollback()
    assert first.inserted == len(checked.rows) and first.updated == first.unchanged == 0
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(checked.rows))


def test_type_errors_are_named():
    hour = (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=30)).isoformat()
    bad = [
        {
            "hour": hour,
            "campaign": "c",
            "creative": "k",
            "impressions": 1,
            "clicks": True,
            "cost_micros": 1,
        },
        {
            "hour": "2025-01-01T00:00:00",
            "campaign": "c",
            "creative": "k",
            "impressions": 1,
            "clicks": 0,
            "cost_micros": 1,
        },
    ]
    reasons = [r.reason for r in validate("source_b", bad).rejected]
    assert reasons == [
        "'hour' is not the start of a UTC hour: '2025-01-01T00:30:00+00:00'",
        "'hour' has no UTC offset: '2025-01-01T00:00:00'",
    ]
