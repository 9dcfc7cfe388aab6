"""`python -m etl {events,source-a,source-b,metrics,all} [--dry-run] [--since DATE] [--until DATE]
[--backfill]`: pull sources and compute metrics. One summary line per job.

RUN_BACKFILL, BACKFILL_SOURCES, BACKFILL_START and BACKFILL_END do what the flags do. Without
SUPABASE_DB_URL the embedded local default is used (migrated first: the caller hands in how, since
the ETL sits beside the migration engine, not above it). `--fake SEED` serves the
local fake sources for the run (with a few malformed and duplicate rows), for demos.

Every HTTP request has a wall-clock deadline (--request-timeout) and every source job a budget
(--job-timeout). `all` runs every job even when one fails; each failure is one line on stderr.

Exit codes: 0 success, 1 a job failed, 2 bad usage or settings, 75 another run holds the lock,
130 interrupted (Ctrl-C or SIGTERM; the run's ledger row is closed failed).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from etl import fake, progress
from etl.http import RetryPolicy
from etl.jobs import JobOptions, JobResult, job_name, run
from etl.sources import CONNECTION
from selfheal.core import logs
from selfheal.core.cluster import ClusterError
from selfheal.core.db import DatabaseUnreachable
from selfheal.core.embedded import ServerBinariesMissing
from selfheal.core.settings import VARIABLES, Settings, SettingsError
from selfheal.core.target import describe_target, target_database

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 75
EXIT_INTERRUPTED = 130

# Applies the migrations to an empty database (`selfheal.migrate.runner.prepare_database`).
Prepare = Callable[[str, Path], None]


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date (YYYY-MM-DD)") from None


def _job(raw: str) -> str:
    """The job's name; on a typo, the names argparse prints are the known jobs."""
    try:
        return job_name(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _non_negative(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{raw!r} must be zero or more")
    return value


def _positive(raw: str) -> float:
    value = _non_negative(raw)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{raw!r} must be more than zero")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m etl",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    logs.add_verbose_option(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments, on its own parser or on `selfheal etl`'s."""
    parser.add_argument("job", type=_job, help="events, source-a, source-b, metrics or all")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="extract and validate, report what would change, write nothing",
    )
    parser.add_argument("--since", type=_day, help="first local day (YYYY-MM-DD)")
    parser.add_argument("--until", type=_day, help="last local day, inclusive (YYYY-MM-DD)")
    parser.add_argument(
        "--backfill",
        action="store_true",
        help="one window per day from --since to --until, resumable",
    )
    parser.add_argument(
        "--lookback-days",
        type=_non_negative,
        default=3.0,
        help="incremental runs re-read this many days before the watermark",
    )
    parser.add_argument(
        "--lock-wait",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for a concurrent run of the same source",
    )
    parser.add_argument(
        "--request-timeout",
        type=_positive,
        default=RetryPolicy.timeout_seconds,
        metavar="SECONDS",
        help="wall-clock deadline of one HTTP request: connect, headers and body",
    )
    parser.add_argument(
        "--job-timeout",
        type=_positive,
        default=JobOptions.job_timeout_seconds,
        metavar="SECONDS",
        help="wall-clock budget of one source job: no request, page or retry starts after it",
    )
    parser.add_argument(
        "--fake",
        type=int,
        metavar="SEED",
        help="serve the local fake sources (deterministic from SEED)",
    )


@contextmanager
def database(settings: Settings, prepare: Prepare) -> Iterator[str]:
    """The DSN to load into: SUPABASE_DB_URL, or the embedded default with migrations applied."""
    with target_database(settings) as dsn:
        if not settings.live:
            prepare(dsn, settings.migrations_dir)
        yield dsn


def exit_code(result: JobResult) -> int:
    if result.status == "skipped":
        return EXIT_BUSY
    return 0 if result.ok else EXIT_FAILED


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a cancelled CI job, a stopped service) ends the run as Ctrl-C does: the window
    rolls back and its ledger row is closed `failed`, instead of dying with the row `running`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print(result: JobResult) -> None:
    for part in result.parts or [result]:
        print(part.summary())
    if result.parts:
        print(result.summary())


def main(argv: Sequence[str] | None = None, *, prepare: Prepare) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.verbose)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"etl {args.job}: {error}", file=sys.stderr)
        return EXIT_USAGE
    return execute(args, settings, prepare)


def usage_problem(args: argparse.Namespace, settings: Settings) -> str | None:
    """Why the command cannot run as asked, said once: an empty window, or a source job whose
    connection is not configured (on the embedded default, `--fake` serves local sources)."""
    if args.since and args.until and args.since > args.until:
        return (
            f"--since {args.since} is after --until {args.until}: the window is empty; "
            "give --since on or before --until"
        )
    if args.fake is not None:
        return None
    sources = [s for s in CONNECTION if args.job in (s, "all")]
    missing = [
        variable.name
        for source in sources
        for variable in VARIABLES
        if variable.attribute in CONNECTION[source]
        and getattr(settings, variable.attribute) is None
    ]
    if not missing:
        return None
    hint = (
        ""
        if settings.live
        else ("; on the embedded default, `--fake SEED` serves the local fake sources instead")
    )
    return f"{', '.join(missing)} not set (needed by {', '.join(sources)}){hint}"


def execute(args: argparse.Namespace, settings: Settings, prepare: Prepare) -> int:
    """Run the job the arguments name; print one summary line per job; return the exit code."""
    problem = usage_problem(args, settings)
    if problem:
        print(f"etl {args.job}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    print(describe_target(settings), flush=True)
    try:
        backfill = args.backfill or settings.run_backfill
        options = JobOptions(
            lookback=timedelta(days=args.lookback_days),
            lock_wait_seconds=args.lock_wait,
            progress=progress.wanted(),
            retry=replace(RetryPolicy(), timeout_seconds=args.request_timeout),
            job_timeout_seconds=args.job_timeout,
        )
        with ExitStack() as stack:
            stack.enter_context(_terminate_as_interrupt())
            if args.fake is not None:
                fakes = stack.enter_context(fake.serve_all(seed=args.fake, faults=fake.DEMO_FAULTS))
                settings = fakes.configure(settings)
            dsn = stack.enter_context(database(settings, prepare))
            result = run(
                args.job,
                dsn,
                settings,
                dry_run=args.dry_run,
                since=args.since,
                until=args.until,
                backfill=backfill,
                options=options,
            )
    except (SettingsError, DatabaseUnreachable, ServerBinariesMissing, ClusterError) as error:
        print(f"etl {args.job}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            f"etl {args.job}: interrupted; the run's ledger row is closed failed", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    _print(result)
    for part in result.parts or [result]:
        if not part.ok and part.error:
            print(f"etl {part.job}: {part.status}: {part.error}", file=sys.stderr)
    return exit_code(result)
