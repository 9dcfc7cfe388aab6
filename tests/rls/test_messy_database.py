"""A messy Supabase-like database: every finding Supabase's linter (splinter) reports on it is
reported here too, with splinter's name, level and cache key; every fix the lints print runs.

The expected findings were written by reading splinter's SQL (the dashboard's copy of
splinter.sql, and lints/0023 and 0024): which relations each lint reads (`relkind = 'r'` takes
partitions but not their partitioned parent), which schemas it skips, and how its cache key
formats names (raw `nspname`/`relname`/`polname`/`conname`; the foreign key's schema as
`regnamespace` text, quoted as `quote_ident` quotes). Our lints may report more (a partitioned
parent without a key, `rls_no_select_policy`), never fewer.
"""

from __future__ import annotations

import hashlib

import psycopg
import pytest

from selfheal.rls.exposure import read_usage
from selfheal.rls.lints import LintFinding, run_lints
from tests.rls.conftest import run_checks

LONG = "ü" * 31 + "x"  # 63 bytes: as long as a name can be
ORDERS = 'public."Order ""Items"" ü"'

MESSY = f"""
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text UNIQUE);
CREATE EXTENSION citext SCHEMA public VERSION '1.4';
CREATE EXTENSION "uuid-ossp" SCHEMA public;
CREATE EXTENSION file_fdw SCHEMA public;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE TYPE public."Mood ü" AS ENUM ('happy', 'sad');

CREATE TABLE public."select" (password text, cfg regconfig, mood public."Mood ü");

CREATE TABLE {ORDERS} (
    id int PRIMARY KEY, owner uuid,
    parent int CONSTRAINT "parent ""fk"" 1" REFERENCES {ORDERS} (id));
ALTER TABLE {ORDERS} ENABLE ROW LEVEL SECURITY;
CREATE POLICY "own rows" ON {ORDERS} FOR SELECT TO authenticated USING (owner = auth.uid());

CREATE TABLE public."{LONG}" (id int PRIMARY KEY);
ALTER TABLE public."{LONG}" ENABLE ROW LEVEL SECURITY;

CREATE TABLE public.readings (at date NOT NULL, value int) PARTITION BY RANGE (at);
ALTER TABLE public.readings ENABLE ROW LEVEL SECURITY;
CREATE POLICY "read all" ON public.readings FOR SELECT TO authenticated
    USING ((select auth.uid()) IS NOT NULL);
CREATE TABLE public.readings_2024 PARTITION OF public.readings
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public."readings 2025" PARTITION OF public.readings
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
ALTER TABLE public."readings 2025" ENABLE ROW LEVEL SECURITY;

CREATE TABLE public.notes (id int PRIMARY KEY, owner uuid, body text);
CREATE INDEX notes_owner_idx ON public.notes (owner);
CREATE INDEX "notes owner, again" ON public.notes (owner);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY "anyone edits" ON public.notes FOR UPDATE TO anon USING (true);
CREATE POLICY mine ON public.notes FOR SELECT TO authenticated
    USING (owner = (select auth.uid()));
CREATE POLICY admins ON public.notes FOR SELECT TO authenticated
    USING (((select auth.jwt()) -> 'user_metadata' ->> 'role') = 'admin');

CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."Tab" (
    id int PRIMARY KEY, owner uuid, note int CONSTRAINT "note fk" REFERENCES public.notes (id));
ALTER TABLE "My Schema"."Tab" ENABLE ROW LEVEL SECURITY;
CREATE UNIQUE INDEX "Tab id" ON "My Schema"."Tab" (id);
CREATE POLICY p ON "My Schema"."Tab" FOR ALL TO authenticated USING (owner = auth.uid());

CREATE TABLE public.profile_emails (
    id int PRIMARY KEY, email text CONSTRAINT "email → auth" REFERENCES auth.users (email));

CREATE VIEW public."user view" AS SELECT id, owner FROM {ORDERS};
CREATE VIEW public.profiles AS SELECT id, email FROM auth.users;
CREATE MATERIALIZED VIEW public."Stats MV" AS SELECT count(*) AS n FROM public."select";
CREATE FOREIGN TABLE public."Remote Rows" (a int) SERVER files OPTIONS (filename '/dev/null');

CREATE FUNCTION public."Weird Fn"(x int) RETURNS int LANGUAGE sql AS 'select x + 1';
CREATE FUNCTION public."Weird Fn"(x text) RETURNS text LANGUAGE sql AS 'select x';
"""


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


# (name, level, cache key) of every finding splinter reports on MESSY.
SPLINTER = {
    (
        "unindexed_foreign_keys",
        "info",
        'unindexed_foreign_keys_public_Order "Items" ü_parent "fk" 1',
    ),
    ("unindexed_foreign_keys", "info", 'unindexed_foreign_keys_"My Schema"_Tab_note fk'),
    ("unindexed_foreign_keys", "info", "unindexed_foreign_keys_public_profile_emails_email → auth"),
    ("auth_users_exposed", "error", "auth_users_exposed_public_profiles"),
    ("auth_rls_initplan", "warn", 'auth_rls_init_plan_public_Order "Items" ü_own rows'),
    ("auth_rls_initplan", "warn", "auth_rls_init_plan_My Schema_Tab_p"),
    ("no_primary_key", "info", "no_primary_key_public_select"),
    ("no_primary_key", "info", "no_primary_key_public_readings_2024"),
    ("no_primary_key", "info", "no_primary_key_public_readings 2025"),
    ("unused_index", "info", "unused_index_public_notes_notes_owner_idx"),
    ("unused_index", "info", "unused_index_public_notes_notes owner, again"),
    (
        "duplicate_index",
        "warn",
        'duplicate_index_public_notes_{"notes owner, again",notes_owner_idx}',
    ),
    ("duplicate_index", "warn", 'duplicate_index_My Schema_Tab_{"Tab id",Tab_pkey}'),
    (
        "multiple_permissive_policies",
        "warn",
        "multiple_permissive_policies_public_notes_authenticated_SELECT",
    ),
    ("rls_enabled_no_policy", "info", f"rls_enabled_no_policy_public_{LONG}"),
    ("rls_enabled_no_policy", "info", "rls_enabled_no_policy_public_readings 2025"),
    ("security_definer_view", "error", "security_definer_view_public_user view"),
    ("security_definer_view", "error", "security_definer_view_public_profiles"),
    (
        "function_search_path_mutable",
        "warn",
        f"function_search_path_mutable_public_Weird Fn_{_md5('select x + 1')}",
    ),
    (
        "function_search_path_mutable",
        "warn",
        f"function_search_path_mutable_public_Weird Fn_{_md5('select x')}",
    ),
    ("rls_disabled_in_public", "error", "rls_disabled_in_public_public_select"),
    ("rls_disabled_in_public", "error", "rls_disabled_in_public_public_readings_2024"),
    ("rls_disabled_in_public", "error", "rls_disabled_in_public_public_profile_emails"),
    ("extension_in_public", "warn", "extension_in_public_citext"),
    ("extension_versions_outdated", "warn", "extension_versions_outdated_citext_1.4"),
    ("extension_in_public", "warn", "extension_in_public_uuid-ossp"),
    ("extension_in_public", "warn", "extension_in_public_file_fdw"),
    ("rls_references_user_metadata", "error", "rls_references_user_metadata_public_notes_admins"),
    ("materialized_view_in_api", "warn", "materialized_view_in_api_public_Stats MV"),
    ("foreign_table_in_api", "warn", "foreign_table_in_api_public_Remote Rows"),
    ("unsupported_reg_types", "warn", "unsupported_reg_types_public_select_cfg"),
    ("fkey_to_auth_unique", "error", "fkey_to_auth_unique_public_profile_emails_email → auth"),
    ("sensitive_columns_exposed", "error", "sensitive_columns_exposed_public_select"),
    ("rls_policy_always_true", "warn", "rls_policy_always_true_public_notes_anyone edits"),
}


@pytest.fixture
def messy_db(shimmed_db: str, execute) -> str:
    """Built on Supabase's roles and default privileges (the shim), as a project would be."""
    execute(shimmed_db, MESSY)
    return shimmed_db


def _findings(dsn: str, snapshot_of) -> list[LintFinding]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        usage = read_usage(conn)
    return run_lints(snapshot_of(dsn), usage=usage)


def test_every_splinter_finding_is_reported_with_its_name_level_and_key(messy_db, snapshot_of):
    found = {(f.lint, f.level, f.cache_key) for f in _findings(messy_db, snapshot_of)}
    assert sorted(SPLINTER - found) == []


def _statements(remediation: str) -> list[str]:
    """The SQL of a remediation: its "; "-separated parts that are statements, not advice or
    templates (see LintFinding.remediation)."""
    return [
        part
        for part in remediation.split("; ")
        if part[:1].isupper() and "..." not in part and part.split()[0].isupper()
    ]


def test_every_fix_printed_is_valid_sql_for_its_object(messy_db, snapshot_of):
    """Each statement runs as printed: the right command for the object's kind (ALTER VIEW for
    a view, REVOKE for a materialized view) and every identifier quoted as quote_ident does."""
    findings = _findings(messy_db, snapshot_of)
    statements = [s for f in findings for s in _statements(f.remediation)]
    commands = {" ".join(statement.split()[:2]) for statement in statements}
    assert commands >= {
        "ALTER TABLE",
        "ALTER VIEW",
        "ALTER FUNCTION",
        "ALTER EXTENSION",  # SET SCHEMA, UPDATE
        "REVOKE SELECT",
        "CREATE INDEX",
        "DROP INDEX",
    }
    with psycopg.connect(messy_db) as conn:
        for finding in findings:  # a fix's statements run together, then are rolled back
            with conn.transaction(force_rollback=True):
                for statement in _statements(finding.remediation):
                    if "CONCURRENTLY" not in statement:
                        conn.execute(statement)
    with psycopg.connect(messy_db, autocommit=True) as conn:
        # once each: an index one fix drops as a duplicate another drops as unused
        for statement in dict.fromkeys(s for s in statements if "CONCURRENTLY" in s):
            conn.execute(statement)


def test_the_rls_checks_on_the_messy_database_fail_in_one_line_each(messy_db, tmp_path):
    """The lints fail, the access probes of tables that do not exist there are skipped with the
    reason (the schema checks own a missing table), and nothing raises."""
    result = run_checks(messy_db, tmp_path, "-m", "rls", "-rs")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "UndefinedTable" not in output
    assert "public.events does not exist: the schema checks say why" in output
