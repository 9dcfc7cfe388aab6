"""Column-by-column validation decides exactly as payload-by-payload validation: the same rows
(same values, same order), the same rejections with the same reasons, the same duplicate count,
on batches of valid payloads salted with hostile ones."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl import strict_json, validate

NOT_AFTER = datetime(2030, 1, 1, 12, tzinfo=UTC)
TEXTS = ["", " ", "\t", "a\x00b", "\ud800", "x", "Ünï", "a\\b\tc\nd", "select"]
COUNTS = [-1, 2**63, 2**63 - 1, 0, True, False, 1.0, "1"]
# Hostile values of each field's own kind, where a check that is too lax would show.
HOSTILE = {
    "hour": [
        "2025-01-01T00:00:00Z",
        "2025-01-01T05:00:00+00:00",
        "2025-01-01T00:30:00Z",
        "2025-01-01T00:00:00",
        "2025-01-01T00:00:00+16:00",
        "2025-01-01T00:00:00-00:30",
        "2025-01-01T01:00:00+01:00",
        "2025-01-01T00:00:00.000001Z",
        "2025-01-01",
        "2030-01-01T13:00:00Z",
        "2030-01-01T12:00:00Z",
        "20250101T00",
        "not a date",
    ],
    "date": [
        "2025-01-01",
        "2030-01-01",
        "2030-01-02",
        "2025-02-30",
        "20250101",
        "2025-01-01T00:00",
        "",
    ],
    "spend": [
        "12.34",
        "12.3400",
        "1.00000",
        "0.00001",
        "-0",
        "-1",
        "0E+20",
        "1E+5",
        ".5",
        "12.",
        " 7 ",
        "1_000",
        "NaN",
        "Infinity",
        "99999999999999.9999",
        "100000000000000",
        "١٢",
        "abc",
        -1,
        10**14,
        0.1,
        1e-05,
        float("nan"),
    ],
    "currency": ["usd", "US", "USDX", "ÜSD", " US", "US\x00"],
    "user_id": [
        "0b8f6c1e-9a7d-4c57-9a1e-2f0a3b4c5d6e",
        "0B8F6C1E-9A7D-4C57-9A1E-2F0A3B4C5D6E",
        "{0b8f6c1e-9a7d-4c57-9a1e-2f0a3b4c5d6e}",
        "urn:uuid:0b8f6c1e-9a7d-4c57-9a1e-2f0a3b4c5d6e",
        "0b8f6c1e9a7d4c579a1e2f0a3b4c5d6e",
        "0b8f6c1e-9a7d-4c57-9a1e-2f0a3b4c5d6",
        "nobody",
    ],
    "occurred_at": [
        "2025-01-01T00:00:00.123456Z",
        "2025-01-01T05:00:00+05:30",
        "2025-01-01T00:00:00",
        "2025-01-01T00:00:00+16:00",
        "2025-01-01T00:00:00-15:59",
        "2025-01-01",
        "2030-01-01T12:00:00.000001Z",
        "2030-01-01T12:00:00Z",
        "not a date",
    ],
    "properties": [
        {},
        {"path": "/"},
        {"value": 1.5, "n": 2**70, "ok": True, "none": None},
        {"value": float("nan")},
        {"value": float("inf")},
        {"a\x00": 1},
        {"a": "b\x00"},
        {"a": "\ud800"},
        {"nested": {"deep": [1, "x", {"k": None}]}},
        {"nested": {"deep": ["\x00"]}},
        {"nested": [float("-inf")]},
        strict_json.loads('{"nested": {"k": 1, "k": 2}}'),
        strict_json.loads('{"k": 1, "k": 2}'),
        [],
        "{}",
    ],
    "impressions": COUNTS,
    "clicks": COUNTS,
    "cost_micros": COUNTS,
}
HOSTILE["received_at"] = HOSTILE["occurred_at"]
ANY_FIELD = [None, 1.5, [1], {"k": 1}, strict_json.loads('{"k": 1, "k": 2}')]
BASE = {
    "source_a": {
        "date": "2025-01-01",
        "campaign_id": "a-spring",
        "ad_id": "ad-1",
        "impressions": 10,
        "clicks": 1,
        "spend": "12.34",
        "currency": "USD",
    },
    "source_b": {
        "hour": "2025-01-01T05:00:00Z",
        "campaign": "b-brand",
        "creative": "cr-1",
        "impressions": 10,
        "clicks": 1,
        "cost_micros": 250_000,
    },
    "events": {
        "event_id": "ev-1",
        "user_id": "0b8f6c1e-9a7d-4c57-9a1e-2f0a3b4c5d6e",
        "event_name": "purchase",
        "occurred_at": "2025-01-01T05:00:00Z",
        "received_at": "2025-01-01T05:00:02Z",
        "properties": {"source": "source_a", "campaign": "a-spring", "value": 12.5},
    },
}
hostile_value = st.one_of(
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.sampled_from([*TEXTS, *ANY_FIELD, *(v for values in HOSTILE.values() for v in values)]),
)
counts = st.integers(0, 2**63 - 1) | st.integers(0, 9)
valid_b = st.fixed_dictionaries(
    {
        "hour": st.integers(0, 5).map(
            lambda h: (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=h)).isoformat()
        ),
        "campaign": st.sampled_from(["b-brand", "b-video"]),
        "creative": st.sampled_from(["cr-1", "cr-2"]),
        "impressions": counts,
        "clicks": counts,
        "cost_micros": counts,
    }
)
valid_a = st.fixed_dictionaries(
    {
        "date": st.integers(0, 3).map(lambda d: (date(2025, 1, 1) + timedelta(days=d)).isoformat()),
        "campaign_id": st.sampled_from(["a-spring", "a-search"]),
        "ad_id": st.sampled_from(["ad-1", "ad-2"]),
        "impressions": counts,
        "clicks": counts,
        "spend": st.sampled_from(["12.34", "0", "7.5", "99999999999999.9999"])
        | st.integers(0, 10**6)
        | st.floats(0, 1e6),
        "currency": st.sampled_from(["USD", "CAD"]),
    }
)

instants = st.integers(0, 10**6).map(
    lambda s: (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=s)).isoformat()
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
valid_events = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from(["ev-1", "ev-2", "ev-3"]),
        "user_id": st.uuids().map(str),
        "event_name": st.sampled_from(["page_view", "purchase"]),
        "occurred_at": instants,
        "received_at": instants,
        "properties": st.dictionaries(
            st.text(max_size=5),
            st.recursive(
                json_scalars,
                lambda inner: st.lists(inner) | st.dictionaries(st.text(max_size=3), inner),
                max_leaves=4,
            ),
            max_size=3,
        ),
    }
)


@st.composite
def salted(draw: st.DrawFn, valid: st.SearchStrategy) -> object:
    """A valid payload, or one with a field replaced, dropped or added, or a repeated member."""
    payload = draw(valid)
    name = draw(st.sampled_from(sorted(payload)))
    change = draw(
        st.sampled_from(["replace", "replace", "replace", "drop", "add", "repeat", "other"])
    )
    if change == "replace":
        payload[name] = draw(st.sampled_from(HOSTILE.get(name, TEXTS)) | hostile_value)
    elif change == "drop":
        del payload[name]
    elif change == "add":
        payload["extra"] = draw(hostile_value)
    elif change == "repeat":
        text = json.dumps(payload)
        return strict_json.loads(text[:-1] + f", {json.dumps(name)}: {json.dumps(payload[name])}}}")
    elif change == "other":
        return draw(hostile_value)
    return payload


def _decided(source: str, batch: list, not_after: datetime | None, zone, one_by_one: bool):
    checked = validate.validate(source, batch, not_after, zone, one_by_one=one_by_one)
    # repr tells apart equal values of another type or exponent (12.34 and 12.3400).
    return [repr(row) for row in checked.rows], checked.rejected, checked.duplicates


@pytest.mark.parametrize(
    "source, valid", [("source_a", valid_a), ("source_b", valid_b), ("events", valid_events)]
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    not_after=st.sampled_from([None, NOT_AFTER]),
    zone=st.sampled_from([UTC, ZoneInfo("America/Toronto"), ZoneInfo("Pacific/Kiritimati")]),
    chunk=st.integers(1, 6),
)
def test_by_columns_decides_as_one_by_one(source, valid, data, not_after, zone, chunk):
    batch = data.draw(st.lists(st.one_of(valid, valid, salted(valid)), max_size=20))
    original = validate.CHUNK
    validate.CHUNK = chunk
    try:
        fast = _decided(source, batch, not_after, zone, one_by_one=False)
    finally:
        validate.CHUNK = original
    assert fast == _decided(source, batch, not_after, zone, one_by_one=True)


@pytest.mark.parametrize(
    "source, name", [(source, name) for source, base in BASE.items() for name in base]
)
def test_each_hostile_value_of_a_field_is_decided_as_one_by_one(source, name):
    for value in [*HOSTILE.get(name, TEXTS), *ANY_FIELD]:
        for batch in (
            [dict(BASE[source], **{name: value})],
            [{k: v for k, v in BASE[source].items() if k != name}],
            [dict(BASE[source], extra=value)],
        ):
            for not_after in (None, NOT_AFTER):
                expected = _decided(source, batch, not_after, UTC, one_by_one=True)
                assert _decided(source, batch, not_after, UTC, one_by_one=False) == expected, value


def test_a_clean_chunk_is_checked_by_columns():
    """The columns path really runs on clean payloads (else the test above proves nothing)."""
    payload = {
        "hour": "2025-01-01T05:00:00Z",
        "campaign": "b-brand",
        "creative": "cr-1",
        "impressions": 3,
        "clicks": 1,
        "cost_micros": 250_000,
    }
    rows = validate._by_columns("source_b", [payload, dict(payload, creative="cr-2")], None, UTC)
    assert rows is not None and len(rows) == 2
    assert validate._by_columns("source_b", [dict(payload, clicks=True)], None, UTC) is None


def test_one_hostile_payload_among_many_keeps_its_reason():
    good = [
        {
            "date": f"2025-01-{day:02d}",
            "campaign_id": "a",
            "ad_id": "x",
            "impressions": 1,
            "clicks": 0,
            "spend": "1.5",
            "currency": "USD",
        }
        for day in range(1, 29)
    ]
    bad = dict(good[3], spend="1.00000")
    checked = validate.validate("source_a", [*good[:10], bad, *good[10:]])
    assert [r.reason for r in checked.rejected] == ["'spend' has more than 4 decimals: '1.00000'"]
    assert len(checked.rows) == 28 and checked.duplicates == 0


def test_a_clean_chunk_of_events_is_checked_by_columns():
    """Flat properties are checked at once, nested ones one object at a time: both by columns."""
    flat = BASE["events"]
    nested = dict(flat, event_id="ev-2", properties={"cart": [{"sku": "a", "qty": 2}]})
    rows = validate._by_columns("events", [flat, nested], NOT_AFTER, UTC)
    assert rows is not None and [row[0] for row in rows] == ["ev-1", "ev-2"]
    assert list(map(repr, rows)) == [repr(validate.event_row(p)) for p in (flat, nested)]
    without_properties = {k: v for k, v in flat.items() if k != "properties"}
    assert validate._by_columns("events", [without_properties], NOT_AFTER, UTC) is None
