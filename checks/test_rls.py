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
from selfheal.rls.claims import claims
from selfheal.rls.probes import (
    ProbeUnavailable,
    baseline,
    claims_violation,
    exact_violations,
    write_violations,
)
from selfheal.run.evidence import report_problems, warn
from selfheal.run.findings import lint_problem
from selfheal.run.problem import (
    RLS_ACCESS,
    RLS_CLAIMS,
    RLS_PROBE_UNAVAILABLE,
    RLS_WRITE,
    Problem,
)

pytestmark = pytest.mark.rls


def _access_problem(code: str, table_access, violations) -> list[Problem]:
    """Violations of one table's declared access as one problem about the table."""
    __tracebackhide__ = True
    if not violations:
        return []
    about = qualified(table_access.schema, table_access.table)
    message = "\n".join(v.message for v in violations)
    fix = f"make the policies of {about} match checks/rls_access.toml (or correct the declaration)"
    return [Problem(code, about, message, remediation=fix)]


def _created_by_migrations(expected) -> set[tuple]:
    return {(o.kind, o.key) for o in expected.objects()}


def test_lint(request, lint_results, lint_target, expected):
    """One lint on one object the migrations create (grouped: on all of them)."""
    name, obj = lint_target
    findings, _ = lint_results
    wanted = {(obj.kind, obj.key)} if obj is not None else _created_by_migrations(expected)
    chosen = [f for f in findings if f.lint == name and (f.obj.kind, f.obj.key) in wanted]
    report_problems(request, map(lint_problem, chosen))


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
def table_baseline(request, db, table_access):
    """What the table holds. A probe that cannot run (no table, a missing role, no membership)
    fails here in one line: seeing no rows is no proof when nothing could look."""
    try:
        return baseline(db, table_access)
    except ProbeUnavailable as error:
        about = qualified(table_access.schema, table_access.table)
        problem = Problem(RLS_PROBE_UNAVAILABLE, about, str(error), remediation=error.remedy)
        report_problems(request, [problem])


def test_rls_access_exact(request, db, table_access, table_baseline):
    """anon, authenticated users (each owner, a stranger) and service_role see exactly what the
    declaration allows, never another user's rows."""
    if table_baseline.total == 0:
        warn(
            request,
            f"{table_access.label} is empty: the access probe proves little until rows are loaded",
        )
    violations = exact_violations(db, table_access, table_baseline)
    report_problems(request, _access_problem(RLS_ACCESS, table_access, violations))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_rls_claims_grant_nothing(request, db, table_access, table_baseline, data):
    """Missing, malformed or escalating claims ("role": "service_role" in an authenticated
    session) never show more than the declaration allows."""
    text = data.draw(claims(list(table_baseline.by_owner)), label="claims")
    role = data.draw(st.sampled_from(["authenticated", "anon"]), label="role")
    violation = claims_violation(db, table_access, table_baseline, role, text)
    report_problems(
        request, _access_problem(RLS_CLAIMS, table_access, [violation] if violation else [])
    )


def test_rls_writes_refused(
    request, target_dsn, settings, live_snapshot, table_access, table_baseline
):
    """With --rls-write-probes: a stranger's INSERT (of a row owned by another user), UPDATE and
    DELETE change nothing; every probe is rolled back."""
    if not request.config.getoption("rls_write_probes"):
        pytest.skip("write probes run only with --rls-write-probes")
    columns = live_snapshot.columns_of(table_access.schema, table_access.table)
    with connect_target(target_dsn, settings) as conn:
        violations = write_violations(conn, table_access, columns)
    report_problems(request, _access_problem(RLS_WRITE, table_access, violations))
