"""The Supabase shim: on plain PostgreSQL, create what Supabase provides before migrations run.

Roles `anon`, `authenticated`, `service_role` (BYPASSRLS), the `auth` schema with `auth.uid()`,
`auth.role()` and `auth.jwt()` reading the request's JWT claims exactly as Supabase does, and the
grants Supabase gives those roles on `public`. A database that already has `auth.uid()` is a real
Supabase (or already shimmed) and is left untouched.
"""

from __future__ import annotations

import psycopg

SUPABASE_ROLES = ("anon", "authenticated", "service_role")

_ROLES_SQL = """
DO $shim$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
END
$shim$;
"""

_AUTH_SQL = """
CREATE SCHEMA IF NOT EXISTS auth;

CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

CREATE OR REPLACE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE SET search_path = '' AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = '' AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT EXECUTE ON FUNCTIONS TO anon, authenticated, service_role;
"""


def has_supabase_auth(conn: psycopg.Connection) -> bool:
    """True when `auth.uid()` already exists (a real Supabase project, or shimmed before)."""
    row = conn.execute("SELECT to_regprocedure('auth.uid()') IS NOT NULL").fetchone()
    return bool(row and row[0])


def apply_shim(conn: psycopg.Connection) -> bool:
    """Create the roles and the auth functions unless present; True when it changed anything."""
    if has_supabase_auth(conn):
        return False
    with conn.transaction():
        conn.execute(_ROLES_SQL)
        conn.execute(_AUTH_SQL)
    return True
