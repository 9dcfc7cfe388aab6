"""Running a job: plan its windows, extract, validate, load each window in one transaction, and
keep the `etl_runs` ledger. `run` is what the CLI, the pipeline and the doctor call.

Modes: `incremental` (from the last watermark minus a look-back, to now), `range` (explicit
--since/--until days), `backfill` (one window per local day, skipping days already backfilled:
resumable and idempotent). A dry run extracts and validates, then asks the database read-only
what would change; it writes nothing, not even the ledger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from etl import ledger, load, metrics, sources, validate
from etl.http import Deadline, HttpClient, RetryPolicy
from etl.ledger import Window
from etl.progress import Progress
from selfheal.core.db import connect
from selfheal.core.locks import advisory_locks
from selfheal.core.settings import KNOWN_SOURCES, Settings, SettingsError

JOBS = (*KNOWN_SOURCES, "metrics")
APPLICATION = "selfheal-etl"
INTERRUPTED = "interrupted (a signal or Ctrl-C) before the run finished"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOptions:
    lookback: timedelta = timedelta(days=3)
    initial_days: int = 30
    page_size: int = 500
    retry: RetryPolicy = RetryPolicy()
    # Wall-clock budget of one source job: no request, page or retry starts after it.
    job_timeout_seconds: float = 1800.0
    # A row dated later than now + this is quarantined as "in the future".
    future_tolerance: timedelta = timedelta(minutes=10)
    lock_wait_seconds: float = 0.0
    progress: bool = False
    now: datetime | None = None


@dataclass
class JobResult:
    job: str
    status: str  # succeeded | failed | skipped | dry-run
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    deleted: int = 0
    seconds: float = 0.0
    windows: int = 0
    error: str | None = None
    # Whether running the job again may help: False when the source failed in a way a retry
    # cannot fix (a redirect elsewhere, bad gzip, repeated members) or the settings are wrong.
    retryable: bool = True
    parts: list[JobResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "dry-run")

    def add(self, inserted: int, updated: int, unchanged: int, quarantined: int = 0) -> None:
        self.inserted += inserted
        self.updated += updated
        self.unchanged += unchanged
        self.quarantined += quarantined
        self.read += inserted + updated + unchanged + quarantined
        self.windows += 1

    def summary(self) -> str:
        verb = "would be " if self.status == "dry-run" else ""
        line = (
            f"{self.job}: read={self.read} {verb}inserted={self.inserted} updated={self.updated}"
            f" unchanged={self.unchanged} quarantined={self.quarantined}"
            + (f" deleted={self.deleted}" if self.deleted else "")
            + f" seconds={self.seconds:.2f} [{self.status}]"
        )
        return line + (f": {self.error}" if self.error else "")


def job_name(name: str) -> str:
    """`source-a` and `source_a` both name source A; raises ValueError for unknown names."""
    normal = name.strip().lower().replace("-", "_")
    if normal not in (*JOBS, "all"):
        raise ValueError(f"unknown job {name!r}; known: {', '.join((*JOBS, 'all'))}")
    return normal


@dataclass(frozen=True)
class Request:
    """One job as asked for: where, with which settings, over which days, how."""

    job: str
    dsn: str
    settings: Settings
    dry_run: bool = False
    since: date | None = None
    until: date | None = None
    backfill: bool = False
    options: JobOptions = JobOptions()

    @property
    def zone(self) -> ZoneInfo:
        return self.settings.zone

    def now(self) -> datetime:
        return self.options.now or datetime.now(UTC)

    def latest_plausible(self) -> datetime:
        """The latest instant a row may carry: later ones are in the future."""
        return self.now() + self.options.future_tolerance

    def today(self) -> date:
        return self.now().astimezone(self.zone).date()

    def first_default_day(self) -> date:
        return self.today() - timedelta(days=self.options.initial_days - 1)


def run(
    job: str,
    dsn: str,
    settings: Settings,
    dry_run: bool = False,
    since: date | None = None,
    until: date | None = None,
    backfill: bool = False,
    options: JobOptions | None = None,
) -> JobResult:
    """Run one job (events, source_a, source_b, metrics) or `all` of them in that order."""
    request = Request(
        job_name(job), dsn, settings, dry_run, since, until, backfill, options or JobOptions()
    )
    return _run(request)


def _run(request: Request) -> JobResult:
    started = time.monotonic()
    if request.job == "all":
        result = _run_all(request)
    else:
        body = _metrics if request.job == "metrics" else _source
        result = _guarded(request.job, lambda: body(request))
    result.seconds = time.monotonic() - started
    return result


def _guarded(name: str, body: Callable[[], JobResult]) -> JobResult:
    """The job's result; any error (settings, source, database, a bug) becomes a failed result,
    so `all` goes on with the next job. Unexpected ones leave their traceback in the debug log."""
    try:
        return body()
    except Exception as error:
        if not isinstance(error, _EXPECTED):
            log.info("%s: unexpected failure", name, exc_info=True)
        return JobResult(name, "failed", error=_describe(error), retryable=_retryable(error))


_EXPECTED = (SettingsError, psycopg.Error, ConnectionError, RuntimeError, ValueError)


def _retryable(error: Exception) -> bool:
    """Sources say (SourceError.retryable); bad settings never heal by themselves."""
    return getattr(error, "retryable", not isinstance(error, SettingsError))


def _describe(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: {' '.join(lines)}".rstrip(": ")


def _run_all(request: Request) -> JobResult:
    backfilled = set(request.settings.backfill_sources) if request.backfill else set()
    parts = [_run(replace(request, job=name, backfill=name in backfilled)) for name in JOBS]
    statuses = {part.status for part in parts}
    status = next(s for s in ("failed", "skipped", "dry-run", "succeeded") if s in statuses)
    total = JobResult("all", status, parts=parts)
    for part in parts:
        total.add(part.inserted, part.updated, part.unchanged, part.quarantined)
        total.deleted += part.deleted
    total.windows = sum(part.windows for part in parts)
    failed = [f"{part.job}: {part.error}" for part in parts if part.error]
    total.error = "; ".join(failed) or None
    total.retryable = any(part.retryable for part in parts if not part.ok) or not failed
    return total


def _locked(request: Request, names: tuple[str, ...]) -> AbstractContextManager[bool]:
    """Hold the sources' advisory locks for the block, or yield False when one is busy."""
    return advisory_locks(
        request.dsn,
        names,
        wait_seconds=request.options.lock_wait_seconds,
        pooler=request.settings.pooler,
        application_name=APPLICATION,
    )


def _connect(request: Request, **options: bool) -> psycopg.Connection:
    return connect(
        request.dsn, application_name=APPLICATION, pooler=request.settings.pooler, **options
    )


def _busy(name: str) -> JobResult:
    return JobResult(name, "skipped", error="another run holds its lock; nothing was done")


# ---- sources ---------------------------------------------------------------------------------


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock(), tzinfo=zone).astimezone(UTC)


def _day_windows(first: date, last: date, zone: ZoneInfo) -> list[Window]:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [
        Window(_local_midnight(d, zone), _local_midnight(d + timedelta(days=1), zone)) for d in days
    ]


def plan(conn: psycopg.Connection, request: Request) -> tuple[str, list[Window]]:
    """The mode and the windows to load."""
    name, settings, zone = request.job, request.settings, request.zone
    if request.backfill:
        first = request.since or settings.backfill_start
        last = request.until or settings.backfill_end
        if first is None or last is None:
            raise SettingsError(
                {
                    "BACKFILL_START": "backfill needs a first and a last day "
                    "(--since/--until or BACKFILL_START/BACKFILL_END)"
                }
            )
        done = ledger.succeeded_windows(conn, name, "backfill")
        return "backfill", [w for w in _day_windows(first, last, zone) if w not in done]
    if request.since or request.until:
        first = request.since or request.first_default_day()
        last = request.until or request.today()
        return "range", [
            Window(_local_midnight(first, zone), _local_midnight(last + timedelta(days=1), zone))
        ]
    now = request.now()
    mark = ledger.last_watermark(conn, name, not_after=request.latest_plausible())
    start = (
        mark - request.options.lookback
        if mark
        else _local_midnight(request.first_default_day(), zone)
    )
    return "incremental", [Window(min(start, now), now)]


def _latest_instant(name: str, rows: list[tuple[Any, ...]], zone: ZoneInfo) -> datetime | None:
    """The latest instant of the rows' window column: of a day (source A), its local midnight
    (converting only that day: the conversion per row cost as much as validating the row)."""
    if not rows:
        return None
    spec = validate.table_spec(name)
    latest = max(map(itemgetter(spec.window_index), rows))
    return _local_midnight(latest, zone) if spec.windowed_by_day else latest


def _fetch(request: Request, client: HttpClient, window: Window) -> list[Any]:
    name, options = request.job, request.options
    progress = Progress(name, options.progress)
    try:
        return sources.EXTRACTORS[name](client, window, request.zone, options.page_size, progress)
    finally:
        progress.done()


def _window_span(name: str, window: Window, zone: ZoneInfo) -> tuple[Any, Any]:
    """The least and greatest value of the table's window column (`TableSpec.windowed_by`) the
    window asks for: the days source A is asked for, the hours of source B, the instants events
    occurred at."""
    if validate.table_spec(name).windowed_by_day:
        last = window.end - timedelta(microseconds=1)
        return window.start.astimezone(zone).date(), last.astimezone(zone).date()
    return window.start, window.end


def _source(request: Request) -> JobResult:
    name, options = request.job, request.options
    deadline = Deadline.after(options.job_timeout_seconds)
    client = sources.client_for(name, request.settings, options.retry, deadline)
    try:
        if request.dry_run:
            return _preview_source(request, client)
        with (
            _locked(request, (name,)) as locked,
            _connect(request, autocommit=True) as conn,
        ):
            if not locked:
                return _busy(name)
            ledger.abandon_stale(conn, name)
            mode, windows = plan(conn, request)
            result = JobResult(name, "succeeded")
            for window in windows:
                _load_window(conn, request, client, mode, window, result)
                if result.status == "failed":
                    break
            return result
    finally:
        client.close()


def _load_window(
    conn: psycopg.Connection,
    request: Request,
    client: HttpClient,
    mode: str,
    window: Window,
    result: JobResult,
) -> None:
    """Load one window in one transaction; a failure rolls it back and is recorded apart.

    Whatever happens, the ledger row does not stay `running`: it is closed `succeeded` with the
    data, or `failed` with the reason (on an interrupt too, which is then raised again).
    """
    name, zone = request.job, request.zone
    run_id = ledger.start_run(conn, name, mode, window)
    try:
        payloads = _fetch(request, client, window)
        with conn.transaction():
            checked, counts = load.validate_and_load(
                conn,
                name,
                payloads,
                request.latest_plausible(),
                zone,
                _window_span(name, window, zone),
            )
            load.quarantine(conn, run_id, name, checked.rejected)
            unchanged = counts.unchanged + checked.duplicates
            ledger.finish_run(
                conn,
                run_id,
                read=checked.read,
                inserted=counts.inserted,
                updated=counts.updated,
                unchanged=unchanged,
                quarantined=len(checked.rejected),
                watermark=_latest_instant(name, checked.rows, zone),
            )
    except Exception as error:
        result.status, result.error = "failed", _close_failed(conn, run_id, name, error)
        result.retryable = _retryable(error)
        return
    except BaseException:
        _close_failed(conn, run_id, name, None)
        raise
    result.add(counts.inserted, counts.updated, unchanged, len(checked.rejected))


def _close_failed(conn: psycopg.Connection, run_id: int, name: str, error: Exception | None) -> str:
    """Mark the run failed with the error's one-line description (None: interrupted) and return
    it. If even that fails (the database is gone), the next run marks the row abandoned."""
    if error is not None and not isinstance(error, _EXPECTED):
        log.info("%s: unexpected failure", name, exc_info=error)
    reason = INTERRUPTED if error is None else _describe(error)
    try:
        ledger.fail_run(conn, run_id, reason)
    except psycopg.Error:
        log.warning("%s: run %s could not be marked failed; the next run will", name, run_id)
    return reason


def _preview_source(request: Request, client: HttpClient) -> JobResult:
    spec = validate.table_spec(request.job)
    result = JobResult(request.job, "dry-run")
    with _connect(request, read_only=True) as conn:
        _, windows = plan(conn, request)
        for window in windows:
            payloads = _fetch(request, client, window)
            checked = validate.validate(
                request.job, payloads, request.latest_plausible(), request.zone
            )
            counts = load.classify(conn, spec, checked.rows)
            result.add(
                counts.inserted,
                counts.updated,
                counts.unchanged + checked.duplicates,
                len(checked.rejected),
            )
        conn.rollback()
    return result


# ---- metrics ---------------------------------------------------------------------------------


def _metric_days(request: Request) -> list[date] | None:
    """The explicit range of days, or None for `the days touched since the last run`."""
    if not (request.since or request.until):
        return None
    first = request.since or request.first_default_day()
    last = request.until or request.today()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _days_window(days: list[date], zone: ZoneInfo) -> Window | None:
    if not days:
        return None
    return Window(
        _local_midnight(min(days), zone), _local_midnight(max(days) + timedelta(days=1), zone)
    )


def _metrics_result(status: str, counts: metrics.MetricCounts) -> JobResult:
    result = JobResult("metrics", status, deleted=counts.deleted)
    result.add(counts.inserted, counts.updated, counts.unchanged)
    return result


def _metrics(request: Request) -> JobResult:
    explicit, tz = _metric_days(request), request.settings.tz
    if request.dry_run:
        with _connect(request, read_only=True) as conn:
            mark = ledger.last_watermark(conn, "metrics")
            counts = metrics.preview(conn, tz, explicit or metrics.touched_days(conn, tz, mark))
            conn.rollback()
        return _metrics_result("dry-run", counts)
    # Holding every source's lock: no load commits while the touched days are being read.
    with (
        _locked(request, JOBS) as locked,
        _connect(request, autocommit=True) as conn,
    ):
        if not locked:
            return _busy("metrics")
        ledger.abandon_stale(conn, "metrics")
        # With the locks held no load commits, so the days can be read before the transaction.
        days = explicit or metrics.touched_days(conn, tz, ledger.last_watermark(conn, "metrics"))
        window = _days_window(days, request.zone)
        run_id = ledger.start_run(conn, "metrics", "range" if explicit else "incremental", window)
        try:
            with conn.transaction():
                now = conn.execute("SELECT now()").fetchone()[0]
                counts = metrics.recompute(conn, tz, days)
                ledger.finish_run(
                    conn,
                    run_id,
                    read=counts.computed,
                    inserted=counts.inserted,
                    updated=counts.updated,
                    unchanged=counts.unchanged,
                    quarantined=0,
                    watermark=now,
                )
        except Exception as error:
            return JobResult(
                "metrics", "failed", error=_close_failed(conn, run_id, "metrics", error)
            )
        except BaseException:
            _close_failed(conn, run_id, "metrics", None)
            raise
    return _metrics_result("succeeded", counts)
