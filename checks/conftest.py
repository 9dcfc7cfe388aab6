"""Collection and fixtures of the schema and RLS checks.

One check per expected object needs the expected snapshot at collection time: it is built once
per session from the migrations on a local scratch server that lives only for that (never the
target), and skipped entirely when `-m` deselects both schema and rls checks.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from _pytest.mark.expression import Expression

from selfheal.catalog import CatalogObject, CatalogSnapshot, snapshot
from selfheal.embedded import start_embedded
from selfheal.rls.access import load_access
from selfheal.rls.lints import LintConfig, LintFinding, lint_targets, run_lints
from selfheal.rls.waivers import Waiver, apply_waivers, load_waivers
from selfheal.schema import SchemaDiff, diff, expected_snapshot
from selfheal.settings import Settings

HERE = Path(__file__).resolve().parent
ACCESS_FILE = HERE / "rls_access.toml"
WAIVERS_FILE = HERE / "rls_waivers.toml"
EXPOSED_SCHEMAS_VARIABLE = "SELFHEAL_EXPOSED_SCHEMAS"  # comma-separated; default public

_EXPECTED = pytest.StashKey[CatalogSnapshot]()
_DIFF = pytest.StashKey[SchemaDiff]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--rls-write-probes",
        action="store_true",
        default=False,
        help="also prove that writes as the wrong user are refused (rolled back)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "catalog(collection): one check per expected object of that snapshot collection"
    )


def _selected(config: pytest.Config) -> bool:
    """False when `-m` deselects schema and rls checks alike (e.g. `-m preflight`)."""
    markexpr = config.getoption("markexpr") or ""
    if not markexpr:
        return True
    expression = Expression.compile(markexpr)
    return any(expression.evaluate(lambda name, m=mark: name == m) for mark in ("schema", "rls"))


def expected_for(config: pytest.Config) -> CatalogSnapshot:
    if _EXPECTED not in config.stash:
        if not _selected(config):
            config.stash[_EXPECTED] = CatalogSnapshot()
        else:
            migrations = Settings.from_env(strict=False).migrations_dir
            with start_embedded() as server:
                config.stash[_EXPECTED] = expected_snapshot(server.dsn(), migrations)
    return config.stash[_EXPECTED]


def _id(obj: CatalogObject) -> str:
    return obj.label


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("catalog")
    if marker and "expected_object" in metafunc.fixturenames:
        objects = list(expected_for(metafunc.config).collection(marker.args[0]).values())
        metafunc.parametrize("expected_object", objects, ids=_id)
    if "lint_target" in metafunc.fixturenames:
        targets = lint_targets(expected_for(metafunc.config))
        metafunc.parametrize("lint_target", targets, ids=[f"{n}:{o.label}" for n, o in targets])
    if "table_access" in metafunc.fixturenames:
        tables = load_access(ACCESS_FILE)
        metafunc.parametrize("table_access", tables, ids=[t.label for t in tables])


@pytest.fixture(scope="session")
def expected(request: pytest.FixtureRequest) -> CatalogSnapshot:
    return expected_for(request.config)


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
def lint_config() -> LintConfig:
    raw = os.environ.get(EXPOSED_SCHEMAS_VARIABLE, "")
    exposed = tuple(s.strip() for s in raw.split(",") if s.strip())
    return LintConfig(exposed_schemas=exposed) if exposed else LintConfig()


@pytest.fixture(scope="session")
def waivers() -> list[Waiver]:
    return load_waivers(WAIVERS_FILE)


@pytest.fixture(scope="session")
def lint_results(
    live_snapshot: CatalogSnapshot, lint_config: LintConfig, waivers: list[Waiver]
) -> tuple[list[LintFinding], list[Waiver]]:
    """Every finding (waived ones marked) and the waivers that matched nothing."""
    return apply_waivers(run_lints(live_snapshot, lint_config), waivers)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Drift (objects in live that no migration creates) is reported, never a failure."""
    found = terminalreporter.config.stash.get(_DIFF, None)
    if found and found.drift:
        terminalreporter.section("schema drift (in live, created by no migration)")
        for item in found.drift:
            terminalreporter.write_line(item.message)
