"""Benchmark of the data-quality engine: the fused scan against its floor and one query per rule.

    .venv/bin/python bench/bench_dq.py [--rows 10000000] [--repeat 3]

Builds an events table without indexes or constraints (so every rule must scan) in a throwaway
embedded server, then measures in the same run, each figure the median of --repeat rounds:
  floor     SELECT count(*)                          (a single scan)
  distinct  SELECT count(DISTINCT event_id)          (what a unique key costs on its own)
  bytewise  the same COLLATE "C", as the engine counts it (equal under a deterministic collation)
  fused 8   the suite: row count, 3 not null, unique event_id, freshness, no future,
            accepted event names, as the engine runs it (one SELECT)
  fused 7   the same without the unique key
  per rule  the 7 rules as one query each (how dbt runs them)
Goals: fused 8 <= 1.25 x (floor + distinct); per rule 7 >= 3 x fused 7. Ratios are printed;
nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from selfheal.core.db import connect, create_database
from selfheal.core.embedded import start_embedded
from selfheal.core.readonly import Reader
from selfheal.dq.compiler import compile_table
from selfheal.dq.config import load_suite
from selfheal.dq.runner import Runner
from selfheal.dq.tables import describe

RULES = """table = "events"
[row_count]
min = 1
[not_null]
columns = ["user_id", "event_name", "occurred_at"]
[unique]
key = "event_id"
[freshness]
column = "occurred_at"
warn_after = "26h"
error_after = "50h"
[no_future]
column = "occurred_at"
tolerance = "5m"
[accepted_values]
column = "event_name"
values = ["page_view", "signup", "login", "add_to_cart", "checkout", "purchase"]
"""

CREATE = """
CREATE TABLE events (
    event_id text, user_id uuid, event_name text, occurred_at timestamptz,
    received_at timestamptz, properties jsonb
)
"""
FILL = """
INSERT INTO events
SELECT 'ev-' || i,
       md5(mod(i, 50000)::text)::uuid,
       (ARRAY['page_view', 'signup', 'login', 'add_to_cart', 'checkout', 'purchase'])[1 + mod(i, 6)],
       now() - mod(i, 2592000) * interval '1 second',
       now() - mod(i, 2592000) * interval '1 second' + interval '2 seconds',
       '{}'::jsonb
FROM generate_series(1, %s) AS i
"""
BYTEWISE = 'SELECT count(DISTINCT event_id COLLATE "C") FROM events'
TIMEOUT_MS = 3_600_000


def build(dsn: str, rows: int) -> None:
    started = time.perf_counter()
    with connect(dsn, autocommit=True) as conn:
        conn.execute(CREATE)
        conn.execute(FILL, (rows,))
        conn.execute("VACUUM ANALYZE events")
        size = conn.execute("SELECT pg_size_pretty(pg_table_size('events'))").fetchone()[0]
    print(f"built {rows:,} rows ({size}) in {time.perf_counter() - started:.1f} s")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measurements(conn: psycopg.Connection, rules_dir: Path) -> dict[str, Callable[[], object]]:
    suite = load_suite(rules_dir)
    seven = [rule for rule in suite.rules if rule.kind != "unique"]
    without_unique = [rule.id for rule in seven]
    table = suite.rules[0].table
    info = describe(Reader(conn), table.schema, table.name)

    def fused(selected: list[str]) -> Callable[[], object]:
        def run() -> object:
            runner = Runner(
                conn, suite, zone="UTC", statement_timeout_ms=TIMEOUT_MS, selected=selected
            )
            results = [runner.result(check_id) for check_id in selected]
            assert all(len(r.queries) == 1 for r in results), "expected one shared scan"
            return results

        return run

    def per_rule() -> None:
        runner = Runner(conn, suite, zone="UTC", statement_timeout_ms=TIMEOUT_MS)
        for rule in seven:
            runner.execute(compile_table(table, [rule], info).query)

    return {
        "floor": lambda: conn.execute("SELECT count(*) FROM events").fetchone(),
        "distinct": lambda: conn.execute("SELECT count(DISTINCT event_id) FROM events").fetchone(),
        "bytewise": lambda: conn.execute(BYTEWISE).fetchone(),
        "fused 8": fused(suite.ids()),
        "fused 7": fused(without_unique),
        "per rule 7": per_rule,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with start_embedded() as server, tempfile.TemporaryDirectory() as folder:
        dsn = create_database(server.dsn(), "bench")
        build(dsn, args.rows)
        rules_dir = Path(folder)
        (rules_dir / "events.toml").write_text(RULES)
        with connect(dsn, read_only=True, autocommit=True, statement_timeout_ms=TIMEOUT_MS) as conn:
            actions = measurements(conn, rules_dir)
            for action in actions.values():  # warm the cache; rounds are interleaved below
                action()
            samples: dict[str, list[float]] = {name: [] for name in actions}
            for _ in range(args.repeat):
                for name, action in actions.items():
                    samples[name].append(timed(action))

    median = {name: statistics.median(values) for name, values in samples.items()}
    for name, seconds in median.items():
        print(f"{name:>11}: {seconds:8.3f} s  (median of {args.repeat})")
    budget = median["floor"] + median["distinct"]
    fused_ratio = median["fused 8"] / budget
    speedup = median["per rule 7"] / median["fused 7"]
    print(
        f"fused 8 / (floor + distinct) = {fused_ratio:.2f}  (goal <= 1.25: "
        f"{'met' if fused_ratio <= 1.25 else 'MISSED'})"
    )
    print(
        f"per rule 7 / fused 7         = {speedup:.2f}  (goal >= 3: "
        f"{'met' if speedup >= 3 else 'MISSED'})"
    )
    print(f"fused 7 / floor              = {median['fused 7'] / median['floor']:.2f}")
    bytewise = median["fused 8"] / (median["floor"] + median["bytewise"])
    print(f"fused 8 / (floor + bytewise) = {bytewise:.2f}  (the same budget, distinct as counted)")


if __name__ == "__main__":
    main()
