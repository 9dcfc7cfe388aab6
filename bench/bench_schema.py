"""Benchmark: snapshot and verify a database of many tables (10 columns, 2 indexes, 2 policies each).

    .venv/bin/python bench/bench_schema.py [--tables 1000] [--failing 100] [--rounds 3]
                                           [--granularity auto|object|both]

Prints the snapshot's time against a baseline measured in the same run (one catalog query per
column, what per-check introspection would cost), then the whole `pytest -m "schema or rls"` on
that database (expected schema from a lock file, as in live mode) with its time per check: grouped
per table (auto, above 2,000 objects) and one check per object. Goal: under 10 s at 1,000 tables;
the snapshot takes 11 queries whatever the size.

With `--failing N`, a twin database is built the same way and a policy dropped on N of its tables;
the passing and the failing run alternate (passing, failing, passing, ...) for --rounds rounds
after one warm-up each, and the medians are compared, in wall time and in CPU time (steadier on
a shared machine): a failure must cost its message, ticket and report line, never a rendering of
the snapshot (goal: the failing run within 1.3x the passing one). Reports and tickets go to a
temp folder.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from selfheal.catalog import QUERIES, snapshot
from selfheal.core.db import connect, create_database
from selfheal.core.embedded import start_embedded
from selfheal.migrate.runner import prepare_database
from selfheal.schema import diff, expected_snapshot
from selfheal.schema.lock import write_lock

ROOT = Path(__file__).resolve().parents[1]
MARKS = "schema or rls"  # the verification a deploy runs (npm run verify:db)


def table_statements(count: int) -> list[sql.Composable]:
    statements = []
    for n in range(count):
        table = sql.Identifier("bench", f"t{n:04d}")
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(f"c{c}"), sql.SQL("integer"))
            for c in range(1, 9)
        )
        statements += [
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (id bigint PRIMARY KEY, owner uuid, {})").format(
                table, columns
            ),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (owner)").format(
                sql.Identifier(f"t{n:04d}_owner_idx"), table
            ),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (c1, c2)").format(
                sql.Identifier(f"t{n:04d}_c1_idx"), table
            ),
            sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table),
        ]
        for name, command in (("read", "SELECT"), ("write", "INSERT")):
            clause = "USING" if command == "SELECT" else "WITH CHECK"
            statements.append(
                sql.SQL(
                    "DO $b$ BEGIN IF NOT EXISTS (SELECT FROM pg_policy WHERE polname = {lit}) THEN "
                    "CREATE POLICY {name} ON {table} FOR {cmd} TO authenticated {clause} "
                    "(owner = (select auth.uid())); END IF; END $b$"
                ).format(
                    lit=sql.Literal(f"t{n:04d}_{name}"),
                    name=sql.Identifier(f"t{n:04d}_{name}"),
                    table=table,
                    cmd=sql.SQL(command),
                    clause=sql.SQL(clause),
                )
            )
    return statements


def write_migrations(folder: Path, count: int) -> None:
    for path in (ROOT / "migrations").glob("*.sql"):
        shutil.copy(path, folder / path.name)
    body = ";\n".join(s.as_string(None) for s in table_statements(count))
    (folder / "0900_bench.sql").write_text(f"CREATE SCHEMA IF NOT EXISTS bench;\n{body};\n")


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def per_column_baseline(dsn: str, columns: list[tuple[str, str, str]]) -> float:
    """One catalog query per column: the cost a check-per-object design pays without a snapshot."""
    query = (
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
        "%s::regclass AND attname = %s"
    )
    with connect(dsn, read_only=True, autocommit=True) as conn:
        start = time.perf_counter()
        for schema, table, column in columns:
            relation = sql.Identifier(schema, table).as_string(conn)
            conn.execute(query, (relation, column)).fetchone()
        return time.perf_counter() - start


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user + system seconds of the pytest process: steadier on a shared machine
    checks: int
    passed: int


def run_pytest(
    dsn: str, migrations: Path, lock: Path, granularity: str, failing: int = 0
) -> Timing:
    """One whole `pytest -m "schema or rls"` process; exactly `failing` checks must fail."""
    env = {
        **os.environ,
        "SUPABASE_DB_URL": dsn,
        "MIGRATIONS_DIR": str(migrations),
        "SELFHEAL_SCHEMA_LOCK": str(lock),
        # each database its reports and tickets: the failing one's stay open from run to run
        "SELFHEAL_REPORTS_DIR": str(migrations / conninfo_to_dict(dsn)["dbname"] / "reports"),
        "SELFHEAL_BACKLOG_DIR": str(migrations / conninfo_to_dict(dsn)["dbname"] / "backlog"),
    }
    command = [
        str(Path(sys.executable).parent / "pytest"),
        "-m",
        MARKS,
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore",
        f"--schema-granularity={granularity}",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    # pytest's last line, e.g. "100 failed, 1012 passed in 9.8s" (not "port 5432 failed: ...")
    passed = re.search(r"(\d+) passed[, ]", done.stdout)
    failed = re.search(r"(\d+) failed[, ]", done.stdout)
    if not passed or (int(failed.group(1)) if failed else 0) != failing:
        sys.exit(
            f"pytest -m {MARKS!r}: not {failing} failed:\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-2000:]}"
        )
    return Timing(elapsed, cpu, int(passed.group(1)) + failing, int(passed.group(1)))


def interleaved(runs: dict[str, Callable[[], Timing]], rounds: int) -> dict[str, Timing]:
    """Each run once to warm the caches, then `rounds` rounds A B A B; the median of each."""
    for run in runs.values():
        run()
    samples: dict[str, list[Timing]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            samples[name].append(run())
    return {
        name: Timing(
            statistics.median(t.wall for t in timings),
            statistics.median(t.cpu for t in timings),
            timings[0].checks,
            timings[0].passed,
        )
        for name, timings in samples.items()
    }


def drop_policies(dsn: str, count: int) -> None:
    """Break `count` tables: each loses its read policy (one failing check per table)."""
    with connect(dsn, autocommit=True) as conn:
        for n in range(count):
            conn.execute(
                sql.SQL("DROP POLICY {} ON {}").format(
                    sql.Identifier(f"t{n:04d}_read"), sql.Identifier("bench", f"t{n:04d}")
                )
            )


def report(granularity: str, median: dict[str, Timing], rounds: int) -> None:
    passing = median["passing"]
    print(
        f"pytest -m {MARKS!r} --schema-granularity={granularity} (lock file): "
        f"{passing.wall:.2f} s wall ({passing.cpu:.2f} s CPU) for {passing.checks} checks, "
        f"{1000 * passing.wall / passing.checks:.2f} ms per check (goal: < 10 s; median of {rounds})"
    )
    failing = median.get("failing")
    if failing:
        print(
            f"the same with {failing.checks - failing.passed} failing checks ({granularity}): "
            f"{failing.wall:.2f} s wall ({failing.cpu:.2f} s CPU); ratio failing/passing = "
            f"{failing.wall / passing.wall:.2f}x wall, {failing.cpu / passing.cpu:.2f}x CPU "
            "(goal: <= 1.3x)"
        )


def build(server_dsn: str, name: str, folder: Path) -> str:
    dsn = create_database(server_dsn, name)
    _, seconds = timed(lambda: prepare_database(dsn, folder))
    print(f"built {name}: the project's migrations and the bench tables in {seconds:.1f} s")
    return dsn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--failing", type=int, default=0, help="tables to break in a twin database")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument(
        "--granularity", choices=("auto", "object", "both"), default="both", help="schema checks"
    )
    args = parser.parse_args()
    if not 0 <= args.failing <= args.tables:
        parser.error("--failing must be between 0 and --tables")
    granularities = ("auto", "object") if args.granularity == "both" else (args.granularity,)
    folder = Path(tempfile.mkdtemp(prefix="selfheal-bench-"))
    write_migrations(folder, args.tables)
    with start_embedded() as server:
        dsn = build(server.dsn(), "bench", folder)
        expected, expected_time = timed(lambda: expected_snapshot(server.dsn(), folder))
        with connect(dsn, read_only=True, autocommit=True) as conn:
            live, snap_time = timed(lambda: snapshot(conn))
        found, diff_time = timed(lambda: diff(expected, live))
        assert found.clean, found.summary()[:5]
        objects = len(expected.objects())
        columns = [c.key for c in expected.columns.values()]
        naive = per_column_baseline(dsn, columns)
        print(f"expected snapshot (scratch db + migrations): {expected_time:.2f} s")
        print(f"live snapshot: {snap_time:.3f} s in {len(QUERIES)} queries, {objects} objects")
        print(f"diff: {diff_time:.3f} s")
        print(
            f"baseline, one query per column ({len(columns)} queries): {naive:.3f} s; "
            f"ratio baseline/snapshot = {naive / snap_time:.1f}x"
        )
        lock = folder / "schema.lock.json"
        write_lock(lock, expected, folder)
        broken = ""
        if args.failing:
            broken = build(server.dsn(), "bench_failing", folder)
            drop_policies(broken, args.failing)
        for granularity in granularities:
            verify = partial(run_pytest, migrations=folder, lock=lock, granularity=granularity)
            runs = {"passing": partial(verify, dsn)}
            if broken:
                runs["failing"] = partial(verify, broken, failing=args.failing)
            report(granularity, interleaved(runs, args.rounds), args.rounds)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
