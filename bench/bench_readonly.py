"""Benchmark of the read-only executor: what the boundary costs per query.

    .venv/bin/python bench/bench_readonly.py [--queries 500] [--repeat 5]

In a throwaway embedded server, each figure the median of --repeat rounds of --queries queries:
  autocommit  `SELECT 1` on an autocommit session (the floor: one simple-protocol round trip)
  former      what the DQ runner did before: BEGIN, set_config(read only, timeout, zone), the
              query, COMMIT (simple protocol: the text could end the transaction)
  executor    Reader.fetch with the same settings: pipeline (extended protocol), BEGIN,
              SET TRANSACTION READ ONLY, set_config, the query, ROLLBACK
Ratios are printed against the floor and the former path; nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import psycopg

from selfheal.core.embedded import start_embedded
from selfheal.core.readonly import Reader

SETTINGS = {"statement_timeout": "30000", "TimeZone": "UTC"}
FORMER = (
    "SELECT set_config('transaction_read_only', 'on', true),"
    " set_config('statement_timeout', %s, true), set_config('TimeZone', %s, true)"
)


def median_seconds(action: Callable[[], None], repeat: int) -> float:
    rounds = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        rounds.append(time.perf_counter() - started)
    return statistics.median(rounds)


def paths(conn: psycopg.Connection, queries: int) -> dict[str, Callable[[], None]]:
    reader = Reader(conn)

    def autocommit() -> None:
        for _ in range(queries):
            conn.execute("SELECT 1").fetchall()

    def former() -> None:
        for _ in range(queries):
            with conn.transaction():
                conn.execute(FORMER, (SETTINGS["statement_timeout"], SETTINGS["TimeZone"]))
                conn.execute("SELECT 1").fetchall()

    def executor() -> None:
        for _ in range(queries):
            reader.fetch("SELECT 1", settings=SETTINGS)

    return {"autocommit": autocommit, "former": former, "executor": executor}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with start_embedded() as server, psycopg.connect(server.dsn(), autocommit=True) as conn:
        seconds = {
            name: median_seconds(run, args.repeat)
            for name, run in paths(conn, args.queries).items()
        }
    per_query = {name: value / args.queries * 1e6 for name, value in seconds.items()}
    for name, micros in per_query.items():
        print(
            f"{name:10s} {micros:8.0f} us/query  {micros / per_query['autocommit']:5.2f} x floor"
            f"  {micros / per_query['former']:5.2f} x former"
        )


if __name__ == "__main__":
    main()
