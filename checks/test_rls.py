"""Row-level security: static lints per object, and behaviour proved by impersonation.

Lints follow the Supabase linter's names and levels: an error fails, a warning or an info passes
and is shown; a waived finding (checks/rls_waivers.toml) passes with its reason. Behaviour is
declared per table in checks/rls_access.toml and probed in transactions that are rolled back.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfheal.core.db import connect_target
from selfheal.core.identifiers import qualified
from selfheal.rls.claims import claims, escalating
from selfheal.rls.probes import (
    ProbeUnavailable,
    baseline,
    claims_violation,
    exact_violations,
    write_violations,
)
from selfheal.run.evidence import report_problems, warn
from selfheal.run.findings import exposure_problem, lint_problem, schema_problem
from selfheal.run.problem import (
    RLS_ACCESS,
    RLS_CLAIMS,
    RLS_PROBE_UNAVAILABLE,
    RLS_WRITE,
    Problem,
)
from selfheal.schema.diff import Drift
from selfheal.schema.restore import root_of

pytestmark = pytest.mark.rls


def _access_problem(code: str, table_access, violations, schema_diff) -> list[Problem]:
    """Violations of one table's declared access as one problem about the table, or, when the
    table's schema holds exposures (a policy, a grant, RLS unlike the lock), those: the cause,
    one ticket each."""
    __tracebackhide__ = True
    if not violations:
        return []
    about = qualified(table_access.schema, table_access.table)
    causes = [e for e in schema_diff.exposures if root_of(e.obj) == about]
    if causes:
        return [exposure_problem(e) if isinstance(e, Drift) else schema_problem(e) for e in causes]
    message = "\n".join(v.message for v in violations)
    fix = f"make the policies of {about} match checks/rls_access.toml (or correct the declaration)"
    return [Problem(code, about, message, remediation=fix)]


def _created_by_migrations(expected) -> set[tuple]:
    return {(o.kind, o.key) for o in expected.objects()}


# Lints whose finding a schema difference of the same object causes, and that difference's field.
CAUSED_BY_SCHEMA = {
    "rls_disabled_in_public": "rls_enabled",
    "policy_exists_rls_disabled": "rls_enabled",
}


def _problem(finding, schema_diff) -> Problem:
    """A lint finding, or the schema difference that causes it (one ticket per root cause)."""
    field = CAUSED_BY_SCHEMA.get(finding.lint)
    causes = [
        d
        for d in schema_diff.differing
        if (d.obj.kind, d.obj.key, d.field) == (finding.obj.kind, finding.obj.key, field)
    ]
    return schema_problem(causes[0]) if causes else lint_problem(finding)


def test_lint(request, lint_results, lint_target, expected, schema_diff):
    """One lint on one object the migrations create (grouped: on all of them)."""
    name, obj = lint_target
    findings, _ = lint_results
    wanted = {(obj.kind, obj.key)} if obj is not None else _created_by_migrations(expected)
    chosen = [f for f in findings if f.lint == name and (f.obj.kind, f.obj.key) in wanted]
    report_problems(request, [_problem(f, schema_diff) for f in chosen])


def test_lint_objects_no_migration_creates(request, lint_results, expected):
    """Lint findings on objects outside the migrations (drift, platform tables in public)."""
    findings, _ = lint_results
    known = _created_by_migrations(expected)
    chosen = [f for f in findings if (f.obj.kind, f.obj.key) not in known]
    report_problems(request, map(lint_problem, chosen))


def test_no_stale_waivers(request, lint_results):
    _, unused = lint_results
    for waiver in unused:
        warn(request, f"stale waiver: {waiver.lint} {waiver.object} matches no finding")


@pytest.fixture
def table_baseline(request, db, table_access, live_snapshot):
    """What the table holds. A probe that cannot run (a missing role, no membership) fails here
    in one line: seeing no rows is no proof when nothing could look. A table missing (or
    renamed) is the schema checks' one problem (one ticket per root cause): skipped here."""
    if live_snapshot.table(table_access.schema, table_access.table) is None:
        pytest.skip(f"{table_access.label} does not exist: the schema checks say why")
    try:
        return baseline(db, table_access)
    except ProbeUnavailable as error:
        about = qualified(table_access.schema, table_access.table)
        problem = Problem(RLS_PROBE_UNAVAILABLE, about, str(error), remediation=error.remedy)
        report_problems(request, [problem])


def test_rls_access_exact(request, db, table_access, table_baseline, schema_diff):
    """anon, authenticated users (each owner, a stranger) and service_role see exactly what the
    declaration allows, never another user's rows."""
    if table_baseline.total == 0:
        warn(
            request,
            f"{table_access.label} is empty: the access probe proves little until rows are loaded",
        )
    violations = exact_violations(db, table_access, table_baseline)
    report_problems(request, _access_problem(RLS_ACCESS, table_access, violations, schema_diff))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_rls_claims_grant_nothing(request, db, table_access, table_baseline, schema_diff, data):
    """Missing, malformed or escalating claims ("role": "service_role" in an authenticated
    session) never show more than the declaration allows."""
    text = data.draw(claims(list(table_baseline.by_owner)), label="claims")
    role = data.draw(st.sampled_from(["authenticated", "anon"]), label="role")
    violation = claims_violation(db, table_access, table_baseline, role, text)
    report_problems(
        request,
        _access_problem(RLS_CLAIMS, table_access, [violation] if violation else [], schema_diff),
    )


def test_rls_escalating_claims_grant_nothing(
    request, db, table_access, table_baseline, schema_diff
):
    """Every claim naming a privileged role, in an authenticated and an anonymous session, shows
    no more than the declaration allows (the random claims above rarely name one)."""
    probes = [
        claims_violation(db, table_access, table_baseline, role, text)
        for text in escalating(list(table_baseline.by_owner))
        for role in ("authenticated", "anon")
    ]
    violations = [violation for violation in probes if violation]
    report_problems(request, _access_problem(RLS_CLAIMS, table_access, violations, schema_diff))


def test_rls_writes_refused(
    request, target_dsn, settings, live_snapshot, table_access, table_baseline, schema_diff
):
    """With --rls-write-probes: a stranger's INSERT (of a row owned by another user), UPDATE and
    DELETE change nothing; every probe is rolled back."""
    if not request.config.getoption("rls_write_probes"):
        pytest.skip("write probes run only with --rls-write-probes")
    columns = live_snapshot.columns_of(table_access.schema, table_access.table)
    with connect_target(target_dsn, settings) as conn:
        violations = write_violations(conn, table_access, columns)
    report_problems(request, _access_problem(RLS_WRITE, table_access, violations, schema_diff))
