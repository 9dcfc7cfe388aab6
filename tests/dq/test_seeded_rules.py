"""The shipped rules (checks/dq, checks/sql) hold on data the ETL loads from the fake sources,
and catch that data once it is damaged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from selfheal.core.db import connect
from selfheal.dq.config import load_suite
from selfheal.dq.runner import Runner
from tests.dq.conftest import execute

ROOT = Path(__file__).resolve().parents[2]


def run_seeded(dsn: str) -> dict[str, str]:
    suite = load_suite(ROOT / "checks" / "dq", ROOT / "checks" / "sql")
    with connect(dsn, read_only=True, autocommit=True) as conn:
        runner = Runner(conn, suite, zone="America/Toronto", statement_timeout_ms=30_000)
        return {check_id: runner.result(check_id).status for check_id in suite.ids()}


def test_seeded_rules_pass_on_loaded_data_and_catch_damage(
    migrated_db: str, tmp_path: Path
) -> None:
    env = {**os.environ, "SUPABASE_DB_URL": migrated_db, "SELFHEAL_REPORTS_DIR": str(tmp_path)}
    loaded = subprocess.run(
        [sys.executable, "-m", "etl", "all", "--fake", "7"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    statuses = run_seeded(migrated_db)
    assert {check for check, status in statuses.items() if status != "pass"} == set()

    execute(
        migrated_db,
        "UPDATE ads_source_a SET clicks = impressions + 1 WHERE ad_id IN "
        "(SELECT ad_id FROM ads_source_a LIMIT 1)",
    )
    execute(
        migrated_db,
        "UPDATE events SET event_name = 'pageview' WHERE event_id IN "
        "(SELECT event_id FROM events LIMIT 2)",
    )
    execute(
        migrated_db,
        "UPDATE daily_metrics SET source = 'source_c' WHERE campaign IN "
        "(SELECT campaign FROM daily_metrics LIMIT 1)",
    )
    damaged = run_seeded(migrated_db)
    assert {check for check, status in damaged.items() if status != "pass"} == {
        "ads_source_a.sql.clicks_within_impressions",
        "events.accepted_values.event_name",
        "daily_metrics.accepted_values.source",
        "daily_metrics.sql.complete",  # the renamed source's rows no longer cover its campaign
    }
