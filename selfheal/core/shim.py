"""The Supabase shim: on plain PostgreSQL, create what Supabase provides before migrations run.

Roles `anon`, `authenticated`, `service_role` (BYPASSRLS), the `auth` schema with `auth.uid()`,
`auth.role()` and `auth.jwt()` reading the request's JWT claims exactly as Supabase does, the
grants and default privileges Supabase gives those roles on `public`, and membership of the
connecting role in the three (so that probes can SET ROLE, as Supabase's `postgres` can). A database
that already has `auth.uid()` is a real Supabase (or already shimmed) and is left untouched.

`platform_gaps` says, read-only, what of that a target lacks: preflight fails on each gap, and
`selfheal target prepare` closes them with `prepare_target`.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from selfheal.core.readonly import Reader, ReadTransaction

SUPABASE_ROLES = ("anon", "authenticated", "service_role")
AUTH_FUNCTIONS = ("auth.uid()", "auth.role()", "auth.jwt()")
# Whether a function exists, read from the catalog: to_regprocedure() fails outright for a role
# without USAGE on its schema, which is no reason to say it is missing.
_MISSING_FUNCTIONS = sql.SQL("""
array(SELECT name FROM unnest(%(functions)s::text[]) AS name
      WHERE NOT EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE format('%%s.%%s()', n.nspname, p.proname) = name
                          AND p.pronargs = 0)
      ORDER BY 1)
""")
PREPARE = "on plain PostgreSQL, `selfheal target prepare` creates it"
PREPARE_REMEDY = "on plain PostgreSQL run `selfheal target prepare`, which adds what is missing"

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
"""

# Supabase's default privileges: every table, sequence and function its creator makes in public
# is granted to the API roles. The expected schema is built both with and without them, so that
# its grants can follow the default privileges the target actually has (schema/platform.py).
_DEFAULT_PRIVILEGES_SQL = """
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT EXECUTE ON FUNCTIONS TO anon, authenticated, service_role;
"""


def has_supabase_auth(conn: psycopg.Connection) -> bool:
    """True when `auth.uid()` already exists (a real Supabase project, or shimmed before)."""
    query = sql.SQL("SELECT cardinality({}) = 0").format(_MISSING_FUNCTIONS)
    return conn.execute(query, {"functions": ["auth.uid()"]}).fetchone()[0]


def apply_shim(conn: psycopg.Connection, *, default_privileges: bool = True) -> bool:
    """Create the roles and the auth functions unless present, and Supabase's default privileges
    unless told not to; True when it changed anything."""
    if has_supabase_auth(conn):
        return False
    with conn.transaction():
        conn.execute(_ROLES_SQL)
        conn.execute(_AUTH_SQL)
        if default_privileges:
            conn.execute(_DEFAULT_PRIVILEGES_SQL)
    return True


_PLATFORM_FACTS = sql.SQL("""
SELECT array(SELECT name FROM unnest(%(roles)s::text[]) AS name
             WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) ORDER BY 1),
       {},
       array(SELECT rolname FROM pg_roles
             WHERE rolname = ANY(%(roles)s) AND NOT pg_has_role(current_user, oid, 'MEMBER')
             ORDER BY 1),
       current_user
""").format(_MISSING_FUNCTIONS)


@dataclass(frozen=True)
class PlatformGap:
    """One thing Supabase provides that the target lacks."""

    object: str  # the role or function, as `quote_ident` would print it
    message: str


def platform_gaps(reader: Reader | ReadTransaction) -> list[PlatformGap]:
    """What of Supabase's platform the target lacks, read through the read-only executor."""
    params = {"roles": list(SUPABASE_ROLES), "functions": list(AUTH_FUNCTIONS)}
    roles, functions, not_member, user = reader.one(_PLATFORM_FACTS, params)
    gaps = [PlatformGap(r, f"role {r} does not exist ({PREPARE})") for r in roles]
    gaps += [PlatformGap(f, f"function {f} does not exist ({PREPARE})") for f in functions]
    gaps += [
        PlatformGap(
            role,
            f"the connecting role {user} is not a member of {role}, so RLS probes cannot "
            f"SET ROLE {role}: GRANT {role} TO {user} (`selfheal target prepare` does it)",
        )
        for role in not_member
    ]
    return gaps


def _grant_membership(conn: psycopg.Connection) -> list[str]:
    """Make the connecting role a member of each Supabase role it cannot SET ROLE to yet."""
    user, missing = conn.execute(
        "SELECT current_user, array(SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)"
        " AND NOT pg_has_role(current_user, oid, 'MEMBER') ORDER BY 1)",
        (list(SUPABASE_ROLES),),
    ).fetchone()
    for role in missing:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(user)))
    return [f"granted {role} to {user}" for role in missing]


def prepare_target(conn: psycopg.Connection) -> list[str]:
    """What `selfheal target prepare` does, on an autocommit connection: the shim where Supabase's
    auth is absent, and the connecting role's membership; returns what it did (empty: nothing
    was missing). A real Supabase's platform is never replaced."""
    done = []
    if apply_shim(conn):
        done.append(
            f"created roles {', '.join(SUPABASE_ROLES)} (where missing), schema auth with "
            f"{', '.join(AUTH_FUNCTIONS)}, and Supabase's grants and default privileges on public"
        )
    with conn.transaction():
        done += _grant_membership(conn)
    return done
