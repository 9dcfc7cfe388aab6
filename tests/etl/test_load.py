"""Loads: rows in a key range the target has nothing in go straight in by COPY; rows that may meet
existing ones go through staging; either way the counts and the stored rows are the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from etl import load
from etl.contracts import EVENTS_TABLE, SOURCE_B_TABLE

HOUR = datetime(2025, 3, 1, tzinfo=UTC)


def _rows(hours: range, clicks: int = 1) -> list[tuple]:
    return [(HOUR + timedelta(hours=h), "b-brand", "cr-1", 10, clicks, 5) for h in hours]


def _stored(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT stat_hour, campaign, creative, impressions, clicks, cost_micros"
        " FROM public.ads_source_b ORDER BY stat_hour"
    ).fetchall()


@pytest.mark.parametrize(
    "second, straight, counts",
    [
        (range(10, 15), True, load.LoadCounts(inserted=5)),  # after the stored range
        (range(-5, 0), True, load.LoadCounts(inserted=5)),  # before it
        (range(8, 12), False, load.LoadCounts(inserted=2, unchanged=2)),  # overlapping it
        (range(3, 4), False, load.LoadCounts(unchanged=1)),  # inside it
    ],
)
def test_a_new_key_range_goes_straight_in_an_overlapping_one_through_staging(
    migrated_db, second, straight, counts
):
    with psycopg.connect(migrated_db) as conn:
        assert load.load(conn, SOURCE_B_TABLE, _rows(range(10))) == load.LoadCounts(inserted=10)
        assert load._new_range(conn, SOURCE_B_TABLE, _rows(second)) is straight
        assert load.load(conn, SOURCE_B_TABLE, _rows(second)) == counts
        hours = sorted(set(range(10)) | set(second))
        assert _stored(conn) == _rows(hours)


def test_changed_rows_in_a_stored_range_are_updated(migrated_db):
    with psycopg.connect(migrated_db) as conn:
        load.load(conn, SOURCE_B_TABLE, _rows(range(3)))
        counts = load.load(conn, SOURCE_B_TABLE, _rows(range(2, 4), clicks=7))
        assert counts == load.LoadCounts(inserted=1, updated=1)
        assert _stored(conn) == _rows(range(2)) + _rows(range(2, 4), clicks=7)


def test_a_text_key_always_goes_through_staging(migrated_db):
    """Python and PostgreSQL may order text differently: no range is trusted on it."""
    with psycopg.connect(migrated_db) as conn:
        assert not load._new_range(conn, EVENTS_TABLE, [("ev-1",)])
