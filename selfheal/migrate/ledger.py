"""Where applied migrations are recorded: selfheal's own ledger, or the Supabase CLI's.

A project managed with the Supabase CLI (`supabase db push`) keeps its history in
`supabase_migrations.schema_migrations (version, name, statements)`, the table the CLI creates
and reads. selfheal records its own applications there too, in the CLI's form, so each tool sees
the other's migrations as applied; the checksums the CLI does not keep go in a side table,
`selfheal.supabase_checksums`. A row the CLI wrote has no checksum until `selfheal migrate`
adopts the file as it is then (as the CLI itself trusts what it applied); from then on an edit
of that file is refused like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import psycopg
from psycopg import sql

from selfheal.migrate.files import MigrationFile
from selfheal.migrate.statements import split_statements

SUPABASE_TABLE = "supabase_migrations.schema_migrations"


@dataclass(frozen=True)
class AppliedMigration:
    version: str
    name: str
    checksum: str | None  # None: applied by the Supabase CLI and not adopted yet
    applied_at: datetime | None


class Ledger(Protocol):
    description: str

    def ensure(self, conn: psycopg.Connection) -> None: ...

    def read(self, conn: psycopg.Connection) -> dict[str, AppliedMigration]: ...

    def record_statements(self, migration: MigrationFile) -> list[sql.Composed]:
        """The statements that record `migration` as applied (run in the file's transaction)."""

    def adopt(self, conn: psycopg.Connection, migration: MigrationFile) -> None: ...


def record(conn: psycopg.Connection, ledger: Ledger, migration: MigrationFile) -> None:
    for statement in ledger.record_statements(migration):
        conn.execute(statement)


def _values(*values: object) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Literal, values))


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return bool(conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0])


class SelfhealLedger:
    description = "selfheal.schema_migrations"

    def ensure(self, conn: psycopg.Connection) -> None:
        conn.execute("CREATE SCHEMA IF NOT EXISTS selfheal")
        conn.execute(
            """CREATE TABLE IF NOT EXISTS selfheal.schema_migrations (
                version    text PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())"""
        )

    def read(self, conn: psycopg.Connection) -> dict[str, AppliedMigration]:
        if not _exists(conn, "selfheal.schema_migrations"):
            return {}
        rows = conn.execute(
            "SELECT version, name, checksum, applied_at FROM selfheal.schema_migrations"
        ).fetchall()
        return {row[0]: AppliedMigration(*row) for row in rows}

    def record_statements(self, migration: MigrationFile) -> list[sql.Composed]:
        return [
            sql.SQL(
                "INSERT INTO selfheal.schema_migrations (version, name, checksum) VALUES ({})"
            ).format(_values(migration.version, migration.name, migration.checksum))
        ]

    def adopt(self, conn: psycopg.Connection, migration: MigrationFile) -> None:
        """Every row of this ledger has its checksum: nothing to adopt."""


class SupabaseLedger:
    description = f"{SUPABASE_TABLE} (the Supabase CLI's)"

    def ensure(self, conn: psycopg.Connection) -> None:
        # The CLI's own statements, so a table either tool creates is the table both expect.
        conn.execute("CREATE SCHEMA IF NOT EXISTS supabase_migrations")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations "
            "(version text NOT NULL PRIMARY KEY)"
        )
        conn.execute(
            "ALTER TABLE supabase_migrations.schema_migrations "
            "ADD COLUMN IF NOT EXISTS statements text[]"
        )
        conn.execute(
            "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text"
        )
        conn.execute("CREATE SCHEMA IF NOT EXISTS selfheal")
        conn.execute(
            """CREATE TABLE IF NOT EXISTS selfheal.supabase_checksums (
                version    text PRIMARY KEY,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())"""
        )

    def read(self, conn: psycopg.Connection) -> dict[str, AppliedMigration]:
        if not _exists(conn, SUPABASE_TABLE):
            return {}
        if not _exists(conn, "selfheal.supabase_checksums"):
            rows = conn.execute(
                "SELECT version, coalesce(name, ''), NULL, NULL FROM "
                "supabase_migrations.schema_migrations"
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT m.version, coalesce(m.name, ''), c.checksum, c.applied_at "
                "FROM supabase_migrations.schema_migrations m "
                "LEFT JOIN selfheal.supabase_checksums c USING (version)"
            ).fetchall()
        return {row[0]: AppliedMigration(*row) for row in rows}

    def record_statements(self, migration: MigrationFile) -> list[sql.Composed]:
        statements = [statement.text for statement in split_statements(migration.sql)]
        return [
            sql.SQL(
                "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) "
                "VALUES ({})"
            ).format(_values(migration.version, migration.name, statements)),
            self._checksum_statement(migration),
        ]

    def adopt(self, conn: psycopg.Connection, migration: MigrationFile) -> None:
        conn.execute(self._checksum_statement(migration))

    @staticmethod
    def _checksum_statement(migration: MigrationFile) -> sql.Composed:
        return sql.SQL(
            "INSERT INTO selfheal.supabase_checksums (version, checksum) VALUES ({}) "
            "ON CONFLICT (version) DO NOTHING"
        ).format(_values(migration.version, migration.checksum))


def is_supabase_folder(folder: Path) -> bool:
    """`supabase/migrations` of a Supabase CLI project (`supabase init` writes its config.toml
    beside it: a project that merely lives in a folder named `supabase` is not one)."""
    resolved = folder.resolve()
    project = resolved.parent
    return (
        resolved.name == "migrations"
        and project.name == "supabase"
        and (project / "config.toml").is_file()
    )


def ledger_for(conn: psycopg.Connection, folder: Path | None) -> Ledger:
    """The Supabase CLI's ledger for its folder or where the CLI's table exists, else ours."""
    if (folder is not None and is_supabase_folder(folder)) or _exists(conn, SUPABASE_TABLE):
        return SupabaseLedger()
    return SelfhealLedger()
