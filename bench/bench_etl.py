"""Benchmark of the ETL path from JSON payloads against a raw COPY of the same rows, in one run.

    .venv/bin/python bench/bench_etl.py [--source a|b|events] [--rows 1000000] [--repeat 3]

N distinct rows of the source are served as JSON pages of 500 (as the source's contract has
them) and decoded as the HTTP client decodes them (strict JSON, repeated members kept; timed
apart: it happens while extracting). Then, on a throwaway embedded PostgreSQL, each trial in a
fresh database measures: (1) raw COPY of the typed rows into an empty UNLOGGED table without
indexes, as psycopg writes rows by default (text) and in binary; (2) the first load:
`etl.load.validate_and_load` of the decoded payloads into the empty table, as the job runs it
(its span, the job's window, is the rows' range: the target has nothing there, so each chunk
is copied in as soon as it is checked); (3) the same again, every row unchanged (checked, then
staged); (4) for reference, a binary COPY of the typed rows straight into the emptied target
(its key index and WAL: the floor of any load). With --stored N, the target holds N earlier rows
of the source (before the window) in each measurement: the loads should cost the window's
rows, not the table's. Goals: validate + first load >= 50% of raw COPY
throughput; the unchanged re-load no slower than the first load and writing no row version (no
row has the re-load's transaction id as xmin).

Beside each wall time, the CPU time of this process (validation and psycopg's formatting of
the rows) and of the server backend (from /proc: the server is local), to show which side bounds
each measurement; their sum over the machine's cores is a floor no overlap can beat.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from etl import load, strict_json, validate
from etl.contracts import TableSpec
from selfheal.core.db import create_database
from selfheal.core.embedded import start_embedded
from selfheal.migrate.runner import prepare_database

ROOT = Path(__file__).resolve().parent.parent
PAGE_SIZE = 500  # etl.jobs.JobOptions.page_size
CAMPAIGNS = 10
CREATIVES = 10
ADS = 100
USERS = 50_000
EVENT_NAMES = ("page_view", "signup", "login", "add_to_cart", "checkout", "purchase")
RAW = "bench_raw"
STORE_CHUNK = 100_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Timing:
    """Seconds of one measurement: wall clock, this process's CPU and the server backend's."""

    wall: float
    client: float
    server: float


def backend_cpu(conn: psycopg.Connection) -> float:
    """CPU seconds (user + system) the connection's server process has used so far."""
    with open(f"/proc/{conn.info.backend_pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measured(conn: psycopg.Connection, action: Callable[[], Any]) -> tuple[Timing, Any]:
    """The timing of `action` (which uses `conn`) and what it returned."""
    server, client, wall = backend_cpu(conn), time.process_time(), time.perf_counter()
    result = action()
    return (
        Timing(
            time.perf_counter() - wall,
            time.process_time() - client,
            backend_cpu(conn) - server,
        ),
        result,
    )


def payload_b(n: int) -> dict[str, Any]:
    """Row `n` of source B: hours x 10 campaigns x 10 creatives."""
    hour = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(hours=n // (CAMPAIGNS * CREATIVES))
    return {
        "hour": hour.isoformat().replace("+00:00", "Z"),
        "campaign": f"campaign-{n % CAMPAIGNS}",
        "creative": f"creative-{n // CAMPAIGNS % CREATIVES}",
        "impressions": n % 997,
        "clicks": n % 31,
        "cost_micros": (n % 31) * 250_000,
    }


def payload_a(n: int) -> dict[str, Any]:
    """Row `n` of source A: days x 10 campaigns x 100 ads."""
    day = date(2020, 1, 1) + timedelta(days=n // (CAMPAIGNS * ADS))
    return {
        "date": day.isoformat(),
        "campaign_id": f"campaign-{n % CAMPAIGNS}",
        "ad_id": f"ad-{n // CAMPAIGNS % ADS}",
        "impressions": n % 997,
        "clicks": n % 31,
        "spend": f"{n % 50_000 / 100:.2f}",
        "currency": "USD",
    }


def payload_events(n: int) -> dict[str, Any]:
    """Event `n`: one every 10 ms, 50,000 users, a purchase now and then with its attribution."""
    occurred = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(milliseconds=10 * n)
    name = EVENT_NAMES[n % len(EVENT_NAMES)]
    properties: dict[str, Any] = {"path": ("/", "/pricing", "/checkout")[n % 3]}
    if name == "purchase":
        properties = {
            "source": "source_a",
            "campaign": f"campaign-{n % CAMPAIGNS}",
            "value": n % 200 + 0.5,
        }
    return {
        "event_id": f"ev-{n:010d}",
        "user_id": str(uuid.UUID(int=n % USERS * 7919 + 1)),
        "event_name": name,
        "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
        "received_at": (occurred + timedelta(seconds=2)).isoformat().replace("+00:00", "Z"),
        "properties": properties,
    }


@dataclass(frozen=True)
class Source:
    name: str
    payload: Callable[[int], dict[str, Any]]
    page: Callable[[list[dict[str, Any]], int, int], dict[str, Any]]
    items: str  # the page's member holding its payloads


SOURCES = {
    "a": Source(
        "source_a",
        payload_a,
        lambda rows, number, total: {
            "data": rows,
            "next_cursor": None if number == total else f"c{number}",
        },
        "data",
    ),
    "b": Source(
        "source_b",
        payload_b,
        lambda rows, number, total: {"results": rows, "page": number, "total_pages": total},
        "results",
    ),
    "events": Source(
        "events",
        payload_events,
        lambda rows, number, total: {"events": rows, "has_more": number < total},
        "events",
    ),
}


def pages(source: Source, count: int) -> list[bytes]:
    """The bodies a source serves for `count` rows, PAGE_SIZE rows a page."""
    total = -(-count // PAGE_SIZE)
    return [
        json.dumps(
            source.page(
                [source.payload(n) for n in range(start, min(start + PAGE_SIZE, count))],
                start // PAGE_SIZE + 1,
                total,
            )
        ).encode()
        for start in range(0, count, PAGE_SIZE)
    ]


def decoded(source: Source, bodies: Sequence[bytes]) -> list[Any]:
    """The payloads as extraction hands them to validation: each page decoded strictly."""
    payloads: list[Any] = []
    for body in bodies:
        page = strict_json.loads(body)
        payloads += page[source.items]
    return payloads


def new_raw_table(conn: psycopg.Connection, spec: TableSpec) -> sql.Identifier:
    """A new UNLOGGED table without indexes for the source's columns."""
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(RAW)))
    conn.execute(
        sql.SQL("CREATE UNLOGGED TABLE {} ({})").format(
            sql.Identifier(RAW), load.column_definitions(spec)
        )
    )
    conn.commit()
    return sql.Identifier(RAW)


def copy_rows(
    conn: psycopg.Connection,
    table: sql.Composable,
    spec: TableSpec,
    rows: Sequence[Sequence[Any]],
    binary: bool,
) -> None:
    """COPY `rows` into `table` and commit."""
    copy = sql.SQL("COPY {} ({}) FROM STDIN {}").format(
        table,
        sql.SQL(", ").join(map(sql.Identifier, spec.names)),
        sql.SQL("(FORMAT BINARY)" if binary else ""),
    )
    with conn.transaction(), conn.cursor() as cur, cur.copy(copy) as pipe:
        if binary:
            pipe.set_types([load.WIRE_TYPES[sql_type] for _, sql_type in spec.columns])
        for row in rows:
            pipe.write_row(row)


@dataclass
class Trial:
    copy_text: Timing
    copy_binary: Timing
    copy_target: Timing
    validate_alone: Timing
    first: Timing
    again: Timing
    first_counts: load.LoadCounts
    again_counts: load.LoadCounts
    written: int


def etl_load(
    conn: psycopg.Connection, source: str, payloads: list[Any], span: tuple, xid: list[str]
) -> load.LoadCounts:
    """The job's validate-and-load transaction, committed; its transaction id goes to `xid`."""
    with conn.transaction():
        xid.append(conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
        _, counts = load.validate_and_load(conn, source, payloads, datetime.now(UTC), UTC, span)
    return counts


def store_earlier(dsn: str, source: Source, count: int) -> None:
    """`count` rows of the source from before the window (numbers -count..-1), as earlier loads
    left them: in the target, vacuumed and analyzed."""
    spec = validate.table_spec(source.name)
    target = sql.Identifier(load.SCHEMA, spec.table)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for start in range(-count, 0, STORE_CHUNK):
            payloads = [source.payload(n) for n in range(start, min(start + STORE_CHUNK, 0))]
            copy_rows(conn, target, spec, validate.validate(source.name, payloads).rows, True)
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(target))


def trial(dsn: str, source: Source, payloads: list[Any], rows: Sequence[Any], stored: int) -> Trial:
    """The measurements in one fresh database, whose target holds `stored` earlier rows."""
    spec = validate.table_spec(source.name)
    target = sql.Identifier(load.SCHEMA, spec.table)
    windowed = [row[spec.window_index] for row in rows]
    span = (min(windowed), max(windowed))  # the job's window
    store_earlier(dsn, source, stored)
    with psycopg.connect(dsn) as conn:
        validate_alone, _ = measured(
            conn, lambda: validate.validate(source.name, payloads, datetime.now(UTC))
        )
        copy_text, _ = measured(
            conn, lambda: copy_rows(conn, new_raw_table(conn, spec), spec, rows, binary=False)
        )
        copy_binary, _ = measured(
            conn, lambda: copy_rows(conn, new_raw_table(conn, spec), spec, rows, binary=True)
        )
        xid: list[str] = []
        first, first_counts = measured(
            conn, lambda: etl_load(conn, source.name, payloads, span, xid)
        )
        again, again_counts = measured(
            conn, lambda: etl_load(conn, source.name, payloads, span, xid)
        )
        written = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE xmin::text = %s").format(target), (xid[-1],)
        ).fetchone()[0]
        conn.execute(sql.SQL("TRUNCATE {}").format(target))
        conn.commit()
    store_earlier(dsn, source, stored)
    with psycopg.connect(dsn) as conn:
        copy_target, _ = measured(conn, lambda: copy_rows(conn, target, spec, rows, binary=True))
    return Trial(
        copy_text,
        copy_binary,
        copy_target,
        validate_alone,
        first,
        again,
        first_counts,
        again_counts,
        written,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=sorted(SOURCES), default="b")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="trials; ratios are medians")
    parser.add_argument(
        "--stored", type=int, default=0, help="earlier rows already in the target (default 0)"
    )
    args = parser.parse_args()
    source = SOURCES[args.source]
    bodies = pages(source, args.rows)
    began = time.perf_counter()
    payloads = decoded(source, bodies)
    decoding = time.perf_counter() - began
    rows = validate.validate(source.name, payloads).rows
    print(f"{source.name}: {args.rows:,} rows in {len(bodies):,} pages of {PAGE_SIZE}")
    print(f"stored in the target before the window: {args.stored:,} rows")
    print(f"decode pages (strict JSON, while extracting): {decoding:6.2f} s")
    with start_embedded() as server:
        trials = []
        for number in range(args.repeat):
            dsn = create_database(server.dsn(), f"bench_etl_{number}")
            prepare_database(dsn, ROOT / "migrations")
            trials.append(trial(dsn, source, payloads, rows, args.stored))
            report(args.rows, trials[-1])
    if args.repeat > 1:
        print(f"median over {args.repeat} trials:")
        ratios(trials)


def report(n: int, t: Trial) -> None:
    lines = (
        ("raw COPY, text (unlogged table)", t.copy_text, ""),
        ("raw COPY, binary (unlogged table)", t.copy_binary, ""),
        ("COPY, binary, into the target", t.copy_target, "(no validation, no staging)"),
        ("validate alone (for reference)", t.validate_alone, ""),
        ("validate + first load", t.first, ""),
        ("validate + re-load, unchanged", t.again, ""),
    )
    heading = f"rows: {n:,}"
    print(f"{heading:38s}{'wall':>6s}{'throughput':>21s}{'CPU: client':>13s}{'server':>9s}")
    for label, timing, detail in lines:
        print(
            f"{label:36s}: {timing.wall:6.2f} s {n / timing.wall:11,.0f} rows/s"
            f"  {timing.client:6.2f} s {timing.server:6.2f} s  {detail}"
        )
    print(f"first load: {t.first_counts}; re-load: {t.again_counts}")
    ratios([t])
    print(f"row versions written by re-load: {t.written}  (goal 0)")


def ratios(trials: list[Trial]) -> None:
    def median(ratio: Callable[[Trial], float]) -> float:
        return statistics.median(map(ratio, trials))

    text = median(lambda t: t.copy_text.wall / t.first.wall)
    binary = median(lambda t: t.copy_binary.wall / t.first.wall)
    alone = median(lambda t: t.copy_text.wall / t.copy_target.wall)
    again = median(lambda t: t.again.wall / t.first.wall)
    print(
        f"validate + first load / raw COPY throughput: {text:.2f} of text COPY,"
        f" {binary:.2f} of binary COPY  (goal >= 0.50)"
    )
    print(f"(COPY alone into the target: {alone:.2f} of text COPY)")
    for label, of in (("first load", attrgetter("first")), ("re-load", attrgetter("again"))):
        client = median(lambda t, of=of: of(t).client / of(t).wall)
        server = median(lambda t, of=of: of(t).server / of(t).wall)
        print(f"{label}: client CPU {client:.2f} of its wall time, server CPU {server:.2f}")
    print(f"re-load time / first load time: {again:.2f}  (goal <= 1.00)")


if __name__ == "__main__":
    main()
