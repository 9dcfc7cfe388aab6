"""Benchmark of the data-quality engine: the fused scan against its floor and one query per rule.

    .venv/bin/python bench/bench_dq.py [--rows 10000000] [--repeat 3]
    .venv/bin/python bench/bench_dq.py --incremental [--rows 10000000] [--new 100000]
    .venv/bin/python bench/bench_dq.py --peers [--rows 10000000] [--repeat 3]
    .venv/bin/python bench/bench_dq.py --fixed-cost [--repeat 7]

Builds an events table without indexes or constraints (so every rule must scan) in a throwaway
embedded server, then measures in the same run, each figure the median of --repeat rounds:
  floor     SELECT count(*)                          (a single scan)
  distinct  SELECT count(DISTINCT event_id)          (what a unique key costs on its own)
  hashed    SELECT count(DISTINCT hashtextextended(event_id, 0)), as the engine counts it
  fused 8   the suite: row count, 3 not null, unique event_id, freshness, no future,
            accepted event names, as the engine runs it (one SELECT)
  fused 7   the same without the unique key
  per rule  the 7 rules as one query each (how dbt runs them)
Goals: fused 8 <= 1.25 x (floor + distinct); per rule 7 >= 3 x fused 7.
With --incremental: the rows are verified once (watermark stored), --new rows are loaded after
them, and the same 8 gates run interleaved as: the incremental run (rule file with `incremental
= "loaded_at"`, BRIN on loaded_at, a plain index on event_id), the full run, and a full scan of a
table holding the new rows alone. Goals: incremental <= 3 x new rows alone; full >= 10 x
incremental. With --peers: the 8 gates as whole processes of selfheal (`pytest -m dq`), Soda Core
and Great Expectations, interleaved (see bench_peers.py); goals: Soda >= 2.5 x, GX >= 5 x
selfheal. With --fixed-cost: what every `pytest -m dq` pays before its first rule, a whole
process on an empty rule set against a live database (reports and history written, no tickets),
interleaved with pytest's own floor (an empty folder, no plugins); goal: at most 0.8 s on a quiet
machine. Ratios are printed; nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from selfheal.core.db import connect, create_database, set_config
from selfheal.core.embedded import start_embedded
from selfheal.core.readonly import Reader
from selfheal.dq.compiler import compile_table
from selfheal.dq.config import load_suite
from selfheal.dq.runner import Runner
from selfheal.dq.session import FEW_ROWS
from selfheal.dq.tables import describe
from selfheal.dq.watermarks import store_watermarks

EVENT_NAMES = ["page_view", "signup", "login", "add_to_cart", "checkout", "purchase"]
RULES = f"""table = "events"
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
values = {EVENT_NAMES!r}
""".replace("'", '"')

CREATE = """
CREATE TABLE {table} (
    event_id text, user_id uuid, event_name text, occurred_at timestamptz,
    received_at timestamptz, properties jsonb, loaded_at timestamptz
)
"""
# Rows i in [start, start + count): loaded in order, a microsecond apart, a day ago.
FILL = """
INSERT INTO {table}
SELECT 'ev-' || i,
       md5(mod(i, 50000)::text)::uuid,
       (ARRAY['page_view', 'signup', 'login', 'add_to_cart', 'checkout', 'purchase'])[1 + mod(i, 6)],
       now() - mod(i, 2592000) * interval '1 second',
       now() - mod(i, 2592000) * interval '1 second' + interval '2 seconds',
       '{{}}'::jsonb,
       now() - interval '1 day' + i * interval '1 microsecond'
FROM generate_series(%s, %s) AS i
"""
HASHED = "SELECT count(DISTINCT hashtextextended(event_id, 0)) FROM events"
INCREMENTAL = 'table = "events"\nincremental = "loaded_at"\n'
ROOT = Path(__file__).resolve().parents[1]
FIXED_COST_GOAL = 0.8  # seconds, `pytest -m dq` on an empty rule set on a quiet machine
TIMEOUT_MS = 3_600_000


def build(dsn: str, rows: int, table: str = "events", start: int = 1) -> None:
    """The events table (or `table`) with `rows` rows from number `start` on, no index."""
    started = time.perf_counter()
    name = sql.Identifier(table)
    with connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL(CREATE).format(table=name))
        conn.execute(sql.SQL(FILL).format(table=name), (start, start + rows - 1))
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(name))
        size = conn.execute("SELECT pg_size_pretty(pg_table_size(%s))", (table,)).fetchone()[0]
    print(f"built {table}: {rows:,} rows ({size}) in {time.perf_counter() - started:.1f} s")


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
            runner.execute(compile_table(table, [rule], info).query, table)

    return {
        "floor": lambda: conn.execute("SELECT count(*) FROM events").fetchone(),
        "distinct": lambda: conn.execute("SELECT count(DISTINCT event_id) FROM events").fetchone(),
        "hashed": lambda: conn.execute(HASHED).fetchone(),
        "fused 8": fused(suite.ids()),
        "fused 7": fused(without_unique),
        "per rule 7": per_rule,
    }


def interleaved(actions: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Each action once to warm the cache, then `repeat` interleaved rounds; the medians."""
    for action in actions.values():
        action()
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeat):
        for name, action in actions.items():
            samples[name].append(timed(action))
    median = {name: statistics.median(values) for name, values in samples.items()}
    for name, seconds in median.items():
        print(f"{name:>16}: {seconds:8.3f} s  (median of {repeat})")
    return median


def goal(label: str, ratio: float, met: bool, goal_text: str) -> None:
    print(f"{label} = {ratio:.2f}  (goal {goal_text}: {'met' if met else 'MISSED'})")


def full_scan(dsn: str, rows: int, repeat: int, folder: Path) -> None:
    build(dsn, rows)
    (folder / "events.toml").write_text(RULES)
    with connect(dsn, read_only=True, autocommit=True, statement_timeout_ms=TIMEOUT_MS) as conn:
        median = interleaved(measurements(conn, folder), repeat)
    fused_ratio = median["fused 8"] / (median["floor"] + median["distinct"])
    goal("fused 8 / (floor + distinct)", fused_ratio, fused_ratio <= 1.25, "<= 1.25")
    speedup = median["per rule 7"] / median["fused 7"]
    goal("per rule 7 / fused 7        ", speedup, speedup >= 3, ">= 3")
    print(f"fused 7 / floor              = {median['fused 7'] / median['floor']:.2f}")
    hashed = median["fused 8"] / (median["floor"] + median["hashed"])
    print(f"fused 8 / (floor + hashed)   = {hashed:.2f}  (the same budget, distinct as counted)")


def incremental(dsn: str, rows: int, new: int, repeat: int, folder: Path) -> None:
    """`rows` verified rows, then `new` rows loaded after them: the incremental run against the
    full run of the same gates and against a full scan of a table of the new rows alone."""
    build(dsn, rows)
    build(dsn, new, "events_new", start=rows + 1)
    started = time.perf_counter()
    with connect(dsn, autocommit=True) as conn:
        conn.execute((ROOT / "migrations" / "0007_dq_watermarks.sql").read_text())
        conn.execute("CREATE INDEX events_loaded_at_brin ON events USING brin (loaded_at)")
        conn.execute("CREATE INDEX events_event_id_idx ON events (event_id)")  # not unique
    print(f"indexed events in {time.perf_counter() - started:.1f} s")
    suites = {}
    for name, rules in {
        "incremental": RULES.replace('table = "events"\n', INCREMENTAL),
        "full": RULES,
        "new rows alone": RULES.replace('table = "events"', 'table = "events_new"'),
    }.items():
        (folder / name).mkdir()
        (folder / name / "events.toml").write_text(rules)
        suites[name] = load_suite(folder / name)

    with connect(dsn, read_only=True, autocommit=True, statement_timeout_ms=TIMEOUT_MS) as conn:

        def run(name: str) -> Runner:
            runner = Runner(conn, suites[name], zone="UTC", statement_timeout_ms=TIMEOUT_MS)
            results = [runner.result(check_id) for check_id in suites[name].ids()]
            errors = [r.message for r in results if r.status == "error"]
            assert not errors, errors
            return runner

        store_watermarks(dsn, run("incremental").verified(), 10)  # the verified rows
        with connect(dsn, autocommit=True) as writer:
            writer.execute("INSERT INTO events SELECT * FROM events_new")
            writer.execute("VACUUM ANALYZE events")
        actions = {name: lambda name=name: run(name) for name in suites}
        median = interleaved(actions | {"probes alone": probes(conn)}, repeat)
    ratio = median["incremental"] / median["new rows alone"]
    goal("incremental / new rows alone", ratio, ratio <= 3, "<= 3")
    speedup = median["full"] / median["incremental"]
    goal("full / incremental          ", speedup, speedup >= 10, ">= 10")
    floor = median["probes alone"] / median["new rows alone"]
    print(
        f"probes alone / new rows alone = {floor:.2f}  (the least any check through the index pays)"
    )


def probes(conn: psycopg.Connection) -> Callable[[], object]:
    """What an exact incremental unique key cannot do without: read the new rows and probe the
    key's index once for each, as the engine does (parallel workers, no hash or merge join)."""
    first_new = conn.execute("SELECT min(loaded_at) FROM events_new").fetchone()[0]
    query = """
        SELECT count(*) FROM events AS n WHERE n.loaded_at >= %(new)s AND EXISTS (
            SELECT FROM events AS o WHERE o.event_id = n.event_id AND o.loaded_at < %(new)s)
    """

    def run() -> object:
        with conn.transaction():
            set_config(conn, FEW_ROWS, local=True)
            return conn.execute(query, {"new": first_new}).fetchone()

    return run


def whole_process(args: list[str], env: dict[str, str]) -> Callable[[], object]:
    """A process as a user starts it: Python may cache compiled modules (a sandbox's
    PYTHONDONTWRITEBYTECODE would make pytest rewrite every plugin module on every run)."""
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def run() -> object:
        done = subprocess.run(args, env={**inherited, **env}, cwd=ROOT, capture_output=True)
        if done.returncode not in (0, 5):  # 5: pytest collected nothing (the floor)
            sys.exit(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]!r}")
        return done

    return run


def fixed_cost(dsn: str, repeat: int, folder: Path) -> None:
    """`pytest -m dq` with no rules against pytest's own floor, whole processes, interleaved."""
    for name in ("rules", "sql", "empty"):
        (folder / name).mkdir()
    env = {
        "SUPABASE_DB_URL": dsn,
        "SELFHEAL_DQ_DIR": str(folder / "rules"),
        "SELFHEAL_DQ_SQL_DIR": str(folder / "sql"),
        "SELFHEAL_REPORTS_DIR": str(folder / "reports"),
        "SELFHEAL_BACKLOG_DIR": str(folder / "backlog"),
    }
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    dq = [*pytest, "-m", "dq", "--no-tickets", f"--html={folder / 'report.html'}"]
    floor = [*pytest, "-c", os.devnull, "--rootdir", str(folder / "empty"), str(folder / "empty")]
    median = interleaved(
        {
            "pytest -m dq": whole_process(dq, env),
            "pytest floor": whole_process(floor, {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}),
        },
        repeat,
    )
    cost = median["pytest -m dq"]
    print(f"pytest -m dq / pytest floor = {cost / median['pytest floor']:.2f}")
    goal("fixed cost (s)             ", cost, cost <= FIXED_COST_GOAL, f"<= {FIXED_COST_GOAL}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--incremental", action="store_true", help="the incremental run after --new new rows"
    )
    parser.add_argument("--new", type=int, default=100_000)
    parser.add_argument(
        "--peers",
        action="store_true",
        help="the 8 gates in selfheal, Soda Core and Great Expectations (bench_peers.py)",
    )
    parser.add_argument(
        "--fixed-cost", action="store_true", help="pytest -m dq on an empty rule set"
    )
    args = parser.parse_args()
    if args.peers:
        from bench_peers import compare  # here: it imports this module's build

        compare(args.rows, args.repeat, ROOT / ".bench-peers")
        return

    with start_embedded() as server, tempfile.TemporaryDirectory() as folder:
        dsn = create_database(server.dsn(), "bench")
        if args.fixed_cost:
            fixed_cost(dsn, args.repeat, Path(folder))
        elif args.incremental:
            incremental(dsn, args.rows, args.new, args.repeat, Path(folder))
        else:
            full_scan(dsn, args.rows, args.repeat, Path(folder))


if __name__ == "__main__":
    main()
