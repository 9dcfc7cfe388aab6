import os
from pathlib import Path

import psycopg
import pytest

from selfheal.core.db import DatabaseUnreachable, connect
from selfheal.core.shim import SUPABASE_ROLES, apply_shim, has_supabase_auth


def test_embedded_server_runs_unprivileged(pg_server):
    with psycopg.connect(pg_server.dsn()) as conn:
        datadir = Path(conn.execute("SHOW data_directory").fetchone()[0])
        fsync = conn.execute("SHOW fsync").fetchone()[0]
    assert datadir.is_relative_to(pg_server.base_dir)
    assert fsync == "off"  # a throwaway server trades durability for speed
    if os.geteuid() == 0:
        assert datadir.stat().st_uid != 0, "initdb/pg_ctl must not run as root"


def test_shim_creates_roles_and_auth_functions(shimmed_db):
    with psycopg.connect(shimmed_db) as conn:
        roles = dict(
            conn.execute(
                "SELECT rolname, rolbypassrls FROM pg_roles WHERE rolname = ANY(%s)",
                (list(SUPABASE_ROLES),),
            ).fetchall()
        )
        assert roles == {"anon": False, "authenticated": False, "service_role": True}
        conn.execute(
            "SELECT set_config('request.jwt.claims', %s, true)",
            ('{"sub": "6f1c1f3e-4a7b-4a53-9a0c-1d6c2f0b8a11", "role": "authenticated"}',),
        )
        uid, role, jwt = conn.execute("SELECT auth.uid(), auth.role(), auth.jwt()").fetchone()
        assert str(uid) == "6f1c1f3e-4a7b-4a53-9a0c-1d6c2f0b8a11"
        assert role == "authenticated"
        assert jwt["role"] == "authenticated"


def test_auth_uid_is_null_without_claims(shimmed_db):
    with psycopg.connect(shimmed_db) as conn:
        assert conn.execute("SELECT auth.uid(), auth.jwt()").fetchone() == (None, None)


def test_shim_leaves_an_existing_auth_alone(shimmed_db):
    with psycopg.connect(shimmed_db, autocommit=True) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS "
            "$$ SELECT '00000000-0000-0000-0000-000000000001'::uuid $$"
        )
        assert has_supabase_auth(conn)
        assert apply_shim(conn) is False
        uid = conn.execute("SELECT auth.uid()").fetchone()[0]
    assert str(uid) == "00000000-0000-0000-0000-000000000001"


def test_read_only_session_refuses_writes(migrated_db):
    with (
        connect(migrated_db, read_only=True, autocommit=True) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("INSERT INTO public.etl_runs (source) VALUES ('x')")


def test_unreachable_database_names_host_and_port_not_password():
    dsn = "postgresql://app:pw-never-shown@127.0.0.1:1/prod"
    with pytest.raises(DatabaseUnreachable) as caught:
        connect(dsn, connect_timeout=2)
    assert "127.0.0.1:1" in str(caught.value)
    assert "pw-never-shown" not in str(caught.value)
