"""A failing check shows the check: no rendering of a large argument (a catalog snapshot, a fixture
request), whatever the size of the schema, and helpers hide their own frames."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def _failure_of(test: str, output: str) -> str:
    """The text under a test's heading in the FAILURES section (up to the next heading)."""
    return output.split(f" {test} _")[1].split("_ test_")[0]


CHECKS = """
import pytest
from selfheal.catalog import CatalogSnapshot, Schema

@pytest.fixture(scope="session")
def snapshot():
    names = [f"tenant_{n:04d}" for n in range(1000)]
    return CatalogSnapshot(schemas={(name,): Schema(name) for name in names})

def schema_named(snapshot, name):
    return snapshot.schemas[(name,)]

@pytest.mark.schema
def test_schema_exists(snapshot, request):
    schema_named(snapshot, "billing")

def test_not_a_check(snapshot, request):
    schema_named(snapshot, "billing")
"""


def test_a_failing_check_does_not_render_the_snapshot(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_big=CHECKS)
    result = pytester.runpytest("-p", "no:cacheprovider", "--selfheal-no-tickets")
    result.assert_outcomes(failed=2)
    check = _failure_of("test_schema_exists", result.stdout.str())
    assert "KeyError" in check and "billing" in check
    assert "tenant_0999" not in check and "FixtureRequest" not in check
    assert "snapshot.schemas[(name,)]" in check  # the line that failed is shown


def test_a_chosen_traceback_style_is_kept(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_big=CHECKS)
    result = pytester.runpytest("-p", "no:cacheprovider", "--selfheal-no-tickets", "--tb=long")
    result.assert_outcomes(failed=2)
    check = _failure_of("test_schema_exists", result.stdout.str())
    assert "snapshot = CatalogSnapshot(1000 schemas, 0 extensions" in check  # a summary only
    assert "tenant_0999" not in check
