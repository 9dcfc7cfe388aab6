"""The migration runner: a ledger of applied files with checksums, each file in a transaction.

Like Django's migration executor: `plan` compares the folder with the ledger; `migrate` refuses to
start when an applied file was edited, then applies the pending files in order, each with its
ledger row in one transaction, so a failing file rolls back whole and stops the run. The ledger
is selfheal's own or, in a Supabase CLI project, the CLI's (`ledger.py`).
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from selfheal.core.db import connect, transaction_pooled
from selfheal.core.dsn import redact_dsn
from selfheal.core.locks import advisory_locks
from selfheal.core.shim import apply_shim
from selfheal.core.text import first_line
from selfheal.migrate.files import MigrationFile, discover
from selfheal.migrate.ledger import AppliedMigration, Ledger, ledger_for, record
from selfheal.migrate.statements import atomicity_problems, split_statements

_LOCK_KEY = "migrate"
log = logging.getLogger(__name__)


class MigrationError(RuntimeError):
    """A migration cannot be applied; the message names the file and the database's reason."""


@dataclass
class MigrationPlan:
    files: list[MigrationFile]
    applied: dict[str, AppliedMigration]
    pending: list[MigrationFile] = field(default_factory=list)
    edited: list[MigrationFile] = field(default_factory=list)
    missing_files: list[AppliedMigration] = field(default_factory=list)

    def __post_init__(self) -> None:
        on_disk = {m.version for m in self.files}
        for migration in self.files:
            recorded = self.applied.get(migration.version)
            if recorded is None:
                self.pending.append(migration)
            elif recorded.checksum not in (None, migration.checksum):
                self.edited.append(migration)
        self.missing_files = [a for v, a in sorted(self.applied.items()) if v not in on_disk]

    def refuse_edited(self) -> None:
        if self.edited:
            names = ", ".join(m.filename for m in self.edited)
            raise MigrationError(
                f"applied migration(s) edited since they ran: {names}; "
                "add a new migration instead of changing an applied one"
            )


def read_ledger(
    conn: psycopg.Connection, folder: Path | None = None
) -> dict[str, AppliedMigration]:
    """The ledger's rows by version; empty when the ledger does not exist yet."""
    return ledger_for(conn, folder).read(conn)


def plan(conn: psycopg.Connection, folder: Path) -> MigrationPlan:
    return MigrationPlan(files=discover(folder), applied=read_ledger(conn, folder))


def refuse_non_atomic(migration: MigrationFile) -> None:
    """A transactional file that commits part of itself cannot be rolled back whole: refuse it."""
    problems = atomicity_problems(migration.sql, migration.in_transaction)
    if problems:
        where = "; ".join(f"line {line}: {reason}" for line, reason in problems)
        raise MigrationError(f"{migration.filename} was not applied: {where}")


def apply_file(
    conn: psycopg.Connection, migration: MigrationFile, ledger: Ledger | None = None
) -> None:
    """Apply one file and record it; on error roll back and raise naming the file."""
    refuse_non_atomic(migration)
    ledger = ledger or ledger_for(conn, migration.path.parent)
    try:
        if migration.in_transaction:
            with conn.transaction():
                conn.execute(migration.sql)
                record(conn, ledger, migration)
        else:
            # CREATE INDEX CONCURRENTLY and friends: statement by statement, outside a transaction.
            for statement in split_statements(migration.sql):
                conn.execute(statement.text)
            conn.execute("RESET ALL")  # its session settings end with it
            with conn.transaction():
                record(conn, ledger, migration)
    except psycopg.Error as error:
        reason = first_line(error)
        raise MigrationError(f"{migration.filename} failed and was rolled back: {reason}") from None
    log.info("applied %s", migration.filename)


def ensure_ledger(conn: psycopg.Connection, folder: Path | None = None) -> Ledger:
    ledger = ledger_for(conn, folder)
    with conn.transaction():
        ledger.ensure(conn)
    return ledger


def _adopt_unchecked(conn: psycopg.Connection, ledger: Ledger, current: MigrationPlan) -> None:
    """Files another tool applied: their checksum as they are now, so later edits are seen."""
    unchecked = [m for m in current.files if m.version in current.applied]
    unchecked = [m for m in unchecked if current.applied[m.version].checksum is None]
    with conn.transaction():
        for migration in unchecked:
            ledger.adopt(conn, migration)


def refuse_through_pooler(migration: MigrationFile) -> None:
    """A file run outside a transaction (CREATE INDEX CONCURRENTLY) waits for every open
    transaction, the migration lock's holder included, which behind a transaction pooler is one."""
    if not migration.in_transaction:
        raise MigrationError(
            f"{migration.filename} was not applied: it runs outside a transaction, which cannot "
            "be done through a transaction-mode pooler; run `selfheal migrate` on a direct "
            "connection (Supabase: the direct URL, or the pooler's session mode on port 5432)"
        )


def apply_pending(
    conn: psycopg.Connection, folder: Path, *, pooled: bool = False
) -> list[MigrationFile]:
    """Apply every pending file in order on an autocommit connection; returns what it applied.
    The caller holds the migration lock (`migration_lock`)."""
    ledger = ensure_ledger(conn, folder)
    current = plan(conn, folder)
    current.refuse_edited()
    for migration in current.pending:  # before anything is applied
        refuse_non_atomic(migration)
        if pooled:
            refuse_through_pooler(migration)
    _adopt_unchecked(conn, ledger, current)
    for migration in current.pending:
        apply_file(conn, migration, ledger)
    return current.pending


def migration_lock(dsn: str, pooler: str | None = None) -> AbstractContextManager[bool]:
    """One migrating process at a time on a database: the others wait for it."""
    return advisory_locks(dsn, [_LOCK_KEY], wait_seconds=None, pooler=pooler)


@dataclass(frozen=True)
class MigrateResult:
    target: str  # redacted
    applied: list[MigrationFile]
    dry_run: bool


def migrate(
    dsn: str,
    folder: Path,
    *,
    dry_run: bool = False,
    connect_timeout: int = 10,
    pooler: str | None = None,
) -> MigrateResult:
    """Apply pending migrations to the database at `dsn` (or only list them with `dry_run`)."""
    discover(folder)  # a missing folder or a bad file name fails before touching the database
    session = connect(dsn, autocommit=True, connect_timeout=connect_timeout, pooler=pooler)
    with session as conn:
        if dry_run:
            current = plan(conn, folder)
            current.refuse_edited()
            applied = current.pending
        else:
            with migration_lock(dsn, pooler):
                applied = apply_pending(conn, folder, pooled=transaction_pooled(conn, pooler))
    return MigrateResult(target=redact_dsn(dsn), applied=applied, dry_run=dry_run)


def prepare_database(dsn: str, migrations_dir: Path) -> None:
    """Make an empty database look like a deployed project: the Supabase shim (only where
    Supabase's auth is absent), then every pending migration."""
    with migration_lock(dsn), connect(dsn, autocommit=True) as conn:
        apply_shim(conn)
        apply_pending(conn, migrations_dir)
