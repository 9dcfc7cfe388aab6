"""Plain PostgreSQL as a live target: preflight names what Supabase would provide and is missing,
`selfheal target prepare` adds it (once), and then the migrations and the checks are green."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from selfheal.core.db import connect, create_database
from selfheal.core.embedded import start_embedded
from selfheal.core.readonly import Reader
from selfheal.core.shim import platform_gaps
from selfheal.rls.access import load_access
from selfheal.rls.probes import ProbeUnavailable, baseline

ROOT = Path(__file__).resolve().parents[2]
CHECKS = "preflight or schema or rls"
AUTH = ["auth.jwt()", "auth.role()", "auth.uid()"]


def _run(args: list[str], dsn: str, reports: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "SELFHEAL_"))}
    env.update(
        SUPABASE_DB_URL=dsn,
        SELFHEAL_REPORTS_DIR=str(reports),
        SELFHEAL_BACKLOG_DIR=str(reports / "backlog"),
    )
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def _selfheal(dsn: str, reports: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "selfheal", *args], dsn, reports)


def _checks(dsn: str, reports: Path, marks: str, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "-m", marks, "-q", "-p", "no:cacheprovider"]
    return _run([*command, *options, f"--html={reports}/report.html"], dsn, reports)


@pytest.fixture(scope="module")
def plain_server() -> Iterator[str]:
    """A server of its own: the Supabase roles are cluster-wide, and this one has none."""
    with start_embedded() as server:
        yield create_database(server.dsn(), "app")


def _gaps(dsn: str) -> list[str]:
    with connect(dsn, read_only=True, autocommit=True) as conn:
        return [gap.object for gap in platform_gaps(Reader(conn))]


def test_plain_postgres_from_empty_to_green_with_prepare_only(plain_server, tmp_path):
    dsn = plain_server
    assert _gaps(dsn) == ["anon", "authenticated", "service_role", *AUTH]

    failed = _checks(dsn, tmp_path, "preflight", "-k", "platform")
    assert failed.returncode == 1
    assert (
        "role anon does not exist" in failed.stdout and "selfheal target prepare" in failed.stdout
    )

    prepared = _selfheal(dsn, tmp_path, "target", "prepare")
    assert prepared.returncode == 0, prepared.stderr
    assert "created roles anon, authenticated, service_role" in prepared.stdout
    again = _selfheal(dsn, tmp_path, "target", "prepare")
    assert again.returncode == 0 and "nothing done" in again.stdout, again.stdout + again.stderr
    assert _gaps(dsn) == []

    migrated = _selfheal(dsn, tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    checked = _checks(dsn, tmp_path, CHECKS)
    assert checked.returncode == 0, checked.stdout[-4000:]
    summary = checked.stdout.splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary


@pytest.fixture
def login(migrated_db: str, admin_dsn: str) -> Iterator[str]:
    """A login role that owns nothing and is a member of no Supabase role."""
    name = f"probe_login_{os.getpid()}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN BYPASSRLS").format(sql.Identifier(name)))
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                sql.Identifier(name)
            )
        )
    try:
        yield psycopg.conninfo.make_conninfo(migrated_db, user=name)
    finally:
        with psycopg.connect(migrated_db, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_a_login_that_may_not_set_role_is_named_by_preflight_and_the_probes(login):
    access = load_access(ROOT / "checks" / "rls_access.toml")[0]
    with connect(login, read_only=True, autocommit=True) as conn:
        gaps = platform_gaps(Reader(conn))
        with pytest.raises(ProbeUnavailable) as refused:
            baseline(conn, access)
    user = login.split("user=")[1].split()[0]
    assert [gap.object for gap in gaps] == ["anon", "authenticated", "service_role"]
    assert f"GRANT anon TO {user}" in gaps[0].message
    assert f"{user} is not a member of anon" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_declared_table_that_does_not_exist_cannot_be_probed(shimmed_db):
    access = load_access(ROOT / "checks" / "rls_access.toml")[0]
    with (
        connect(shimmed_db, read_only=True, autocommit=True) as conn,
        pytest.raises(ProbeUnavailable, match="does not exist on the target") as refused,
    ):
        baseline(conn, access)
    assert refused.value.remedy.startswith("apply the migrations")
