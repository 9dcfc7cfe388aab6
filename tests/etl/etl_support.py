"""Helpers of the ETL tests: pinned time, fast retries, settings and environments for the fakes,
and snapshots of the database (checksums, domain rows, row versions).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from etl.fake import FakeSources
from etl.http import RetryPolicy
from etl.jobs import JobOptions
from selfheal.core.settings import Settings

NOW = datetime.now(UTC).replace(minute=17, second=0, microsecond=0)
SEED = 11
FAST = RetryPolicy(
    timeout_seconds=0.5,
    attempts=4,
    total_seconds=10,
    backoff_seconds=0.01,
    max_backoff_seconds=0.05,
)
OPTIONS = JobOptions(retry=FAST, now=NOW, page_size=100)


def settings_for(sources: FakeSources, tz: str = "America/Toronto") -> Settings:
    return sources.configure(Settings.from_env(environ={"TZ": tz}, dotenv_path=None))


def fake_env(sources: FakeSources, dsn: str) -> dict[str, str]:
    """The environment of a `python -m etl` subprocess pointing at the fakes and `dsn`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKFILL", "RUN_BACKFILL"))}
    env.update(
        SUPABASE_DB_URL=dsn,
        TZ="America/Toronto",
        CI="1",
        SOURCE_A_BASE_URL=sources.source_a.base_url,
        SOURCE_B_BASE_URL=sources.source_b.base_url,
        EVENTS_BASE_URL=sources.events.base_url,
        GENERIC_SOURCE_A_TOKEN=sources.source_a.token,
        GENERIC_SOURCE_B_TOKEN=sources.source_b.token,
        EVENTS_SOURCE_TOKEN=sources.events.token,
    )
    return env


ETL_COMMAND = [sys.executable, "-m", "etl"]


def table_checksums(dsn: str) -> dict[str, str]:
    """md5 of every user table's full contents, in a deterministic order."""
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": conn.execute(
                sql.SQL(
                    "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
                ).format(sql.Identifier(schema, name))
            ).fetchone()[0]
            for schema, name in tables
        }


DOMAIN_TABLES = {
    "events": "event_id, user_id, event_name, occurred_at, received_at, properties",
    "ads_source_a": "stat_date, campaign_id, ad_id, impressions, clicks, spend, currency",
    "ads_source_b": "stat_hour, campaign, creative, impressions, clicks, cost_micros",
    "daily_metrics": "metric_date, source, campaign, impressions, clicks, spend, conversions,"
    " ctr, cpc, cpa",
}


def domain_state(dsn: str) -> dict[str, list[tuple]]:
    """Every domain row (without load timestamps), sorted: what 'the same final state' means."""
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT {} FROM {} ORDER BY 1, 2, 3").format(
                    sql.SQL(columns), sql.Identifier("public", table)
                )
            ).fetchall()
            for table, columns in DOMAIN_TABLES.items()
        }


def row_versions(dsn: str, table: str) -> list[tuple]:
    """(ctid, xmin) of every row: unchanged iff no row version was written."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            sql.SQL("SELECT ctid::text, xmin::text FROM {} ORDER BY 1").format(
                sql.Identifier("public", table)
            )
        ).fetchall()


def runs(dsn: str) -> list[dict]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM public.etl_runs ORDER BY run_id").fetchall()
