"""Loads: rows in a key range the target has nothing in go straight in by COPY; rows that may meet
stored ones go through staging; validating while copying falls back when a key repeats or is
stored after all. Whichever way, the counts, the rejections and the stored rows are the same."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from etl import load
from etl.contracts import EVENTS_TABLE, SOURCE_B_TABLE, TableSpec
from etl.validate import validate

HOUR = datetime(2025, 3, 1, tzinfo=UTC)


def _rows(hours: range, clicks: int = 1) -> list[tuple]:
    return [(HOUR + timedelta(hours=h), "b-brand", "cr-1", 10, clicks, 5) for h in hours]


def _payloads(hours: range, clicks: int = 1) -> list[dict]:
    return [
        {
            "hour": (HOUR + timedelta(hours=h)).isoformat(),
            "campaign": "b-brand",
            "creative": "cr-1",
            "impressions": 10,
            "clicks": clicks,
            "cost_micros": 5,
        }
        for h in hours
    ]


def _span(hours: Sequence[int], through: timedelta = timedelta(0)) -> tuple[datetime, datetime]:
    """The instants from the first of `hours` to `through` past the last."""
    return HOUR + timedelta(hours=min(hours)), HOUR + timedelta(hours=max(hours)) + through


def _insert(conn: psycopg.Connection, spec: TableSpec, rows: list[tuple]) -> None:
    """Rows stored by plain INSERTs (not by the loader under test)."""
    columns = sql.SQL(", ").join(map(sql.Identifier, spec.names))
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier("public", spec.table),
        columns,
        sql.SQL(", ").join(sql.Placeholder() * len(spec.names)),
    )
    conn.cursor().executemany(query, rows)


def _stored(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT stat_hour, campaign, creative, impressions, clicks, cost_micros"
        " FROM public.ads_source_b ORDER BY stat_hour"
    ).fetchall()


def _copies(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, for each COPY of the load, whether it went straight into the target."""
    seen: list[bool] = []
    copy_in = load._copy_in

    def recording(cur, table, spec, freeze=False):
        seen.append(table == load._target(spec))
        return copy_in(cur, table, spec, freeze)

    monkeypatch.setattr(load, "_copy_in", recording)
    return seen


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
    migrated_db, monkeypatch, second, straight, counts
):
    with psycopg.connect(migrated_db) as conn:
        assert load.load(conn, SOURCE_B_TABLE, _rows(range(10))) == load.LoadCounts(inserted=10)
        copies = _copies(monkeypatch)
        assert load.load(conn, SOURCE_B_TABLE, _rows(second)) == counts
        assert copies == [straight]
        assert _stored(conn) == _rows(sorted(set(range(10)) | set(second)))


def test_changed_rows_in_a_stored_range_are_updated(migrated_db):
    with psycopg.connect(migrated_db) as conn:
        load.load(conn, SOURCE_B_TABLE, _rows(range(3)))
        counts = load.load(conn, SOURCE_B_TABLE, _rows(range(2, 4), clicks=7))
        assert counts == load.LoadCounts(inserted=1, updated=1)
        assert _stored(conn) == _rows(range(2)) + _rows(range(2, 4), clicks=7)


def test_a_role_the_policies_apply_to_loads_through_staging(migrated_db, monkeypatch):
    """COPY FROM refuses a role subject to row-level security; an INSERT checks the policies."""
    role = f"etl_writer_{uuid.uuid4().hex[:8]}"  # roles are the cluster's, shared by workers
    with psycopg.connect(migrated_db, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        admin.execute(
            sql.SQL(
                "GRANT SELECT, INSERT, UPDATE ON public.ads_source_b TO {role};"
                " CREATE POLICY etl_writes ON public.ads_source_b FOR ALL TO {role}"
                " USING (true) WITH CHECK (true)"
            ).format(role=sql.Identifier(role))
        )
    try:
        with psycopg.connect(migrated_db) as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            copies = _copies(monkeypatch)
            assert load.load(conn, SOURCE_B_TABLE, _rows(range(3))) == load.LoadCounts(inserted=3)
            assert copies == [False]
            assert _stored(conn) == _rows(range(3))
    finally:
        with psycopg.connect(migrated_db, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {0}; DROP ROLE {0}").format(sql.Identifier(role)))


def test_a_text_key_always_goes_through_staging(migrated_db):
    """Python and PostgreSQL may order text differently: no range is trusted on it."""
    with psycopg.connect(migrated_db) as conn:
        assert not load._straight_in(conn, EVENTS_TABLE, "event_id", "a", "b")


@pytest.mark.parametrize(
    "payloads, span, copies, counts, duplicates",
    [
        # a new span: validated rows go straight into the target as they are checked
        (_payloads(range(10, 14)), _span(range(10, 14)), [True], load.LoadCounts(inserted=4), 0),
        # a key repeated in the payloads: that COPY is undone, the rows load by `load`
        (
            _payloads(range(10, 14)) + _payloads(range(11, 12), clicks=9),
            _span(range(10, 14)),
            [True, True],
            load.LoadCounts(inserted=4),
            1,
        ),
        # a stored key outside the span said: the COPY fails and is undone; staged instead
        (
            _payloads(range(2, 3), clicks=9) + _payloads(range(10, 12)),
            _span(range(10, 12)),
            [True, False],
            load.LoadCounts(inserted=2, updated=1),
            0,
        ),
        # a span with stored rows: validated rows go to staging as they are checked
        (_payloads(range(3, 6)), _span(range(3, 6)), [False], load.LoadCounts(unchanged=3), 0),
        # no span: staging
        (_payloads(range(10, 11)), None, [False], load.LoadCounts(inserted=1), 0),
    ],
)
def test_validating_while_copying_ends_as_validating_then_loading(
    migrated_db, monkeypatch, payloads, span, copies, counts, duplicates
):
    bad = dict(_payloads(range(1))[0], clicks=-1)
    with psycopg.connect(migrated_db) as conn:
        load.load(conn, SOURCE_B_TABLE, _rows(range(10)))
        expected_rows = sorted(
            {row[0]: row for row in _stored(conn) + validate("source_b", payloads).rows}.values()
        )
        seen = _copies(monkeypatch)
        checked, loaded = load.validate_and_load(
            conn, "source_b", [*payloads, bad], None, UTC, span
        )
        assert (loaded, checked.duplicates, seen) == (counts, duplicates, copies)
        assert [r.reason for r in checked.rejected] == [
            "'clicks' must be a non-negative 64-bit integer, got -1"
        ]
        assert _stored(conn) == expected_rows


# Each example loads into the test's database (rolled back after it).
DATABASE_EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
stored_hours = st.lists(st.integers(0, 12), max_size=6, unique=True)
payload_hours = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 2)), max_size=8)


@DATABASE_EXAMPLES
@given(
    stored=stored_hours,
    incoming=payload_hours,
    span=st.tuples(st.integers(0, 12), st.integers(0, 12)) | st.none(),
)
def test_validating_while_copying_loads_as_validating_then_loading(
    migrated_db, stored, incoming, span
):
    """Whatever the stored rows, the span said and the repeated keys: same counts, rows, reasons
    (and the same counts as classifying against the whole table)."""
    payloads = [p for hour, clicks in incoming for p in _payloads(range(hour, hour + 1), clicks)]
    payloads.append(dict(_payloads(range(1))[0], clicks=-1))
    hours = None if span is None else _span(span)
    with psycopg.connect(migrated_db) as conn, conn.transaction(force_rollback=True):
        _insert(
            conn, SOURCE_B_TABLE, [row for hour in stored for row in _rows(range(hour, hour + 1))]
        )
        with conn.transaction(force_rollback=True):
            checked = validate("source_b", payloads, one_by_one=True)
            unbounded = load.classify(conn, SOURCE_B_TABLE, checked.rows, whole_table=True)
            assert load.classify(conn, SOURCE_B_TABLE, checked.rows) == unbounded  # the dry run's
            counts = load.load(conn, SOURCE_B_TABLE, checked.rows)
            assert counts == unbounded
            expected = (counts, checked.rejected, checked.duplicates, _stored(conn))
        with conn.transaction(force_rollback=True):
            checked, counts = load.validate_and_load(conn, "source_b", payloads, None, UTC, hours)
            assert (counts, checked.rejected, checked.duplicates, _stored(conn)) == expected


def _events(numbers: range, hour: int, name: str = "page_view") -> list[dict]:
    return [
        {
            "event_id": f"ev-{n}",
            "user_id": "0b8f6c1e-9a7d-4c57-9a1e-2f0a3b4c5d6e",
            "event_name": name,
            "occurred_at": (HOUR + timedelta(hours=hour, seconds=n)).isoformat(),
            "received_at": (HOUR + timedelta(hours=hour, seconds=n + 1)).isoformat(),
            "properties": {"path": "/"},
        }
        for n in numbers
    ]


def _assert_stored_events(conn: psycopg.Connection, sent: list[dict]) -> None:
    """The table holds the last payload sent of each event id, and nothing else."""
    stored = conn.execute(
        "SELECT event_id, event_name, occurred_at FROM public.events ORDER BY event_id"
    ).fetchall()
    latest = {p["event_id"]: p for p in sent}
    assert stored == [
        (e["event_id"], e["event_name"], datetime.fromisoformat(e["occurred_at"]))
        for _, e in sorted(latest.items())
    ]


@pytest.mark.parametrize(
    "second, copies, counts",
    [
        # events of a new window: straight in, though keyed by id
        (_events(range(10, 13), hour=5), [True], load.LoadCounts(inserted=3)),
        # a stored id sent again with another time: that COPY is undone, the rows are staged
        (
            _events(range(10, 12), hour=5) + _events(range(1, 2), hour=5, name="purchase"),
            [True, False],
            load.LoadCounts(inserted=2, updated=1),
        ),
        # the window's events again: staged, nothing written
        (_events(range(3), hour=0), [False], load.LoadCounts(unchanged=3)),
    ],
)
def test_events_of_a_window_with_no_stored_event_go_straight_in(
    migrated_db, monkeypatch, second, copies, counts
):
    def span(payloads: list[dict]) -> tuple[datetime, datetime]:
        times = [datetime.fromisoformat(p["occurred_at"]) for p in payloads]
        return min(times), max(times)

    first = _events(range(3), hour=0)
    with psycopg.connect(migrated_db) as conn, conn.transaction(force_rollback=True):
        load.validate_and_load(conn, "events", first, None, UTC, span(first))
        seen = _copies(monkeypatch)
        window = span([p for p in second if p["event_name"] == "page_view"])
        _, loaded = load.validate_and_load(conn, "events", second, None, UTC, window)
        assert (loaded, seen) == (counts, copies)
        _assert_stored_events(conn, first + second)


stored_events = st.dictionaries(st.integers(0, 9), st.integers(0, 5), max_size=6)
incoming_events = st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 5), st.sampled_from(["page_view", "purchase"])),
    max_size=8,
)


@DATABASE_EXAMPLES
@given(
    stored=stored_events,
    incoming=incoming_events,
    span=st.tuples(st.integers(0, 5), st.integers(0, 5)) | st.none(),
)
def test_events_load_as_classified_against_the_whole_table(migrated_db, stored, incoming, span):
    """Events are keyed by id but found by time: whichever hours the stored and incoming events
    fall in, the counts are those of classifying against the whole table, and the stored rows
    are the incoming ones over the stored ones."""
    payloads = [p for n, hour, name in incoming for p in _events(range(n, n + 1), hour, name)]
    hours = None if span is None else _span(span, through=timedelta(seconds=59))
    with psycopg.connect(migrated_db) as conn, conn.transaction(force_rollback=True):
        earlier = [p for n, hour in stored.items() for p in _events(range(n, n + 1), hour)]
        _insert(conn, EVENTS_TABLE, validate("events", earlier).rows)
        checked = validate("events", payloads)
        expected = load.classify(conn, EVENTS_TABLE, checked.rows, whole_table=True)
        assert load.classify(conn, EVENTS_TABLE, checked.rows) == expected  # the dry run's
        _, counts = load.validate_and_load(conn, "events", payloads, None, UTC, hours)
        assert counts == expected
        _assert_stored_events(conn, earlier + payloads)
