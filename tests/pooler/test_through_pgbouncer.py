"""selfheal through a real PgBouncer in transaction mode: sessions, locks, migrations, an ETL load,
the checks (preflight, schema, rls, dq) and what they write (DQ watermarks, the run history), and
a doctor heal all go through the pooler."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from pgbouncer import POOL_SIZE, PgBouncer
from psycopg.conninfo import conninfo_to_dict

from etl.fake import serve_all
from etl.jobs import JOBS, JobOptions, run
from selfheal.core.db import connect, transaction_pooled
from selfheal.core.locks import advisory_locks
from selfheal.core.readonly import Reader
from selfheal.core.settings import Settings
from selfheal.core.shim import apply_shim
from selfheal.doctor.remedies import Context, RestoreSchema
from selfheal.migrate.runner import MigrationError, migrate
from selfheal.run.problem import SCHEMA_MISSING, Problem

ROOT = Path(__file__).resolve().parents[2]
# The sources' "now": past minute 17 of the last hour, so always in the past. The current hour's
# minute 17 was ahead of the clock in its first 17 minutes: the ETL, told that time, loaded
# events the DQ gate then rightly found in the future.
NOW = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=17, second=0, microsecond=0)
CHECKS = "preflight or schema or rls or dq"


def pooled(bouncer: PgBouncer, dsn: str) -> str:
    """The DSN of the database at `dsn`, through the pooler."""
    return bouncer.dsn(conninfo_to_dict(dsn)["dbname"])


def test_the_pooler_refuses_startup_options(pgbouncer, migrated_db):
    """Why nothing may be sent at connection start: PgBouncer refuses the connection."""
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
        psycopg.connect(pooled(pgbouncer, migrated_db), options="-c statement_timeout=1000")


def test_a_read_only_session_has_its_settings_in_each_transaction(pgbouncer, migrated_db):
    target = pooled(pgbouncer, migrated_db)
    with connect(
        target, read_only=True, autocommit=True, statement_timeout_ms=1234, pooler="transaction"
    ) as conn:
        reader = Reader(conn)
        settings = (
            "SELECT current_setting('statement_timeout'), current_setting('transaction_read_only')"
        )
        for _ in range(10):  # more often than psycopg's threshold for preparing a statement
            assert tuple(reader.one(settings)) == ("1234ms", "on")
        assert reader.value("SELECT count(*) FROM pg_prepared_statements") == 0
    with psycopg.connect(target, autocommit=True, prepare_threshold=None) as other:
        for _ in range(POOL_SIZE):  # no server connection of the pool kept them
            assert other.execute("SHOW statement_timeout").fetchone()[0] == "0"
            assert other.execute("SHOW default_transaction_read_only").fetchone()[0] == "off"


def test_the_pooler_is_seen_from_the_setting_or_the_port(pgbouncer, migrated_db):
    with connect(pooled(pgbouncer, migrated_db)) as conn:
        assert not transaction_pooled(conn)  # not on port 6543, and not declared
        assert transaction_pooled(conn, "transaction")
        assert not transaction_pooled(conn, "session")
    with connect(pooled(pgbouncer, migrated_db), pooler="transaction") as conn:
        assert conn.prepare_threshold is None


def test_advisory_locks_hold_through_the_pooler(pgbouncer, migrated_db):
    target = pooled(pgbouncer, migrated_db)
    with advisory_locks(target, ["source_a"], pooler="transaction") as taken:
        assert taken
        with advisory_locks(target, ["source_a"], pooler="transaction") as again:
            assert not again
        with advisory_locks(migrated_db, ["source_a", "source_b"]) as direct:
            assert not direct
        with advisory_locks(target, ["source_b"], pooler="transaction") as other:
            assert other
    with advisory_locks(migrated_db, ["source_a"]) as released:
        assert released


def test_migrations_apply_through_the_pooler(pgbouncer, empty_db):
    target = pooled(pgbouncer, empty_db)
    with connect(target, autocommit=True, pooler="transaction") as conn:
        apply_shim(conn)
    first = migrate(target, ROOT / "migrations", pooler="transaction")
    again = migrate(target, ROOT / "migrations", pooler="transaction")
    assert first.applied and not again.applied


def test_a_file_run_outside_a_transaction_is_refused_through_the_pooler(
    pgbouncer, shimmed_db, tmp_path
):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_t.sql").write_text("CREATE TABLE IF NOT EXISTS t (x int);")
    (folder / "0002_idx.sql").write_text(
        "-- selfheal: no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x);"
    )
    with pytest.raises(MigrationError, match="0002_idx.sql was not applied: .* direct connection"):
        migrate(pooled(pgbouncer, shimmed_db), folder, pooler="transaction")
    with psycopg.connect(shimmed_db) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone()[0] is None


def _load_through(target: str) -> None:
    environ = {"TZ": "America/Toronto", "SELFHEAL_POOLER": "transaction"}
    with serve_all(seed=11, now=NOW) as fakes:
        settings = fakes.configure(Settings.from_env(environ=environ, dotenv_path=None))
        results = [run(job, target, settings, options=JobOptions(now=NOW)) for job in JOBS]
    assert [(r.job, r.status, r.error) for r in results] == [(j, "succeeded", None) for j in JOBS]
    assert all(r.inserted > 0 for r in results)


def _checks(target: str, reports: Path, marks: str = CHECKS) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SUPABASE_DB_URL": target,
        "SELFHEAL_POOLER": "transaction",
        "SELFHEAL_REPORTS_DIR": str(reports),
        "SELFHEAL_BACKLOG_DIR": str(reports / "backlog"),
        "SELFHEAL_DQ_DIR": str(_incremental_rules(reports / "dq")),
    }
    command = [sys.executable, "-m", "pytest", "-m", marks, "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*command, f"--html={reports}/report.html"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    summary = result.stdout.splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary
    for refused in ("unsupported startup parameter", "prepared statement", "Traceback"):
        assert refused not in result.stdout + result.stderr
    return result


def _incremental_rules(folder: Path) -> Path:
    """The project's rule files, but events checked incrementally by rules that can be."""
    if not folder.exists():
        shutil.copytree(ROOT / "checks" / "dq", folder)
        (folder / "events.toml").write_text(INCREMENTAL_EVENTS, encoding="utf-8")
    return folder


INCREMENTAL_EVENTS = """table = "events"
incremental = "loaded_at"
[not_null]
columns = ["event_id", "user_id", "event_name"]
[unique]
key = "event_id"
[no_future]
columns = ["occurred_at", "received_at"]
tolerance = "5m"
[row_count]
min = 1
"""


def _written(dsn: str) -> tuple[list[tuple], int]:
    """The watermarks stored and the runs recorded in the history, read directly."""
    with psycopg.connect(dsn) as conn:
        marks = conn.execute(
            "SELECT table_name, watermark IS NOT NULL, full_at, verified_at"
            " FROM selfheal.dq_watermarks"
        ).fetchall()
        runs = conn.execute("SELECT count(*) FROM selfheal_history.runs").fetchone()[0]
    return marks, runs


def test_an_etl_load_and_the_checks_run_through_the_pooler(pgbouncer, migrated_db, tmp_path):
    """Also what the checks write: the DQ watermarks, then an incremental run from them, and the
    run history (its schema created by the first run, under its lock, through the pooler)."""
    target = pooled(pgbouncer, migrated_db)
    _load_through(target)
    _checks(target, tmp_path)
    (first, *others), _ = _written(migrated_db)
    assert first[:2] == ("public.events", True) and others == []
    _checks(target, tmp_path, "dq")
    (second,), runs = _written(migrated_db)
    # verified again, incrementally: the last full scan is still the first run's
    assert second[3] > first[3] and second[2] == first[2]
    assert runs == 2


def test_a_doctor_heal_runs_through_the_pooler(pgbouncer, migrated_db):
    """An exposure closed and a dropped function restored (with its settings in force in each
    repair's transaction), and no server connection of the pool kept those settings."""
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute("ALTER TABLE public.events DISABLE ROW LEVEL SECURITY")
        conn.execute("DROP FUNCTION public.upsert_events(jsonb)")
    environ = {"SELFHEAL_POOLER": "transaction"}
    ctx = Context(pooled(pgbouncer, migrated_db), Settings.from_env(environ, dotenv_path=None))
    remedy, failure = RestoreSchema(), Problem(SCHEMA_MISSING, "public.events", "")
    actions = remedy.actions(ctx, [failure])
    assert remedy.apply(ctx, actions) == {}
    assert remedy.remaining(ctx, [failure]) == []
    with psycopg.connect(ctx.dsn, autocommit=True, prepare_threshold=None) as other:
        for _ in range(POOL_SIZE):
            assert other.execute("SHOW lock_timeout").fetchone()[0] == "0"
            assert other.execute("SHOW check_function_bodies").fetchone()[0] == "on"
