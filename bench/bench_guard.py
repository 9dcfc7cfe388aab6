"""Benchmark: the guard's time per file against applying the same file once.

    .venv/bin/python bench/bench_guard.py [--tables 200]

Two sets of files, each guarded from scratch and applied once to a fresh database (the
baseline, measured in the same run): the project's migrations, and a schema of `--tables`
tables (primary keys, foreign keys, CHECKs, an enum, RLS and a policy each) followed by three
ordinary files that touch a few of them (a new column and its backfill, an index, a view).
Prints per file the apply time, the guard time and their ratio. Goal: ratio <= 4x. The guard
applies every file twice (the second time for idempotency) and seeds, digests and probes the
tables a file touches, so its cost follows what the file touches, not the schema's size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from psycopg import sql

from selfheal.core.db import connect, scratch_database
from selfheal.core.embedded import start_embedded
from selfheal.core.shim import apply_shim
from selfheal.migrate.files import MigrationFile, discover
from selfheal.migrate.guard import check_migrations
from selfheal.migrate.runner import apply_file, ensure_ledger

ROOT = Path(__file__).resolve().parents[1]
GOAL = 4.0


def schema_files(folder: Path, tables: int) -> list[MigrationFile]:
    """A wide schema in one file, then three small files on top of it."""
    statements = [
        sql.SQL(
            "DO $$ BEGIN IF to_regtype('public.bench_state') IS NULL THEN "
            "CREATE TYPE public.bench_state AS ENUM ('new', 'open', 'closed'); END IF; END $$"
        )
    ]
    for n in range(tables):
        table = sql.Identifier("public", f"bench_{n:03d}")
        parent = (
            sql.SQL(", parent_id bigint REFERENCES {}").format(
                sql.Identifier("public", f"bench_{n - 1:03d}")
            )
            if n
            else sql.SQL("")
        )
        statements += [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {t} (id bigint PRIMARY KEY, owner uuid NOT NULL, "
                "label text NOT NULL, amount numeric(12,2) NOT NULL CHECK (amount >= 0), "
                "state public.bench_state NOT NULL DEFAULT 'new', "
                "created_at timestamptz NOT NULL DEFAULT now(){parent})"
            ).format(t=table, parent=parent),
            sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table),
            sql.SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_policy WHERE polname = {name}) THEN "
                "CREATE POLICY {policy} ON {t} FOR SELECT TO authenticated "
                "USING ((SELECT auth.uid()) = owner); END IF; END $$"
            ).format(
                name=sql.Literal(f"bench_{n:03d}_own"),
                policy=sql.Identifier(f"bench_{n:03d}_own"),
                t=table,
            ),
        ]
    schema = ";\n".join(s.as_string(None) for s in statements) + ";\n"
    # The three later files touch tables spread over the schema, whatever its size.
    column, index, view = (
        sql.Identifier("public", f"bench_{n:03d}") for n in (tables // 2, tables - 1, tables // 4)
    )
    later = {
        "0002_bench_column.sql": sql.SQL(
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS day date;\n"
            "UPDATE {t} SET day = created_at::date WHERE day IS NULL;\n"
        ).format(t=column),
        "0003_bench_index.sql": sql.SQL(
            "CREATE INDEX IF NOT EXISTS bench_owner_idx ON {} (owner);\n"
        ).format(index),
        "0004_bench_view.sql": sql.SQL(
            "CREATE OR REPLACE VIEW public.bench_open WITH (security_invoker = true) AS "
            "SELECT id, label FROM {} WHERE state = 'open';\n"
        ).format(view),
    }
    (folder / "0001_bench_schema.sql").write_text(schema)
    for name, text in later.items():
        (folder / name).write_text(text.as_string(None))
    return discover(folder)


def apply_once(admin_dsn: str, files: list[MigrationFile]) -> dict[str, float]:
    """Seconds to apply each file once, in order, to a fresh shimmed database."""
    seconds = {}
    with scratch_database(admin_dsn, "bench_apply") as dsn, connect(dsn, autocommit=True) as conn:
        apply_shim(conn)
        ensure_ledger(conn)
        for migration in files:
            started = time.perf_counter()
            apply_file(conn, migration)
            seconds[migration.filename] = time.perf_counter() - started
    return seconds


def measure(admin_dsn: str, title: str, files: list[MigrationFile]) -> float:
    applied = apply_once(admin_dsn, files)
    report = check_migrations(admin_dsn, files)
    refused = report.refused()
    print(f"\n{title}: {len(files)} file(s), {len(refused)} refused finding(s)")
    for finding in refused:
        print(f"  {finding}")
    print(f"  {'file':32} {'apply once':>11} {'guard':>9} {'ratio':>7}")
    for migration in files:
        once, guard = applied[migration.filename], report.seconds.get(migration.filename, 0.0)
        print(f"  {migration.filename:32} {once:10.3f}s {guard:8.3f}s {guard / once:6.1f}x")
    total_once, total_guard = sum(applied.values()), sum(report.seconds.values())
    ratio = total_guard / total_once
    print(f"  {'all files':32} {total_once:10.3f}s {total_guard:8.3f}s {ratio:6.1f}x")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200)
    args = parser.parse_args()
    if args.tables < 1:
        parser.error("--tables must be at least 1")
    with start_embedded() as server, tempfile.TemporaryDirectory() as folder:
        admin = server.dsn()
        ratios = [
            measure(admin, "project migrations", discover(ROOT / "migrations")),
            measure(
                admin,
                f"{args.tables}-table schema",
                schema_files(Path(folder), args.tables),
            ),
        ]
    verdict = "met" if max(ratios) <= GOAL else "NOT met"
    print(
        f"\ngoal: guard <= {GOAL:.0f}x apply-once over all files: {verdict} "
        f"(worst {max(ratios):.1f}x)"
    )


if __name__ == "__main__":
    main()
