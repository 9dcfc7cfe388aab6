"""Every lint has a case it must report and a near miss it must not."""

from __future__ import annotations

import pytest

from selfheal.rls.lints import LINTS, LintConfig, run_lints
from selfheal.rls.waivers import Waiver, WaiverError, apply_waivers, load_waivers

T = "CREATE TABLE public.t (id int PRIMARY KEY, owner uuid);"
RLS = "ALTER TABLE public.t ENABLE ROW LEVEL SECURITY;"

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
        "public.n",
        "CREATE TABLE public.n (a int, d date, PRIMARY KEY (a, d)) PARTITION BY RANGE (d);"
        "CREATE TABLE public.n1 PARTITION OF public.n FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');",
    ),
}


def test_every_lint_has_cases():
    assert set(CASES) == set(LINTS)


def test_migrated_domain_is_clean(migrated_db, snapshot_of):
    assert run_lints(snapshot_of(migrated_db)) == []


@pytest.mark.parametrize("lint", CASES, ids=str)
def test_positive(lint, migrated_db, execute, snapshot_of):
    setup, label, _ = CASES[lint]
    execute(migrated_db, setup)
    findings = run_lints(snapshot_of(migrated_db), only=(lint,))
    assert [f.label for f in findings] == [label]
    assert findings[0].level in ("error", "warn", "info") and findings[0].remediation


@pytest.mark.parametrize("lint", CASES, ids=str)
def test_negative(lint, migrated_db, execute, snapshot_of):
    _, _, near_miss = CASES[lint]
    execute(migrated_db, near_miss)
    assert run_lints(snapshot_of(migrated_db), only=(lint,)) == []


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
