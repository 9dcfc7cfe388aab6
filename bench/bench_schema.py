"""Benchmark: snapshot and verify a database of many tables (10 columns, 2 indexes, 2 policies each).

    .venv/bin/python bench/bench_schema.py [--tables 1000] [--failing 100]

Prints the snapshot's time against a baseline measured in the same run (one catalog query per
column, what per-check introspection would cost), then the whole `pytest -m schema` on that
database (expected schema from a lock file, as in live mode) with its time per check: grouped per
table (auto, above 2,000 objects) and one check per object. Goal: pytest -m schema under 10 s at
1,000 tables; the snapshot takes 10 queries whatever the size.

With `--failing N`, a policy is then dropped on N tables and the same runs are timed again: a
failure must cost its message, ticket and report line, never a rendering of the snapshot (goal:
the failing run within 1.3x the passing one). Reports and tickets go to a temp folder.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from psycopg import sql

from selfheal.catalog import QUERIES, snapshot
from selfheal.core.db import connect, create_database
from selfheal.core.embedded import start_embedded
from selfheal.migrate.runner import prepare_database
from selfheal.schema import diff, expected_snapshot
from selfheal.schema.lock import write_lock

ROOT = Path(__file__).resolve().parents[1]


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


def run_pytest(
    dsn: str, migrations: Path, lock: Path, granularity: str, failing: int = 0
) -> tuple[float, int]:
    """The wall time of `pytest -m schema` and its number of checks; exactly `failing` fail."""
    env = {
        **os.environ,
        "SUPABASE_DB_URL": dsn,
        "MIGRATIONS_DIR": str(migrations),
        "SELFHEAL_SCHEMA_LOCK": str(lock),
        "SELFHEAL_REPORTS_DIR": str(migrations / "reports"),
        "SELFHEAL_BACKLOG_DIR": str(migrations / "backlog"),
    }
    command = [
        str(Path(sys.executable).parent / "pytest"),
        "-m",
        "schema",
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore",
        f"--schema-granularity={granularity}",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    # pytest's last line, e.g. "100 failed, 1012 passed in 9.8s" (not "port 5432 failed: ...")
    passed = re.search(r"(\d+) passed[, ]", done.stdout)
    failed = re.search(r"(\d+) failed[, ]", done.stdout)
    if not passed or (int(failed.group(1)) if failed else 0) != failing:
        sys.exit(
            f"pytest -m schema: not {failing} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
        )
    return elapsed, int(passed.group(1)) + failing


def drop_policies(dsn: str, count: int) -> None:
    """Break `count` tables: each loses its read policy (one failing check per table)."""
    with connect(dsn, autocommit=True) as conn:
        for n in range(count):
            conn.execute(
                sql.SQL("DROP POLICY {} ON {}").format(
                    sql.Identifier(f"t{n:04d}_read"), sql.Identifier("bench", f"t{n:04d}")
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--failing", type=int, default=0, help="tables to break, then time again")
    args = parser.parse_args()
    if not 0 <= args.failing <= args.tables:
        parser.error("--failing must be between 0 and --tables")
    folder = Path(tempfile.mkdtemp(prefix="selfheal-bench-"))
    write_migrations(folder, args.tables)
    with start_embedded() as server:
        dsn = create_database(server.dsn(), "bench")
        _, build = timed(lambda: prepare_database(dsn, folder))
        print(f"built {args.tables} tables in {build:.1f} s")
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
        passing = {}
        for granularity in ("auto", "object"):
            total, checks = run_pytest(dsn, folder, lock, granularity)
            passing[granularity] = total
            print(
                f"pytest -m schema --schema-granularity={granularity} (lock file): "
                f"{total:.2f} s wall for {checks} checks, {1000 * total / checks:.2f} ms per "
                "check (goal: < 10 s)"
            )
        if args.failing:
            drop_policies(dsn, args.failing)
            for granularity in ("auto", "object"):
                total, checks = run_pytest(dsn, folder, lock, granularity, args.failing)
                print(
                    f"the same with {args.failing} failing checks ({granularity}): {total:.2f} s; "
                    f"ratio failing/passing = {total / passing[granularity]:.2f}x (goal: <= 1.3x)"
                )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
