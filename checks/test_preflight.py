"""Preflight: run on every pull request before anything touches the database.

One test per item, so each is addressable by node id: every variable, connectivity, the server's
version and time zone, each required extension, each migration file against the guard and the
ledger, and the pending migrations.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import psycopg
import pytest

from selfheal.core.db import connect_target
from selfheal.core.dsn import redact_dsn
from selfheal.core.identifiers import quote_ident
from selfheal.core.readonly import Reader, boundary
from selfheal.core.settings import VARIABLES, Settings
from selfheal.core.shim import platform_gaps
from selfheal.migrate.files import MigrationFile, MigrationFilesError, discover
from selfheal.migrate.guard import GuardReport, check_migrations
from selfheal.migrate.runner import MigrationPlan, read_ledger
from selfheal.pytest_plugin.session import settings_of
from selfheal.run.evidence import report_problems, warn
from selfheal.run.problem import Problem, preflight_code

pytestmark = pytest.mark.preflight

CONFIG = tomllib.loads((Path(__file__).parent / "preflight.toml").read_text())


def _migration_names(config: pytest.Config) -> list[str]:
    """The migration files, or one sentinel that fails with the reason they cannot be read."""
    try:
        folder = settings_of(config).migrations_dir
        return [m.filename for m in discover(folder)]
    except MigrationFilesError as error:
        return [f"unreadable: {error}"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "migration_name" in metafunc.fixturenames:
        names = _migration_names(metafunc.config)
        metafunc.parametrize("migration_name", names, ids=[n.split(":")[0] for n in names])


def _require(request: pytest.FixtureRequest, ok: bool, item: str, about: str, message: str) -> None:
    """Unless `ok`, the check fails with the problem `preflight.<item>` about `about`."""
    __tracebackhide__ = True
    if not ok:
        report_problems(request, [Problem(preflight_code(item), about, message)])


def _require_readable(request: pytest.FixtureRequest, migration_name: str) -> None:
    __tracebackhide__ = True
    readable = not migration_name.startswith("unreadable")
    _require(request, readable, "migration_files", "", migration_name)


@pytest.fixture(scope="module")
def migrations(settings: Settings) -> dict[str, MigrationFile]:
    try:
        return {m.filename: m for m in discover(settings.migrations_dir)}
    except MigrationFilesError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="module")
def guard_report(migrations: dict[str, MigrationFile], scratch_server) -> GuardReport:
    return check_migrations(scratch_server.dsn(), list(migrations.values()))


@pytest.fixture(scope="module")
def migration_plan(
    db: psycopg.Connection, migrations: dict[str, MigrationFile], migrations_dir
) -> MigrationPlan:
    return MigrationPlan(files=list(migrations.values()), applied=read_ledger(db, migrations_dir))


@pytest.mark.parametrize("variable", VARIABLES, ids=[v.name for v in VARIABLES])
def test_variable(variable, settings: Settings, request: pytest.FixtureRequest) -> None:
    """Each variable is well-formed; SUPABASE_DB_URL is required unless the embedded default runs."""
    problem = settings.problems.get(variable.name)
    _require(request, problem is None, "variable", variable.name, f"{variable.name} {problem}")


def test_database_reachable(target_dsn: str, settings: Settings, request) -> None:
    try:
        with connect_target(target_dsn, settings, read_only=True) as conn:
            Reader(conn).value("SELECT 1")
    except Exception as error:  # the message names host and port, never the password
        message = (
            f"database {redact_dsn(target_dsn)} unreachable within "
            f"{settings.connect_timeout}s: {error}"
        )
        _require(request, False, "database_reachable", "", message)


def test_server_version(db: psycopg.Connection, request) -> None:
    version_num = int(Reader(db).value("SHOW server_version_num"))
    minimum = CONFIG["min_server_version"]
    message = f"PostgreSQL {version_num // 10000} is older than the required {minimum}"
    _require(request, version_num >= minimum * 10000, "server_version", "", message)


def test_server_knows_time_zone(db: psycopg.Connection, settings: Settings, request) -> None:
    found = Reader(db).one("SELECT 1 FROM pg_timezone_names WHERE name = %s", (settings.tz,))
    message = f"the server does not know TZ={settings.tz}"
    _require(request, found is not None, "time_zone", settings.tz, message)


@pytest.mark.parametrize("extension", CONFIG["required_extensions"])
def test_extension_available(extension: str, db: psycopg.Connection, request) -> None:
    row = Reader(db).one(
        "SELECT installed_version FROM pg_available_extensions WHERE name = %s", (extension,)
    )
    message = f"extension {extension} is not available on the server"
    _require(request, row is not None, "extension", quote_ident(extension), message)


def test_supabase_platform(db: psycopg.Connection, request: pytest.FixtureRequest) -> None:
    """What the migrations and the RLS probes take from Supabase: roles anon, authenticated and
    service_role, auth.uid(), auth.role() and auth.jwt(), and the connecting role's membership
    in the three roles. On plain PostgreSQL `selfheal target prepare` adds whatever is missing."""
    gaps = platform_gaps(Reader(db))
    code = preflight_code("platform")
    report_problems(request, [Problem(code, gap.object, gap.message) for gap in gaps])


def test_read_only_boundary(
    db: psycopg.Connection, settings: Settings, request: pytest.FixtureRequest
) -> None:
    """Says what keeps checks from writing: always READ ONLY transactions sent one statement at
    a time; on top, where the target has it, the SELECT-only role selfheal_reader (which must
    read every table of the exposed schemas)."""
    found = boundary(db, settings.exposed_schemas)
    if found.role is None:
        warn(request, f"checks are kept read-only by their transactions only: {found.reason}")


def test_migration_guard(migration_name: str, guard_report: GuardReport, request) -> None:
    _require_readable(request, migration_name)
    unchecked = f"{migration_name} was not checked: an earlier migration does not apply"
    ok = migration_name not in guard_report.unchecked
    _require(request, ok, "migration_unchecked", migration_name, unchecked)
    waived = [f for f in guard_report.findings if f.migration == migration_name and not f.refused]
    notes = [str(f) for f in waived] + guard_report.file_notes.get(migration_name, [])
    if notes:  # what the guard allowed or could not judge, shown even when the file passes
        warn(request, "guard notes:\n" + "\n".join(notes))
    refused = guard_report.refused(migration_name)
    message = "guard refused:\n" + "\n".join(str(f) for f in refused)
    _require(request, not refused, "migration_guard", migration_name, message)


def test_ledger_matches_file(
    migration_name: str, migration_plan: MigrationPlan, request: pytest.FixtureRequest
) -> None:
    """An applied migration must not have been edited since it ran."""
    _require_readable(request, migration_name)
    edited = {m.filename for m in migration_plan.edited}
    message = (
        f"{migration_name} was edited after it was applied (checksum differs from the ledger); "
        "restore it and add a new migration instead"
    )
    _require(request, migration_name not in edited, "ledger_edited", migration_name, message)


def test_ledger_has_no_unknown_versions(
    migration_plan: MigrationPlan, request: pytest.FixtureRequest
) -> None:
    missing = [f"{a.version}_{a.name}" for a in migration_plan.missing_files]
    message = f"applied migration {{}} has no file in the folder (applied: {missing})"
    report_problems(
        request,
        [Problem(preflight_code("ledger_unknown"), m, message.format(m)) for m in missing],
    )


def test_pending_migrations(migration_plan: MigrationPlan, request: pytest.FixtureRequest) -> None:
    """Lists what `selfheal migrate` would apply; pending files are expected on a PR."""
    pending = [m.filename for m in migration_plan.pending]
    if pending:
        warn(request, f"{len(pending)} pending migration(s): {', '.join(pending)}")
