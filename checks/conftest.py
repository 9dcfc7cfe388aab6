"""Collection and fixtures of the schema and RLS checks.

One check per expected object needs the expected snapshot at collection time: it is read from
the committed lock file (checks/schema.lock.json) when that matches the migrations, else built
once per session on a local scratch server that lives only for that (never the target); and
skipped entirely when `-m` deselects both schema and rls checks. A check module none of whose
markers `-m` could select is not even imported (`pytest -m dq` starts without the other stages'
imports); its checks would all be deselected anyway.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from selfheal.catalog import CatalogObject, CatalogSnapshot, snapshot
from selfheal.core.settings import Settings
from selfheal.pytest_plugin.markexpr import marks_named_in, may_select, selects
from selfheal.pytest_plugin.session import settings_of
from selfheal.rls.access import load_access
from selfheal.rls.exposure import read_usage
from selfheal.schema import SchemaDiff, diff
from selfheal.schema.expected import locked_or_built

if TYPE_CHECKING:
    # The lints parse policies with sqlglot (0.1 s to import): imported where an RLS check
    # needs them, so `pytest -m dq` does not pay for them.
    from selfheal.rls.lints import LintConfig, LintFinding
    from selfheal.rls.waivers import Waiver

HERE = Path(__file__).resolve().parent
ACCESS_FILE = HERE / "rls_access.toml"
WAIVERS_FILE = HERE / "rls_waivers.toml"

# Above this many expected objects, schema checks are grouped per table (and lints per lint):
# pytest's own cost per test (about a millisecond) would otherwise dominate the run.
PER_OBJECT_LIMIT = 2000
STANDALONE = ("schemas", "extensions", "enums", "functions", "relations")

HYPOTHESIS_PLUGIN = "hypothesispytest"  # hypothesis's pytest11 entry point

_EXPECTED = pytest.StashKey[CatalogSnapshot]()
_DIFF = pytest.StashKey[SchemaDiff]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--selfheal-schema-granularity",
        "--schema-granularity",
        dest="schema_granularity",
        choices=("auto", "object", "table"),
        default="auto",
        help="one schema check per object, per table, or auto: per object up to "
        f"{PER_OBJECT_LIMIT} expected objects",
    )
    parser.addoption(
        "--selfheal-rls-write-probes",
        "--rls-write-probes",
        dest="rls_write_probes",
        action="store_true",
        default=False,
        help="also prove that writes as the wrong user are refused (rolled back)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "catalog(collection): one check per expected object of that snapshot collection"
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    markexpr = config.getoption("markexpr")
    path = collection_path
    if not markexpr or path.suffix != ".py" or not path.name.startswith("test_"):
        return None
    marks = marks_named_in(path)
    return True if marks is not None and not may_select(markexpr, marks) else None


def _selected(config: pytest.Config) -> bool:
    """False when `-m` deselects schema and rls checks alike (e.g. `-m preflight`)."""
    markexpr = config.getoption("markexpr") or ""
    return not markexpr or any(selects(markexpr, mark) for mark in ("schema", "rls"))


def expected_for(config: pytest.Config) -> CatalogSnapshot:
    if _EXPECTED not in config.stash:
        if not _selected(config):
            config.stash[_EXPECTED] = CatalogSnapshot()
        else:
            settings = settings_of(config)
            config.stash[_EXPECTED] = locked_or_built(settings.migrations_dir, settings.schema_lock)
    return config.stash[_EXPECTED]


def grouped(config: pytest.Config) -> bool:
    """True when checks are grouped per table rather than one per object."""
    choice = config.getoption("schema_granularity")
    if choice == "auto":
        return len(expected_for(config).objects()) > PER_OBJECT_LIMIT
    return choice == "table"


def _id(obj: CatalogObject) -> str:
    return obj.label


def _parametrize_objects(metafunc: pytest.Metafunc, collection: str) -> None:
    if grouped(metafunc.config) and collection not in STANDALONE:
        reason = "checked with its table (--schema-granularity)"
        skipped = pytest.param(None, marks=pytest.mark.skip(reason=reason), id="grouped")
        metafunc.parametrize("expected_object", [skipped])
        return
    objects = list(expected_for(metafunc.config).collection(collection).values())
    if not objects:
        reason = f"the migrations create no {collection}"
        objects = [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="none")]
    metafunc.parametrize("expected_object", objects, ids=_id)


def _parametrize_lints(metafunc: pytest.Metafunc) -> None:
    from selfheal.rls.lints import LINTS, lint_targets

    if grouped(metafunc.config):
        metafunc.parametrize("lint_target", [(name, None) for name in LINTS], ids=list(LINTS))
        return
    targets = lint_targets(expected_for(metafunc.config))
    metafunc.parametrize("lint_target", targets, ids=[f"{n}:{o.label}" for n, o in targets])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("catalog")
    if marker and "expected_object" in metafunc.fixturenames:
        _parametrize_objects(metafunc, marker.args[0])
    if "lint_target" in metafunc.fixturenames:
        _parametrize_lints(metafunc)
    if "table_access" in metafunc.fixturenames:
        tables = load_access(ACCESS_FILE)
        metafunc.parametrize("table_access", tables, ids=[t.label for t in tables])


@pytest.fixture(scope="session")
def expected(request: pytest.FixtureRequest) -> CatalogSnapshot:
    return expected_for(request.config)


@pytest.fixture(scope="session")
def per_table(request: pytest.FixtureRequest) -> bool:
    return grouped(request.config)


@pytest.fixture(scope="session")
def live_snapshot(db: psycopg.Connection) -> CatalogSnapshot:
    return snapshot(db)


@pytest.fixture(scope="session")
def schema_diff(
    request: pytest.FixtureRequest, expected: CatalogSnapshot, live_snapshot: CatalogSnapshot
) -> SchemaDiff:
    request.config.stash[_DIFF] = diff(expected, live_snapshot)
    return request.config.stash[_DIFF]


@pytest.fixture(scope="session")
def lock_diff(request: pytest.FixtureRequest, db: psycopg.Connection) -> SchemaDiff:
    """The schema diff even where `-m` selects no schema check (asked for only by a failing ETL
    or data-quality check: a missing table's failures are that table's one problem)."""
    if _selected(request.config):
        return request.getfixturevalue("schema_diff")
    settings = settings_of(request.config)
    return diff(locked_or_built(settings.migrations_dir, settings.schema_lock), snapshot(db))


@pytest.fixture(scope="session")
def lint_config(settings: Settings) -> LintConfig:
    from selfheal.rls.lints import LintConfig

    return LintConfig(exposed_schemas=settings.exposed_schemas)


@pytest.fixture(scope="session")
def waivers() -> list[Waiver]:
    from selfheal.rls.waivers import load_waivers

    return load_waivers(WAIVERS_FILE)


@pytest.fixture(scope="session")
def lint_results(
    db: psycopg.Connection,
    live_snapshot: CatalogSnapshot,
    lint_config: LintConfig,
    waivers: list[Waiver],
) -> tuple[list[LintFinding], list[Waiver]]:
    """Every finding (waived ones marked) and the waivers that matched nothing."""
    from selfheal.rls.lints import run_lints
    from selfheal.rls.waivers import apply_waivers

    findings = run_lints(live_snapshot, lint_config, usage=read_usage(db))
    return apply_waivers(findings, waivers)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Drift (objects in live that no migration creates) is reported, never a failure."""
    found = terminalreporter.config.stash.get(_DIFF, None)
    if found and found.drift:
        terminalreporter.section("schema drift (in live, created by no migration)")
        for item in found.drift:
            terminalreporter.write_line(item.message)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """hypothesis's pytest plugin imports the whole of hypothesis (0.1-0.3 s) for its terminal
    summary even when no check of the session used it (`pytest -m dq`); it has nothing to say
    then, so it is left out. Under pytest-xdist the controller imports no check: there the
    workers' reports say whether hypothesis has statistics or failing examples to show."""
    manager = session.config.pluginmanager
    plugin = manager.get_plugin(HYPOTHESIS_PLUGIN)
    reporter = manager.get_plugin("terminalreporter")
    asked = session.config.getoption("hypothesis_show_statistics", False)
    if plugin is None or reporter is None or asked or "hypothesis" in sys.modules:
        return
    keys = [getattr(plugin, "STATS_KEY", None), getattr(plugin, "FAILING_EXAMPLES_KEY", None)]
    if None in keys:
        return  # a hypothesis release whose report keys are unknown here: keep its summary
    reports = (report for reports in reporter.stats.values() for report in reports)
    if not any(key in vars(report) for report in reports for key in keys):
        manager.unregister(plugin)
