"""A table's figures for the end-of-session reports: exact for a small table; for a large one,
the statistics' row estimate and only the newest values an index gives (never a second scan)."""

from __future__ import annotations

import psycopg
import pytest

from selfheal.core.readonly import Reader
from selfheal.core.table_figures import table_figures

TABLE = """
CREATE TABLE public.readings (
    id bigint PRIMARY KEY, taken_at timestamptz, loaded_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX readings_taken_at ON public.readings (taken_at);
INSERT INTO public.readings (id, taken_at)
SELECT g, now() - g * interval '1 hour' FROM generate_series(1, 500) g;
ANALYZE public.readings;
"""


@pytest.fixture
def readings(migrated_db: str) -> psycopg.Connection:
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute(TABLE)
        yield conn


def test_a_small_table_is_read_exactly(readings):
    figures = table_figures(Reader(readings), "public", "readings", ["taken_at", "loaded_at"])
    assert (figures.rows, figures.rows_estimated, figures.unread) == (500, False, ())
    assert figures.age_hours["taken_at"] == pytest.approx(1, abs=0.01)
    assert figures.newest["loaded_at"] is not None and figures.bytes > 0


def test_a_large_table_is_estimated_and_read_only_through_an_index(readings):
    figures = table_figures(
        Reader(readings), "public", "readings", ["taken_at", "loaded_at"], large_bytes=1
    )
    assert (figures.rows, figures.rows_estimated) == (500, True)  # ANALYZE's live rows
    assert figures.unread == ("loaded_at",)  # no index leads with it: it would take a scan
    assert figures.age_hours == {"taken_at": pytest.approx(1, abs=0.01)}


def test_a_partitioned_table_counts_its_partitions(migrated_db):
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.parts (day date NOT NULL, n int) PARTITION BY RANGE (day);"
            "CREATE TABLE public.parts_1 PARTITION OF public.parts"
            " FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');"
            "CREATE TABLE public.parts_2 PARTITION OF public.parts"
            " FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');"
            "INSERT INTO public.parts SELECT '2026-01-01'::date + g, g FROM generate_series(0, 49) g;"
            "ANALYZE public.parts"  # the parent and its partitions
        )
        exact = table_figures(Reader(conn), "public", "parts")
        estimated = table_figures(Reader(conn), "public", "parts", large_bytes=1)
    assert exact.rows == estimated.rows == 50
    assert exact.bytes > 0
