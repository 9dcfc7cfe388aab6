"""Benchmark: what recording the run history adds to a `pytest -m dq` session of 100 rules.

    .venv/bin/python bench/bench_history.py [--rows 200000] [--tables 10] [--repeat 5]

Builds `--tables` tables of `--rows` rows each in a throwaway embedded server and a rule folder
of 100 rules over them (10 per table: row count, not null, unique, between, accepted values,
freshness, no future, a volume and a freshness anomaly, references), then runs the project's
checks as a user would (`pytest -m dq`, a fresh process each time, against that database as
SUPABASE_DB_URL), alternating `--no-history` and the default (history written into the same
database: the run, 100 check results, table figures, pruning). Prints the median wall time of
each and their ratio; the goal is history <= 1.05 x no history. Nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from selfheal.core.db import create_database
from selfheal.core.embedded import start_embedded

ROOT = Path(__file__).resolve().parent.parent
RULES = """table = "{table}"
[row_count]
min = 1
[not_null]
columns = ["user_id", "kind"]
[unique]
key = "id"
[between]
column = "amount"
min = 0
[accepted_values]
column = "kind"
values = ["a", "b", "c", "d"]
[freshness]
column = "arrived_at"
warn_after = "26h"
[no_future]
column = "arrived_at"
tolerance = "5m"
[volume_anomaly]
column = "arrived_at"
[freshness_anomaly]
column = "arrived_at"
"""
COLUMNS = "id bigint, user_id uuid, kind text, amount numeric, arrived_at timestamptz"
ROWS = """
SELECT i, md5(i::text)::uuid, (ARRAY['a', 'b', 'c', 'd'])[1 + mod(i, 4)], mod(i, 1000),
       now() - mod(i, 60 * 24 * 30) * interval '1 minute'
FROM generate_series(1, %s) AS i
"""


def build(dsn: str, rules_dir: Path, tables: int, rows: int) -> int:
    """The tables (a month of arrivals each) and one rule file per table; returns the rules."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for index in range(tables):
            name = f"bench_{index}"
            table = sql.Identifier(name)
            conn.execute(sql.SQL("CREATE TABLE {} (" + COLUMNS + ")").format(table))
            conn.execute(sql.SQL("INSERT INTO {} " + ROWS).format(table), (rows,))
            conn.execute(sql.SQL("ANALYZE {}").format(table))
            (rules_dir / f"{name}.toml").write_text(RULES.format(table=name))
    return tables * (RULES.count("\n[") + 1)  # not_null has two columns


def session(dsn: str, rules_dir: Path, scratch: Path, *options: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "SELFHEAL_"))}
    env |= {
        "SUPABASE_DB_URL": dsn,
        "SELFHEAL_DQ_DIR": str(rules_dir),
        "SELFHEAL_DQ_SQL_DIR": str(scratch / "no-sql"),
        "SELFHEAL_REPORTS_DIR": str(scratch / "reports"),
        "SELFHEAL_BACKLOG_DIR": str(scratch / "backlog"),
    }
    command = [sys.executable, "-m", "pytest", "-m", "dq", "-q", "-p", "no:cacheprovider", *options]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"pytest -m dq failed to run:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows per table")
    parser.add_argument("--tables", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with start_embedded() as server, tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        rules_dir = scratch / "dq"
        rules_dir.mkdir()
        dsn = create_database(server.dsn(), "bench_history")
        rules = build(dsn, rules_dir, args.tables, args.rows)
        session(dsn, rules_dir, scratch)  # warm: caches, and the history schema created once
        plain, recorded = [], []
        for _ in range(args.repeat):
            plain.append(session(dsn, rules_dir, scratch, "--no-history"))
            recorded.append(session(dsn, rules_dir, scratch))
    without, with_history = statistics.median(plain), statistics.median(recorded)
    print(f"rules: {rules} over {args.tables} tables of {args.rows:,} rows")
    print(f"pytest -m dq, --no-history : {without:.2f} s (median of {args.repeat})")
    print(f"pytest -m dq, history      : {with_history:.2f} s")
    print(f"ratio history / no history : {with_history / without:.3f} (goal <= 1.05)")


if __name__ == "__main__":
    main()
