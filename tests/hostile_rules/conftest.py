"""Fixtures of the hostile-rules tests: a database with a victim table, and how to tell that
nothing was written (the server's own counters, the catalog and the victim's contents).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from selfheal.catalog import snapshot
from selfheal.core.db import connect, create_database, drop_database

TEMPLATE = "selfheal_hostile_template"

VICTIM = """
CREATE TABLE public.victim (id integer PRIMARY KEY, note text);
INSERT INTO public.victim SELECT i, 'row ' || i FROM generate_series(1, 10) i;
CREATE SEQUENCE public.victim_seq;
CREATE FUNCTION public.zap() RETURNS bigint LANGUAGE sql VOLATILE
  AS 'WITH d AS (DELETE FROM public.victim RETURNING 1) SELECT count(*) FROM d';
CREATE FUNCTION public.stable_writer() RETURNS integer LANGUAGE plpgsql STABLE
  AS $$ BEGIN EXECUTE 'DELETE FROM public.victim'; RETURN 1; END $$;
CREATE PROCEDURE public.wipe() LANGUAGE sql AS 'DELETE FROM public.victim';
CREATE TABLE IF NOT EXISTS auth.users (id integer PRIMARY KEY, email text);
"""
# What must stay as it was: rows, sequences, roles, large objects (the catalog is compared whole).
STATE = """
SELECT (SELECT array_agg(note ORDER BY id) FROM public.victim),
       (SELECT last_value FROM public.victim_seq),
       (SELECT array_agg(rolname || rolsuper::text || rolbypassrls::text ORDER BY rolname)
          FROM pg_roles),
       (SELECT count(*) FROM pg_largeobject_metadata),
       to_regclass('public.stolen') IS NULL
"""
# Tuples the database inserted, updated and deleted, less autovacuum's ANALYZE writing
# pg_statistic (the server analyzes the shared catalogs from whichever database it visits).
COUNTERS = """
SELECT d.tup_inserted - s.n_tup_ins, d.tup_updated - s.n_tup_upd, d.tup_deleted - s.n_tup_del
FROM pg_stat_database d, pg_stat_all_tables s
WHERE d.datname = current_database() AND s.relid = 'pg_catalog.pg_statistic'::regclass
"""


@pytest.fixture(scope="module")
def hostile_template(admin_dsn: str, migrated_template: str) -> Iterator[str]:
    dsn = create_database(admin_dsn, TEMPLATE, template=migrated_template)
    with connect(dsn, autocommit=True) as conn:
        conn.execute(VICTIM)
    yield TEMPLATE
    drop_database(admin_dsn, TEMPLATE)


@pytest.fixture
def victim_db(admin_dsn: str, hostile_template: str) -> Iterator[str]:
    name = f"hostile_{uuid.uuid4().hex[:12]}"
    dsn = create_database(admin_dsn, name, template=hostile_template)
    yield dsn
    drop_database(admin_dsn, name)


def written(dsn: str) -> tuple[int, int, int]:
    """Rows inserted, updated and deleted in the database, by the server's statistics."""
    with connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute(COUNTERS).fetchone()


def state(dsn: str) -> tuple:
    with connect(dsn, autocommit=True) as conn:
        return snapshot(conn), conn.execute(STATE).fetchone()


def flushed(conn: psycopg.Connection) -> None:
    """Make the session report its statistics now (PostgreSQL 15 batches them)."""
    conn.execute("SELECT pg_stat_force_next_flush()")
