"""The history schema: created and upgraded by selfheal's own migrations, shipped beside this file.

`migrations/NNNN_name.sql` are additive and idempotent; `upgrade` applies those the database has
not recorded in `selfheal_history.schema_version`, each in its own transaction, under a
transaction-scoped advisory lock so two sessions upgrading at once apply each file once, through
a transaction-mode pooler too (no session lock: a session there is not ours). A database whose history schema is
newer than this code (written by a later selfheal) is refused with both versions named.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

from selfheal.migrate.files import MigrationFile, discover

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA = "selfheal_history"
_LOCK_KEY = "selfheal.history.schema"
log = logging.getLogger(__name__)


class HistorySchemaNewer(RuntimeError):
    """The history schema was written by a later selfheal; the message names both versions."""


def migrations() -> list[MigrationFile]:
    return discover(MIGRATIONS)


def code_version() -> int:
    """The newest history schema this code knows."""
    return max(int(m.version) for m in migrations())


def database_version(conn: psycopg.Connection) -> int:
    """The newest history migration recorded in the database (0: none yet)."""
    # From pg_tables, not to_regclass: its name lookup may miss a table another session created
    # while this transaction waited for the upgrade lock.
    exists = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_tables WHERE schemaname = %s AND tablename = %s)",
        (SCHEMA, "schema_version"),
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute(
        "SELECT coalesce(max(version), 0) FROM selfheal_history.schema_version"
    ).fetchone()
    return int(row[0]) if row else 0


def refuse_newer(found: int, where: str) -> None:
    known = code_version()
    if found > known:
        raise HistorySchemaNewer(
            f"the history schema in {where} is at version {found}, newer than this selfheal "
            f"(which knows up to version {known}): upgrade selfheal, or point "
            "SELFHEAL_HISTORY_DSN at another database"
        )


def upgrade(conn: psycopg.Connection, where: str) -> int:
    """Apply the pending history migrations on an autocommit connection; returns the version."""
    current = database_version(conn)
    refuse_newer(current, where)
    for migration in migrations():
        if int(migration.version) <= current:
            continue
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_LOCK_KEY,))
            current = database_version(conn)  # another session may have applied it meanwhile
            if int(migration.version) <= current:
                continue
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO selfheal_history.schema_version (version, name) VALUES (%s, %s) "
                "ON CONFLICT (version) DO NOTHING",
                (int(migration.version), migration.name),
            )
        log.info("history schema: applied %s", migration.filename)
        current = int(migration.version)
    return current
