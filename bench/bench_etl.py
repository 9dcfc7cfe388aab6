"""Benchmark of the ETL load path against a raw COPY measured in the same run.

    .venv/bin/python bench/bench_etl.py [--rows 1000000]

On a throwaway embedded PostgreSQL: (1) raw COPY of N source-B rows into an empty UNLOGGED table
without indexes (the baseline); (2) the first load of the same rows through `etl.load` (COPY into
staging + upsert) into the empty `ads_source_b`; (3) the same rows loaded again (all unchanged).
Goals: first load >= 50% of raw COPY throughput; the unchanged re-load no slower than the first
load and writing no row version (no row has the re-load's transaction id as xmin).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from etl import load
from etl.contracts import SOURCE_B_TABLE
from selfheal.core.db import create_database
from selfheal.core.embedded import start_embedded
from selfheal.migrate.runner import prepare_database

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGNS = 10
CREATIVES = 10


def rows(count: int) -> list[tuple[Any, ...]]:
    """`count` distinct source-B rows: hours x 10 campaigns x 10 creatives."""
    start = datetime(2020, 1, 1, tzinfo=UTC)
    per_hour = CAMPAIGNS * CREATIVES
    return [
        (
            start + timedelta(hours=n // per_hour),
            f"campaign-{n % CAMPAIGNS}",
            f"creative-{n // CAMPAIGNS % CREATIVES}",
            n % 997,
            n % 31,
            (n % 31) * 250_000,
        )
        for n in range(count)
    ]


def timed(conn: psycopg.Connection, work: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds to run `work` in one transaction, commit included."""
    began = time.perf_counter()
    with conn.transaction():
        result = work()
    return time.perf_counter() - began, result


def raw_copy(conn: psycopg.Connection, data: Sequence[tuple[Any, ...]]) -> None:
    conn.execute(
        "CREATE UNLOGGED TABLE bench_raw (stat_hour timestamptz, campaign text, creative text,"
        " impressions bigint, clicks bigint, cost_micros bigint)"
    )
    conn.commit()

    def copy() -> None:
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY bench_raw (stat_hour, campaign, creative, impressions, clicks, cost_micros)"
                " FROM STDIN"
            ) as pipe,
        ):
            for row in data:
                pipe.write_row(row)

    return copy


@dataclass
class Trial:
    baseline: float
    first: float
    again: float
    first_counts: load.LoadCounts
    again_counts: load.LoadCounts
    written: int


def trial(dsn: str, data: Sequence[tuple[Any, ...]]) -> Trial:
    """The three measurements in one fresh database."""
    with psycopg.connect(dsn) as conn:
        baseline, _ = timed(conn, raw_copy(conn, data))
        first, first_counts = timed(conn, lambda: load.load(conn, SOURCE_B_TABLE, data))
        xid: list[str] = []

        def reload() -> load.LoadCounts:
            xid.append(conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
            return load.load(conn, SOURCE_B_TABLE, data)

        again, again_counts = timed(conn, reload)
        written = conn.execute(
            "SELECT count(*) FROM public.ads_source_b WHERE xmin::text = %s", (xid[0],)
        ).fetchone()[0]
    return Trial(baseline, first, again, first_counts, again_counts, written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="trials; ratios are medians")
    args = parser.parse_args()
    data = rows(args.rows)
    with start_embedded() as server:
        trials = []
        for number in range(args.repeat):
            dsn = create_database(server.dsn(), f"bench_etl_{number}")
            prepare_database(dsn, ROOT / "migrations")
            trials.append(trial(dsn, data))
            report(args.rows, trials[-1])
    if args.repeat > 1:
        first_ratio = statistics.median(t.baseline / t.first for t in trials)
        again_ratio = statistics.median(t.again / t.first for t in trials)
        print(
            f"median over {args.repeat} trials: first load / raw COPY throughput"
            f" {first_ratio:.2f}, re-load / first load time {again_ratio:.2f}"
        )


def report(n: int, t: Trial) -> None:
    print(f"rows: {n:,}")
    print(f"raw COPY into unlogged table : {t.baseline:8.2f} s  {n / t.baseline:12,.0f} rows/s")
    print(
        f"first load (staging+upsert)  : {t.first:8.2f} s  {n / t.first:12,.0f} rows/s"
        f"  {t.first_counts}"
    )
    print(
        f"re-load, all unchanged       : {t.again:8.2f} s  {n / t.again:12,.0f} rows/s"
        f"  {t.again_counts}"
    )
    print(f"first load / raw COPY throughput : {t.baseline / t.first:.2f}  (goal >= 0.50)")
    print(f"re-load time / first load time   : {t.again / t.first:.2f}  (goal <= 1.00)")
    print(f"row versions written by re-load  : {t.written}  (goal 0)")


if __name__ == "__main__":
    main()
