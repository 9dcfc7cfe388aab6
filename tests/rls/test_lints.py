"""Every lint has a case it must report and a near miss it must not."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from selfheal.core.db import connect
from selfheal.rls.exposure import read_usage
from selfheal.rls.lints import LINTS, LintConfig, array_text, run_lints
from selfheal.rls.waivers import Waiver, WaiverError, apply_waivers, load_waivers

T = "CREATE TABLE public.t (id int PRIMARY KEY, owner uuid);"
RLS = "ALTER TABLE public.t ENABLE ROW LEVEL SECURITY;"
AUTH_USERS = "CREATE TABLE IF NOT EXISTS auth.users (id uuid PRIMARY KEY, email text UNIQUE);"
NO_API = "REVOKE ALL ON {} FROM anon, authenticated, PUBLIC;"
FOREIGN = (
    "CREATE EXTENSION file_fdw SCHEMA public; CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;"
    "CREATE SCHEMA private; CREATE FOREIGN TABLE {}.ft (a int) SERVER files "
    "OPTIONS (filename '/dev/null'); GRANT SELECT ON {}.ft TO anon;"
)

# lint: (setup that must be reported, the reported object's label, a near miss that must not)
CASES = {
    "rls_disabled_in_public": (T, "public.t", T + RLS),
    "policy_exists_rls_disabled": (
        T + "CREATE POLICY p ON public.t FOR SELECT USING (true);",
        "public.t",
        T + RLS + "CREATE POLICY p ON public.t FOR SELECT USING (true);",
    ),
    "rls_enabled_no_policy": (
        T + RLS,
        "public.t",
        T + RLS + "CREATE POLICY p ON public.t FOR SELECT USING (true);",
    ),
    "rls_no_select_policy": (
        T + RLS + "CREATE POLICY w ON public.t FOR DELETE USING (owner = (select auth.uid()));",
        "public.t",
        T + RLS + "CREATE POLICY a ON public.t FOR ALL USING (owner = (select auth.uid()));",
    ),
    "rls_policy_always_true": (
        T + RLS + "CREATE POLICY w ON public.t FOR INSERT TO authenticated WITH CHECK (true);",
        "public.t.w",
        T + RLS + "CREATE POLICY w ON public.t FOR INSERT TO service_role WITH CHECK (true);",
    ),
    "multiple_permissive_policies": (
        T + RLS + "CREATE POLICY a ON public.t FOR SELECT TO authenticated USING (true);"
        "CREATE POLICY b ON public.t FOR ALL TO public USING (owner IS NULL);",
        "public.t",
        T + RLS + "CREATE POLICY a ON public.t FOR SELECT TO authenticated USING (true);"
        "CREATE POLICY b ON public.t AS RESTRICTIVE FOR ALL TO public USING (owner IS NULL);",
    ),
    "auth_rls_initplan": (
        T + RLS + "CREATE POLICY p ON public.t FOR SELECT USING ("
        "owner = (select auth.uid()) OR current_setting('app.x', true) = 'y');",
        "public.t.p",
        T + RLS + "CREATE POLICY p ON public.t FOR SELECT USING ("
        "owner = (select auth.uid()) OR (select current_setting('app.x', true)) = 'y');",
    ),
    "security_definer_view": (
        "CREATE VIEW public.v AS SELECT event_id FROM public.events;",
        "public.v",
        "CREATE VIEW public.v WITH (security_invoker = true) AS SELECT event_id FROM public.events;",
    ),
    "function_search_path_mutable": (
        "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'select 1';",
        "public.f()",
        "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET search_path = '' AS 'select 1';",
    ),
    "unindexed_foreign_keys": (
        "CREATE TABLE public.c (a int, b int REFERENCES public.etl_runs, PRIMARY KEY (a, b));",
        "public.c.c_b_fkey",
        # Covered by the composite primary key's leading column: splinter misses this one.
        "CREATE TABLE public.c (a int, b int REFERENCES public.etl_runs, PRIMARY KEY (b, a));",
    ),
    "no_primary_key": (
        "CREATE TABLE public.n (a int, d date) PARTITION BY RANGE (d);"
        "CREATE TABLE public.n1 PARTITION OF public.n FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');",
        ("public.n", "public.n1"),  # the parent and each partition, as splinter reports them
        "CREATE TABLE public.n (a int, d date, PRIMARY KEY (a, d)) PARTITION BY RANGE (d);"
        "CREATE TABLE public.n1 PARTITION OF public.n FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');",
    ),
    "extension_in_public": (
        "CREATE EXTENSION hstore SCHEMA public;",
        "hstore",
        "CREATE SCHEMA extensions; CREATE EXTENSION hstore SCHEMA extensions;",
    ),
    "materialized_view_in_api": (
        "CREATE MATERIALIZED VIEW public.mv AS SELECT 1 AS x;",
        "public.mv",
        "CREATE MATERIALIZED VIEW public.mv AS SELECT 1 AS x;" + NO_API.format("public.mv"),
    ),
    "foreign_table_in_api": (
        FOREIGN.format("public", "public"),
        "public.ft",
        FOREIGN.format("private", "private"),
    ),
    "auth_users_exposed": (
        AUTH_USERS + "CREATE VIEW public.people AS SELECT id, email FROM auth.users;",
        "public.people",
        AUTH_USERS
        + "CREATE VIEW public.people AS SELECT id, email FROM auth.users;"
        + NO_API.format("public.people"),
    ),
    "rls_references_user_metadata": (
        T + RLS + "CREATE POLICY m ON public.t FOR SELECT USING ("
        "((select auth.jwt()) -> 'user_metadata' ->> 'role') = 'admin');",
        "public.t.m",
        T + RLS + "CREATE POLICY m ON public.t FOR SELECT USING ("
        "((select auth.jwt()) -> 'app_metadata' ->> 'role') = 'admin');",
    ),
    "fkey_to_auth_unique": (
        AUTH_USERS + "CREATE TABLE public.profile (email text REFERENCES auth.users (email));",
        "public.profile.profile_email_fkey",
        AUTH_USERS + "CREATE TABLE public.profile (id uuid REFERENCES auth.users (id));",
    ),
    "unsupported_reg_types": (
        "CREATE TABLE public.r (id int PRIMARY KEY, f regproc);",
        "public.r.f",
        "CREATE TABLE public.r (id int PRIMARY KEY, f regclass);",
    ),
    "extension_versions_outdated": (
        "CREATE EXTENSION citext SCHEMA public VERSION '1.4';",
        "citext",
        "CREATE EXTENSION citext SCHEMA public;",
    ),
    "duplicate_index": (
        T + "CREATE INDEX a ON public.t (owner); CREATE INDEX b ON public.t (owner);",
        "public.t",
        T + "CREATE INDEX a ON public.t (owner); CREATE INDEX b ON public.t (owner) "
        "WHERE owner IS NOT NULL;",
    ),
    "sensitive_columns_exposed": (
        'CREATE TABLE public.accounts (id int PRIMARY KEY, "Password" text, api_key text);',
        "public.accounts",
        'CREATE TABLE public.accounts (id int PRIMARY KEY, "Password" text, api_key text);'
        "ALTER TABLE public.accounts ENABLE ROW LEVEL SECURITY;",
    ),
}
# Lints that need more than a snapshot: their own tests below.
NEEDS_MORE = {"insecure_queue_exposed_in_api", "unused_index"}


def test_every_lint_has_cases():
    assert set(CASES) | NEEDS_MORE == set(LINTS)


def test_migrated_domain_is_clean(migrated_db, snapshot_of):
    assert run_lints(snapshot_of(migrated_db)) == []


@pytest.mark.parametrize("lint", CASES, ids=str)
def test_positive(lint, migrated_db, execute, snapshot_of):
    setup, labels, _ = CASES[lint]
    execute(migrated_db, setup)
    findings = run_lints(snapshot_of(migrated_db), only=(lint,))
    assert [f.label for f in findings] == ([labels] if isinstance(labels, str) else list(labels))
    for found in findings:
        assert found.level in ("error", "warn", "info") and found.remediation
        assert found.cache_key.startswith(SPLINTER_KEY_PREFIX.get(lint, lint))


@pytest.mark.parametrize("lint", CASES, ids=str)
def test_negative(lint, migrated_db, execute, snapshot_of):
    _, _, near_miss = CASES[lint]
    execute(migrated_db, near_miss)
    assert run_lints(snapshot_of(migrated_db), only=(lint,)) == []


SPLINTER_KEY_PREFIX = {
    "auth_rls_initplan": "auth_rls_init_plan_",
}


def test_partition_of_keyed_parent_is_not_reported(migrated_db, execute, snapshot_of):
    execute(migrated_db, CASES["no_primary_key"][2])
    assert run_lints(snapshot_of(migrated_db), only=("no_primary_key",)) == []


def test_exposed_schemas_are_configurable(migrated_db, execute, snapshot_of):
    execute(migrated_db, "CREATE SCHEMA api; CREATE TABLE api.t (id int PRIMARY KEY);")
    snap = snapshot_of(migrated_db)
    assert run_lints(snap, only=("rls_disabled_in_public",)) == []
    config = LintConfig(exposed_schemas=("public", "api"))
    assert [f.label for f in run_lints(snap, config, only=("rls_disabled_in_public",))] == ["api.t"]


def test_waivers_mark_findings_and_report_stale_ones(migrated_db, execute, snapshot_of, tmp_path):
    execute(migrated_db, CASES["rls_enabled_no_policy"][0])
    path = tmp_path / "waivers.toml"
    path.write_text(
        '[[waiver]]\nlint = "rls_enabled_no_policy"\nobject = "public.t"\nreason = "internal"\n'
        '[[waiver]]\nlint = "no_primary_key"\nobject = "public.gone"\nreason = "old"\n'
    )
    findings, unused = apply_waivers(run_lints(snapshot_of(migrated_db)), load_waivers(path))
    assert [f.waived_because for f in findings] == ["internal"]
    assert unused == [Waiver("no_primary_key", "public.gone", "old")]


def test_bad_waiver_file_names_the_culprit(tmp_path):
    path = tmp_path / "waivers.toml"
    path.write_text('[[waiver]]\nlint = "no_such_lint"\nobject = "x"\nreason = "y"\n')
    with pytest.raises(WaiverError, match="waiver #1 names unknown lint 'no_such_lint'"):
        load_waivers(path)


def test_a_queue_is_reported_only_where_pgmq_public_is_exposed(migrated_db, execute, snapshot_of):
    execute(
        migrated_db,
        "CREATE SCHEMA pgmq; CREATE TABLE pgmq.q_jobs (msg_id bigint PRIMARY KEY, message jsonb);"
        "GRANT USAGE ON SCHEMA pgmq TO anon; GRANT SELECT ON pgmq.q_jobs TO anon;"
        "CREATE TABLE pgmq.meta (queue_name text PRIMARY KEY); GRANT SELECT ON pgmq.meta TO anon;",
    )
    snap = snapshot_of(migrated_db)
    only = ("insecure_queue_exposed_in_api",)
    assert run_lints(snap, only=only) == []
    (found,) = run_lints(snap, LintConfig(exposed_schemas=("public", "pgmq_public")), only=only)
    assert (found.label, found.level) == ("pgmq.q_jobs", "error")
    assert found.cache_key == "rls_disabled_in_public_pgmq_q_jobs"


def test_an_index_never_scanned_is_unused_until_a_query_uses_it(migrated_db, execute, snapshot_of):
    execute(
        migrated_db,
        "CREATE TABLE public.u (id int PRIMARY KEY, k int); CREATE INDEX u_k ON public.u (k);",
    )
    only = ("unused_index",)

    def on_u(findings):
        return [f for f in findings if f.obj.table == "u"]

    with connect(migrated_db, autocommit=True) as conn:
        assert run_lints(snapshot_of(migrated_db), only=only) == []  # no statistics: not judged
        (found,) = on_u(run_lints(snapshot_of(migrated_db), only=only, usage=read_usage(conn)))
        assert (found.label, found.cache_key) == ("public.u_k", "unused_index_public_u_u_k")
        conn.execute("SET enable_seqscan = off")
        conn.execute("SELECT * FROM public.u WHERE k = 1").fetchall()
        conn.execute("SELECT pg_stat_force_next_flush()")
    with connect(migrated_db, autocommit=True) as conn:
        assert on_u(run_lints(snapshot_of(migrated_db), only=only, usage=read_usage(conn))) == []


def test_cache_keys_are_splinters(migrated_db, execute, snapshot_of):
    """Keys written from splinter's SQL: raw names, the foreign key's schema as regnamespace."""
    execute(
        migrated_db,
        'CREATE SCHEMA other; CREATE TABLE other."My T" (id int PRIMARY KEY, r int '
        'REFERENCES public.etl_runs); ALTER TABLE other."My T" ENABLE ROW LEVEL SECURITY;'
        'CREATE POLICY p ON other."My T" FOR SELECT USING (auth.uid() IS NOT NULL);'
        "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'select 1';"
        "CREATE TABLE public.a (x int) PARTITION BY LIST (x);",
    )
    keys = {f.cache_key for f in run_lints(snapshot_of(migrated_db))}
    source = hashlib.md5(b"select 1").hexdigest()
    assert {
        "unindexed_foreign_keys_other_My T_My T_r_fkey",
        "auth_rls_init_plan_other_My T_p",
        f"function_search_path_mutable_public_f_{source}",
        "no_primary_key_public_a",
        "rls_disabled_in_public_public_a",
    } <= keys


@given(
    names=st.lists(
        st.text(
            st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20
        ).filter(lambda name: len(name.encode()) <= 63),  # longer names are cut by the server
        min_size=1,
        max_size=3,
    )
)
@example(names=["null", "a b", 'q"t', "back\\slash", "{x}", "ü,v"])
@settings(max_examples=25, deadline=None)
def test_duplicate_index_keys_print_names_as_the_server_prints_an_array(names, admin_dsn):
    with connect(admin_dsn, autocommit=True) as conn:
        shown = conn.execute("SELECT %s::name[]::text", (names,)).fetchone()[0]
    assert array_text(names) == shown
