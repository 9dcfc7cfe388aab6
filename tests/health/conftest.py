"""Fixtures of the health audit's tests: run one check against a test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from selfheal.core.db import connect
from selfheal.health.audit import check_by_id
from selfheal.health.config import HealthConfig, load_config
from selfheal.health.model import AuditContext, HealthResult
from selfheal.run.tickets import load_tickets

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = ROOT / "checks" / "health.toml"

Audit = Callable[..., HealthResult]


@pytest.fixture(scope="session")
def shipped_config() -> HealthConfig:
    return load_config(SHIPPED_CONFIG)


@pytest.fixture
def writer(migrated_db: str) -> Iterator[psycopg.Connection]:
    """A writing autocommit session on the test database (the audit itself only reads)."""
    with connect(migrated_db, autocommit=True) as conn:
        yield conn


@pytest.fixture
def audit(migrated_db: str, shipped_config: HealthConfig, tmp_path: Path) -> Audit:
    """`audit(check_id, config=None)`: run one check in a read-only session, as the suite does."""

    def run(check_id: str, config: HealthConfig | None = None) -> HealthResult:
        with connect(migrated_db, read_only=True, autocommit=True) as conn:
            ctx = AuditContext(conn, config or shipped_config, tmp_path / "backlog", load_tickets)
            return check_by_id(check_id)(ctx)

    return run


def load_fresh_data(conn: psycopg.Connection) -> None:
    """A healthy day: fresh rows in every domain table, one finished run per source, stats."""
    conn.execute(
        "INSERT INTO public.events (event_id, user_id, event_name, occurred_at)"
        " VALUES ('e1', gen_random_uuid(), 'signup', now() - interval '1 hour')"
    )
    conn.execute(
        "INSERT INTO public.ads_source_a (stat_date, campaign_id, ad_id, spend)"
        " VALUES (current_date, 'c1', 'a1', 12.5)"
    )
    conn.execute(
        "INSERT INTO public.ads_source_b (stat_hour, campaign, creative, cost_micros)"
        " VALUES (date_trunc('hour', now()), 'c2', 'k1', 2500000)"
    )
    conn.execute(
        "INSERT INTO public.daily_metrics (metric_date, source, campaign, spend, conversions)"
        " VALUES (current_date, 'source_a', 'c1', 12.5, 1)"
    )
    for source in ("events", "source_a", "source_b", "metrics"):
        add_run(conn, source, "succeeded", hours_ago=2, minutes=5)
    conn.execute(
        "INSERT INTO public.etl_quarantine (run_id, source, raw_payload, reason)"
        " SELECT max(run_id), 'source_a', '{}', 'missing spend' FROM public.etl_runs"
    )
    conn.execute("ANALYZE")


def add_run(
    conn: psycopg.Connection,
    source: str,
    status: str,
    *,
    hours_ago: float,
    minutes: int | None,
    error: str | None = None,
) -> None:
    """An etl_runs row started `hours_ago`, lasting `minutes` (None: still running)."""
    conn.execute(
        "INSERT INTO public.etl_runs (source, status, error, started_at, finished_at)"
        " VALUES (%(s)s, %(st)s, %(e)s, now() - make_interval(secs => %(h)s * 3600),"
        " now() - make_interval(secs => %(h)s * 3600) + make_interval(mins => %(m)s))",
        {"s": source, "st": status, "e": error, "h": hours_ago, "m": minutes},
    )
