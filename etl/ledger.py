"""The `etl_runs` ledger (the per-source advisory locks are in `selfheal.core.locks`).

A run is recorded as `running` in its own transaction before its window is loaded; the window's
transaction marks it `succeeded` together with the data, so the two commit or vanish together.
A failure is recorded afterwards in its own transaction. A `running` row found while holding the
source's lock belongs to a process that died: it is marked failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

ABANDONED = "abandoned: the process running it stopped before finishing"


@dataclass(frozen=True)
class Window:
    """A half-open interval [start, end) of UTC-aware instants."""

    start: datetime
    end: datetime


def abandon_stale(conn: psycopg.Connection, source: str) -> int:
    """Mark `running` rows of the source failed; call only while holding its lock."""
    cur = conn.execute(
        "UPDATE public.etl_runs SET status = 'failed', error = %s, finished_at = now()"
        " WHERE source = %s AND status = 'running'",
        (ABANDONED, source),
    )
    return cur.rowcount


def start_run(conn: psycopg.Connection, source: str, mode: str, window: Window | None) -> int:
    return conn.execute(
        "INSERT INTO public.etl_runs (source, mode, status, window_start, window_end)"
        " VALUES (%s, %s, 'running', %s, %s) RETURNING run_id",
        (source, mode, window and window.start, window and window.end),
    ).fetchone()[0]


def finish_run(
    conn: psycopg.Connection,
    run_id: int,
    *,
    read: int,
    inserted: int,
    updated: int,
    unchanged: int,
    quarantined: int,
    watermark: datetime | None,
) -> None:
    conn.execute(
        "UPDATE public.etl_runs SET status = 'succeeded', finished_at = clock_timestamp(),"
        " rows_read = %s, rows_inserted = %s, rows_updated = %s, rows_unchanged = %s,"
        " rows_quarantined = %s, watermark = %s WHERE run_id = %s",
        (read, inserted, updated, unchanged, quarantined, watermark, run_id),
    )


def fail_run(conn: psycopg.Connection, run_id: int, error: str) -> None:
    conn.execute(
        "UPDATE public.etl_runs SET status = 'failed', error = %s, finished_at = clock_timestamp()"
        " WHERE run_id = %s",
        (error, run_id),
    )


def last_watermark(
    conn: psycopg.Connection, source: str, not_after: datetime | None = None
) -> datetime | None:
    """The newest watermark of a succeeded run; one later than `not_after` (a future date that
    poisoned the ledger before future rows were quarantined) is ignored."""
    return conn.execute(
        "SELECT max(watermark) FROM public.etl_runs WHERE source = %s AND status = 'succeeded'"
        " AND (%s::timestamptz IS NULL OR watermark <= %s)",
        (source, not_after, not_after),
    ).fetchone()[0]


def succeeded_windows(conn: psycopg.Connection, source: str, mode: str) -> set[Window]:
    rows = conn.execute(
        "SELECT window_start, window_end FROM public.etl_runs"
        " WHERE source = %s AND mode = %s AND status = 'succeeded'",
        (source, mode),
    ).fetchall()
    return {Window(start, end) for start, end in rows}
