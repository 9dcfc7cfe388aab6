"""`selfheal`: the command line. Each subcommand is a thin shell over an engine module.

Without SUPABASE_DB_URL the commands act on the embedded local default.
"""

# The top layer: it wires the ETL (which knows only selfheal.core) to the migration engine and
# hands the doctor its ETL runner.

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path

from etl import cli as etl_cli
from selfheal import kpi
from selfheal.catalog import snapshot
from selfheal.core import logs
from selfheal.core.cluster import ClusterError
from selfheal.core.db import DatabaseUnreachable, connect_target
from selfheal.core.dsn import redact_dsn
from selfheal.core.embedded import ServerBinariesMissing, start_embedded
from selfheal.core.settings import Settings, SettingsError
from selfheal.core.shim import prepare_target
from selfheal.core.target import describe_target, target_database
from selfheal.migrate.files import MigrationFilesError, discover
from selfheal.migrate.guard import check_migrations
from selfheal.migrate.runner import MigrationError, migrate, prepare_database
from selfheal.run.summary import LastRunError
from selfheal.schema import diff, expected_snapshot
from selfheal.schema.delta import build_delta
from selfheal.schema.expected import locked_or_built
from selfheal.schema.lock import write_lock

TARGETED = (
    "migrate",
    "delta",
    "doctor",
    "kpi",
)  # commands that act on the target (etl prints its own)
# Errors that are the user's to fix: one clear line, exit 2, no traceback.
USER_ERRORS = (
    SettingsError,
    LastRunError,
    DatabaseUnreachable,
    MigrationError,
    MigrationFilesError,
    ServerBinariesMissing,
    ClusterError,
)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    with target_database(settings) as dsn:
        result = migrate(
            dsn,
            settings.migrations_dir,
            dry_run=args.dry_run,
            connect_timeout=settings.connect_timeout,
            pooler=settings.pooler,
        )
    verb = "would apply" if result.dry_run else "applied"
    if not result.applied:
        print(f"{result.target}: no pending migrations; nothing applied")
    for migration in result.applied:
        print(f"{result.target}: {verb} {migration.filename}")
    return 0


def cmd_target_prepare(args: argparse.Namespace, settings: Settings) -> int:
    """Give plain PostgreSQL what Supabase provides (roles, auth functions, default privileges,
    the connecting role's memberships); a database that has them is left as it is."""
    with target_database(settings) as dsn, connect_target(dsn, settings) as conn:
        done = prepare_target(conn)
    target = redact_dsn(dsn)
    if not done:
        print(f"{target}: Supabase's roles, auth functions and memberships are there; nothing done")
    for line in done:
        print(f"{target}: {line}")
    return 0


def cmd_guard(args: argparse.Namespace, settings: Settings) -> int:
    migrations = discover(settings.migrations_dir)
    with start_embedded() as server:
        report = check_migrations(server.dsn(), migrations)
    for finding in report.findings:
        print(finding)
    for name in report.unchecked:
        print(f"{name}: not checked (an earlier migration does not apply)")
    for note in report.notes:
        print(f"note: {note}")
    print(f"guard: {len(migrations)} migration(s), {len(report.refused())} refused finding(s)")
    from selfheal.run.github import guard_annotations

    for command in guard_annotations(report, settings.migrations_dir):
        print(command)
    return 0 if report.ok else 1


def cmd_delta(args: argparse.Namespace, settings: Settings) -> int:
    """Write a migration holding only what the target lacks; list what needs a human."""
    expected = locked_or_built(settings.migrations_dir, settings.schema_lock)
    with (
        target_database(settings) as dsn,
        connect_target(dsn, settings, read_only=True) as conn,
    ):
        delta = build_delta(diff(expected, snapshot(conn)))
    for note in delta.notes:
        print(f"needs a human: {note}", file=sys.stderr)
    if not delta.statements:
        print("delta: the target lacks nothing; nothing written", file=sys.stderr)
        return 0
    if args.out is None:
        sys.stdout.write(delta.render())
    else:
        staging = args.out.with_name(args.out.name + ".partial")
        staging.write_text(delta.render(), encoding="utf-8")
        staging.replace(args.out)  # atomic: never a half-written migration
    where = args.out or "stdout"
    print(f"delta: {len(delta.statements)} statement(s) written to {where}", file=sys.stderr)
    return 0


def cmd_lock(args: argparse.Namespace, settings: Settings) -> int:
    """Write the expected snapshot of the migrations to the lock file the checks read."""
    with start_embedded() as server:
        expected = expected_snapshot(server.dsn(), settings.migrations_dir)
    write_lock(settings.schema_lock, expected, settings.migrations_dir)
    print(f"lock: {len(expected.objects())} expected objects written to {settings.schema_lock}")
    return 0


# --- doctor: treat the last run's failures (reports/exec/last_run.json) -------------------
def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from etl.rerun import etl_runner
    from selfheal.doctor import Context, Doctor, render_plan
    from selfheal.doctor.doctor import FAILED, still_failing
    from selfheal.pytest_plugin.history import record_heals
    from selfheal.run.reporting import redact
    from selfheal.run.summary import read_last_run
    from selfheal.run.tickets import Backlog, load_tickets

    tickets = load_tickets(settings.backlog_dir)
    failures = still_failing(read_last_run(settings.reports_dir), tickets)
    started = datetime.now(settings.zone)
    with target_database(settings) as dsn:
        context = Context(dsn, settings, etl=etl_runner(dsn, settings))
        doctor = Doctor(context, Path("."), tickets)
        results = doctor.run(failures, heal=args.heal)
        said = ""
        if args.heal and results:  # outside a session: the history hears of the heals here
            said = record_heals(settings, dsn, results, started, lambda t: redact(t, settings))
    print(redact(render_plan(results), settings))
    if said:
        print(said)
    backlog = Backlog(settings.backlog_dir, lambda text: redact(text, settings))
    backlog.record_heals(results, datetime.now(settings.zone))
    if not args.heal and results:
        print("(plan only: nothing changed; run `selfheal doctor --heal` to apply it)")
    return 1 if any(r.outcome == FAILED for r in results) else 0


def cmd_etl(args: argparse.Namespace, settings: Settings) -> int:
    """`python -m etl`, as a subcommand."""
    return etl_cli.execute(args, settings, prepare_database)


def cmd_kpi(args: argparse.Namespace, settings: Settings) -> int:
    """The executive page (`python -m selfheal.kpi`), as a subcommand."""
    return kpi.run(settings, "selfheal kpi")


def cmd_ci(args: argparse.Namespace, settings: Settings) -> int:
    """The last run on a GitHub Actions job page: step summary and annotations."""
    from selfheal.run.github import publish

    for command in publish(settings):
        print(command)
    return 0


DESCRIPTION = (
    "Verify and heal a PostgreSQL / Supabase data stack from the command line: apply and guard "
    "migrations, write the additive delta a live database lacks, run the ETL and the executive "
    "page, and let the doctor plan or apply remedies for the last run's failures. Without "
    "SUPABASE_DB_URL every command acts on the embedded local PostgreSQL. The checks themselves "
    "run with pytest: pytest, pytest -m preflight, ..."
)
# name -> (one-line help, one-paragraph description)
COMMANDS = {
    "migrate": (
        "apply pending migrations to the target database",
        "Apply the migration files the target's ledger does not list yet, in version order, "
        "each in its own transaction with its ledger row. Refuses to start when an applied file "
        "was edited; a failing file rolls back whole and stops the run.",
    ),
    "guard": (
        "refuse destructive or non-idempotent migrations",
        "Apply every migration file in a scratch database of the embedded server (never the "
        "target) with sample rows in every table, and refuse what a file does to existing rows, "
        "objects or access without a reviewed waiver: drops, rewrites, exposure, access loss, "
        "loosened guarantees, and a second run that changes anything. Exit 1 on a refusal.",
    ),
    "delta": (
        "write an additive migration of what the target lacks",
        "Compare the target with the schema the migrations build and write a migration holding "
        "only the additive statements the target lacks; what needs a person (a type change, an "
        "extra object) is listed, never written.",
    ),
    "lock": (
        "write the expected schema of the migrations to the lock",
        "Build the schema the migrations create in a scratch database and write it to the "
        "schema lock file that the schema checks compare the target with.",
    ),
    "doctor": (
        "plan (or with --heal apply) remedies for the last run",
        "Read the last run's failures (reports/exec/last_run.json) and plan a remedy for each "
        "problem the doctor knows; with --heal apply them in transactions and re-check. Tickets "
        "record what was tried.",
    ),
    "etl": (
        "pull the sources and compute metrics (as `python -m etl`)",
        etl_cli.__doc__ or "",
    ),
    "kpi": (
        "write the executive page (reports/exec/kpi_*.md)",
        "Write the executive page of the target: spend, conversions and cpa per day over the "
        "last 30 days, with its chart (SVG) beside it. Reads the target read-only.",
    ),
    "ci": (
        "show the last run on a GitHub Actions job: step summary and annotations",
        "Append the last run's summary to the file $GITHUB_STEP_SUMMARY names and print one "
        "GitHub annotation per failing check (and per warning), on the rule file, SQL file or "
        "migration line it is about. Run it as a workflow's last step, on every outcome.",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="selfheal", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"selfheal {_version()}")
    logs.add_verbose_option(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[..., int], **options) -> argparse.ArgumentParser:
        summary, description = COMMANDS[name]
        command = commands.add_parser(name, help=summary, description=description, **options)
        command.set_defaults(handler=handler)
        return command

    p = add("migrate", cmd_migrate)
    p.add_argument("--dry-run", action="store_true", help="list pending migrations only")

    p = commands.add_parser(
        "target",
        help="act on the target database itself",
        description="Act on the target database itself: `target prepare` adds, on a plain "
        "PostgreSQL, the roles, auth functions and grants a Supabase project has, so that the "
        "migrations and checks run there as they do on Supabase.",
    )
    actions = p.add_subparsers(dest="action", required=True)
    prepare = actions.add_parser(
        "prepare", help="plain PostgreSQL: add the roles, auth functions and grants of Supabase"
    )
    prepare.set_defaults(handler=cmd_target_prepare)

    add("guard", cmd_guard)
    p = add("delta", cmd_delta)
    p.add_argument("--out", type=Path, help="migration file to write (default: stdout)")
    add("lock", cmd_lock)
    p = add("doctor", cmd_doctor)
    p.add_argument("--heal", action="store_true", help="apply the plan, then re-check")
    p = add("etl", cmd_etl, formatter_class=argparse.RawDescriptionHelpFormatter)
    etl_cli.add_arguments(p)
    add("kpi", cmd_kpi)
    add("ci", cmd_ci)
    return parser


def _version() -> str:
    try:
        return metadata.version("selfheal")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.verbose)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    try:
        settings = Settings.from_env()
        if args.command in TARGETED:
            # `delta` writes its migration to stdout: its target goes to stderr.
            print(
                describe_target(settings),
                file=sys.stderr if args.command == "delta" else sys.stdout,
            )
        return handler(args, settings)
    except USER_ERRORS as error:
        print(f"selfheal {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
