"""Every object the migrations create exists in the live database, as the migrations made it.

One check per expected object, e.g. `pytest 'checks/test_schema.py::test_column[public.events.
occurred_at]'`. Objects in live that no migration creates are drift: listed in the summary.
"""

from __future__ import annotations

import pytest

from selfheal.catalog import CatalogObject
from selfheal.run.evidence import report_problems, warn
from selfheal.run.findings import exposure_problem, schema_problem
from selfheal.schema import SchemaDiff

pytestmark = pytest.mark.schema


def _verify(
    request: pytest.FixtureRequest, schema_diff: SchemaDiff, obj: CatalogObject, whole=False
) -> None:
    __tracebackhide__ = True
    found = schema_diff.problems_within(obj) if whole else schema_diff.problems_for(obj)
    # Problems sharing a root cause (a missing or renamed table) are that one problem.
    causes = {id(cause): cause for cause in map(schema_diff.cause_of, found)}
    report_problems(request, [schema_problem(cause) for cause in causes.values()])


@pytest.mark.catalog("schemas")
def test_schema(request, schema_diff, expected_object):
    _verify(request, schema_diff, expected_object)


@pytest.mark.catalog("extensions")
def test_extension(request, schema_diff, expected_object):
    _verify(request, schema_diff, expected_object)


@pytest.mark.catalog("enums")
def test_enum(request, schema_diff, expected_object):
    _verify(request, schema_diff, expected_object)


@pytest.mark.catalog("functions")
def test_function(request, schema_diff, expected_object):
    _verify(request, schema_diff, expected_object)


@pytest.mark.catalog("relations")
def test_table(request, schema_diff, expected_object, per_table):
    """Tables, partitions, views and materialized views, with their RLS flags (and, grouped
    per table, everything on them)."""
    _verify(request, schema_diff, expected_object, whole=per_table)


@pytest.mark.catalog("columns")
def test_column(request, schema_diff, expected_object):
    _verify(request, schema_diff, expected_object)


@pytest.mark.catalog("constraints")
def test_constraint(request, schema_diff, expected_object):
    _verify(request, schema_diff, expected_object)


@pytest.mark.catalog("indexes")
def test_index(request, schema_diff, expected_object):
    _verify(request, schema_diff, expected_object)


@pytest.mark.catalog("policies")
def test_policy(request, schema_diff, expected_object):
    _verify(request, schema_diff, expected_object)


@pytest.mark.catalog("grants")
def test_grant(request, schema_diff, expected_object):
    _verify(request, schema_diff, expected_object)


@pytest.mark.catalog("default_privileges")
def test_default_privilege(request, schema_diff, expected_object):
    _verify(request, schema_diff, expected_object)


def test_no_undeclared_access(request, schema_diff):
    """A permissive policy or an API role's grant that no migration creates is an exposure."""
    drifted = [d for d in schema_diff.drift if d.exposure]
    report_problems(request, [exposure_problem(d) for d in drifted])


def test_drift(request, schema_diff):
    """Drift is shown (a warning and the summary section), never a failure (but exposures are
    failures of their own check)."""
    if schema_diff.drift:
        warn(
            request,
            f"{len(schema_diff.drift)} object(s) in live that no migration creates: "
            + "; ".join(d.label for d in schema_diff.drift[:10]),
        )
