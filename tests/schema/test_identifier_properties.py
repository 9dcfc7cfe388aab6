"""Any identifier PostgreSQL accepts survives snapshot, diff and delta: the delta recreates it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from psycopg import sql

from selfheal.catalog import snapshot
from selfheal.core.db import connect
from selfheal.schema import diff
from selfheal.schema.delta import render_delta

# Names of 1 to 63 bytes, any character but NUL; PostgreSQL truncates nothing at 63 bytes.
names = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=20,
).filter(lambda n: len(n.encode()) <= 63 and n.strip() == n and n)


@pytest.fixture
def conn(shimmed_db):
    with connect(shimmed_db) as connection:
        yield connection


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(schema=names, table=names, column=names, index=names)
def test_awkward_names_round_trip_through_the_delta(conn, schema, table, column, index):
    baseline = snapshot(conn)
    create = sql.SQL(
        "CREATE SCHEMA {s}; CREATE TABLE {t} ({c} integer[] NOT NULL DEFAULT '{{}}', "
        "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY); CREATE INDEX {i} ON {t} ({c}); "
        "ALTER TABLE {t} ENABLE ROW LEVEL SECURITY; "
        "CREATE POLICY {i} ON {t} FOR SELECT TO authenticated USING ({c} IS NOT NULL)"
    ).format(
        s=sql.Identifier(schema),
        t=sql.Identifier(schema, table),
        c=sql.Identifier(column),
        i=sql.Identifier(index),
    )
    assume(index not in (table, f"{table}_pkey", f"{table}_id_seq") and column != "id")
    with conn.transaction(force_rollback=True):
        conn.execute(create)
        expected = snapshot(conn).minus(baseline)
    assert (schema, table, column) in expected.columns

    text = render_delta(diff(expected, baseline))
    with conn.transaction(force_rollback=True):
        conn.execute(text)
        assert diff(expected, snapshot(conn)).clean
