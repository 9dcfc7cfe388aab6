"""The role boundary: selfheal_reader from migration 0005, when it is in force and when it is not.

Roles belong to the server, not to one database, so each case names its own role.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from selfheal.core.db import connect
from selfheal.core.readonly import READER_ROLE, Reader, boundary
from selfheal.dq.config import load_suite
from selfheal.dq.runner import Runner


def execute(dsn: str, statement: str | sql.Composable) -> None:
    with connect(dsn, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def role_name(admin_dsn: str) -> Iterator[str]:
    """A fresh role name, dropped (with what it owns and was granted) afterwards."""
    name = f"probe_{uuid.uuid4().hex[:10]}"
    yield name
    with connect(admin_dsn, autocommit=True) as conn:
        role = sql.Identifier(name)
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        if exists:
            conn.execute(sql.SQL("DROP ROLE {}").format(role))


def test_reader_role_is_in_force_on_a_migrated_database(migrated_db: str) -> None:
    with connect(migrated_db, read_only=True, autocommit=True) as conn:
        found = boundary(conn)
    assert found.role == READER_ROLE, found.reason
    assert "SELECT only" in found.summary


def test_reader_role_cannot_write_even_outside_a_read_only_transaction(migrated_db: str) -> None:
    with connect(migrated_db) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(READER_ROLE)))
        for statement in (
            "DELETE FROM public.events",
            "INSERT INTO public.etl_runs (source) VALUES ('x')",
            "CREATE TABLE public.stolen (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)


def test_rule_sql_as_the_reader_sees_every_row_despite_rls(
    migrated_db: str, tmp_path: Path
) -> None:
    """events has row-level security and no policy for selfheal_reader: BYPASSRLS is why the
    data-quality count is the table's, not zero."""
    execute(
        migrated_db,
        "INSERT INTO public.events (event_id, user_id, event_name, occurred_at, received_at)"
        " SELECT gen_random_uuid()::text, gen_random_uuid(), 'login', now(), now()"
        " FROM generate_series(1, 7)",
    )
    (tmp_path / "events.toml").write_text(
        'table = "events"\n[row_count]\nmin = 7\nmax = 7\nwhere = "event_name = \'login\'"\n'
    )
    suite = load_suite(tmp_path)
    with connect(migrated_db, read_only=True, autocommit=True) as conn:
        runner = Runner(conn, suite, zone="UTC", statement_timeout_ms=5000, role=READER_ROLE)
        result = runner.result("events.row_count")
    assert result.status == "pass", result.message


def test_no_such_role_keeps_to_the_transaction_boundary(migrated_db: str, role_name: str) -> None:
    with connect(migrated_db, autocommit=True) as conn:
        found = boundary(conn, role=role_name)
    assert found.role is None
    assert f"no role {role_name}" in found.reason
    assert "only" in found.summary


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("CREATE ROLE {r} NOLOGIN", "lacks BYPASSRLS"),
        ("CREATE ROLE {r} NOLOGIN BYPASSRLS; GRANT INSERT ON public.events TO {r}", "may write"),
        ("CREATE ROLE {r} NOLOGIN SUPERUSER", "superuser"),
    ],
    ids=["without-bypassrls", "with-a-write-grant", "superuser"],
)
def test_a_role_that_is_no_boundary_is_not_used(
    migrated_db: str, role_name: str, setup: str, reason: str
) -> None:
    execute(migrated_db, sql.SQL(setup).format(r=sql.Identifier(role_name)))
    try:
        with connect(migrated_db, autocommit=True) as conn:
            found = boundary(conn, role=role_name)
        assert found.role is None
        assert reason in found.reason
    finally:
        execute(migrated_db, sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role_name)))


def test_a_reader_that_may_not_read_a_checked_table_is_not_used(migrated_db: str) -> None:
    execute(migrated_db, "CREATE SCHEMA elsewhere; CREATE TABLE elsewhere.t (x int)")
    with connect(migrated_db, autocommit=True) as conn:
        assert boundary(conn, ["public"]).role == READER_ROLE
        found = boundary(conn, ["public", "elsewhere"])
    assert found.role is None
    assert "may not read 1 checked tables (elsewhere.t)" in found.reason


def test_a_login_that_may_not_set_role_is_told_the_grant(migrated_db: str, role_name: str) -> None:
    execute(migrated_db, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role_name)))
    dsn = psycopg.conninfo.make_conninfo(migrated_db, user=role_name)
    with connect(dsn, autocommit=True) as conn:
        found = boundary(conn)
        assert Reader(conn).value("SELECT current_user") == role_name
    assert found.role is None
    assert f"GRANT {READER_ROLE} TO {role_name}" in found.reason
