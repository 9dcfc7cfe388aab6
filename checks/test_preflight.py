"""Preflight: run on every pull request before anything touches the database.

One test per item, so each is addressable by node id: every variable, connectivity, the server's
version and time zone, each required extension, each configured source (one authenticated
request), each migration file against the guard and the ledger, and the pending migrations.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import psycopg
import pytest

from etl.http import SourceError
from etl.sources import CONNECTION, answers
from selfheal.core.db import connect_target
from selfheal.core.dsn import redact_dsn
from selfheal.core.identifiers import quote_ident
from selfheal.core.readonly import Reader, boundary
from selfheal.core.settings import KNOWN_SOURCES, VARIABLES, Settings, SettingsError
from selfheal.core.shim import platform_gaps
from selfheal.dq.config import ConfigError, load_suite
from selfheal.dq.incremental import index_advice, unindexed
from selfheal.migrate.created import absent, as_rows
from selfheal.migrate.files import MigrationFile, MigrationFilesError, discover
from selfheal.migrate.guard import GuardReport, check_migrations
from selfheal.migrate.ledger import ledger_for
from selfheal.migrate.runner import MigrationPlan, read_ledger
from selfheal.pytest_plugin.session import settings_of
from selfheal.run.evidence import attach, report_problems, warn
from selfheal.run.problem import Evidence, Problem, Severity, preflight_code
from selfheal.schema.lock import lock_problem

pytestmark = pytest.mark.preflight

STALE_LOCK = preflight_code("schema_lock")
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


def test_incremental_watermarks_indexed(
    db: psycopg.Connection, settings: Settings, request: pytest.FixtureRequest
) -> None:
    """Each table checked incrementally (`incremental = "<column>"` in its rule file) has an
    index led by that column, so a run reads its new rows only (a warning: without one, the
    verdicts are the same, only slower)."""
    try:
        suite = load_suite(settings.dq_dir, settings.dq_sql_dir)
    except ConfigError:
        return  # the data-quality stage names every problem of the rule files
    missing = unindexed(Reader(db), suite.tables())
    problems = [
        Problem(
            preflight_code("dq_incremental_index"),
            f"{table.identifier.as_string()}.{quote_ident(table.incremental or '')}",
            index_advice(table),
            Severity.WARN,
        )
        for table in missing
    ]
    report_problems(request, problems)


@pytest.mark.parametrize("source", KNOWN_SOURCES)
def test_source_answers(source: str, settings: Settings, request: pytest.FixtureRequest) -> None:
    """Each configured source answers one authenticated request (its first page, one row, of
    the last hour): the status and latency are shown, never the token."""
    if all(getattr(settings, attribute) is None for attribute in CONNECTION[source]):
        pytest.skip(f"{source} is not configured (its base URL and token are unset)")
    try:
        seconds = answers(source, settings)
    except (SettingsError, SourceError) as error:
        _require(request, False, "source_unreachable", source, f"{source}: {error}")
        return
    attach(request, "selfheal.source", f"{source} answered in {seconds * 1000:.0f} ms")


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


def test_ledger_records_applied_file(
    migration_name: str,
    migration_plan: MigrationPlan,
    guard_report: GuardReport,
    db: psycopg.Connection,
    request: pytest.FixtureRequest,
) -> None:
    """A pending file whose every object already exists was applied without its ledger row (or
    the row was deleted): `selfheal migrate` would run it again. Record it instead."""
    _require_readable(request, migration_name)
    pending = {m.filename: m for m in migration_plan.pending}
    created = guard_report.created.get(migration_name, [])
    if migration_name not in pending or not created or absent(Reader(db), created):
        return
    ledger = ledger_for(db, pending[migration_name].path.parent)
    message = (
        f"{migration_name} is not in the ledger ({ledger.description}), yet everything it creates "
        f"exists: {', '.join(map(str, created))}; it was applied without being recorded, or its "
        "ledger row was deleted"
    )
    remediation = (
        "record it as applied (`selfheal doctor --heal` does: "
        + "; ".join(s.as_string(db) for s in ledger.record_statements(pending[migration_name]))
        + "), rather than apply it again"
    )
    code = preflight_code("ledger_unrecorded")
    # The objects travel with the problem: the doctor records the row only if they still exist.
    evidence = Evidence(samples=as_rows(created))
    problem = Problem(code, migration_name, message, remediation=remediation, evidence=evidence)
    report_problems(request, [problem])


def test_schema_lock_is_fresh(
    request: pytest.FixtureRequest,
    settings: Settings,
    migrations_dir: Path,
    migration_plan: MigrationPlan,
) -> None:
    """A committed lock file must match the migrations (regenerate: `selfheal lock`). An applied
    migration edited since is its own problem (above), with its own advice."""
    lock = settings.schema_lock
    if not lock.exists():
        pytest.skip(f"no schema lock at {lock}: the expected schema is built from the migrations")
    edited = {m.filename for m in migration_plan.edited}
    stale = lock_problem(lock, migrations_dir, explained=edited)
    fix = "regenerate it: `selfheal lock`"
    if stale:
        report_problems(request, [Problem(STALE_LOCK, lock.name, stale, remediation=fix)])


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
