"""The one executor of every query a check runs: one statement, READ ONLY, always rolled back.

Checks never write to the database they check, and that holds by construction, not by trust in
the text they run (rule files and custom SQL are written by anyone on the team):

- every statement is sent alone with the extended query protocol (psycopg's pipeline mode), which
  the server refuses for more than one command: `x; COMMIT; BEGIN READ WRITE; DROP ...` fails
  before anything runs;
- every statement runs inside a transaction started here and made `READ ONLY` before anything
  else runs; it is always rolled back, and a statement that ended it is refused;
- only statements that read are sent at all (SELECT, WITH, SHOW, EXPLAIN without ANALYZE);
- where the target has it, text from rule files runs as the `selfheal_reader` role, which holds
  SELECT only (see `boundary`).
Writes happen elsewhere: migrations, ETL, `--heal`, and the opt-in RLS write probes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from selfheal.core.db import local_settings, set_config

READER_ROLE = "selfheal_reader"
ISOLATION_LEVELS = ("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")

# What may be sent: a read; EXPLAIN only of a query and without ANALYZE (which runs it).
_READ_STATEMENT = re.compile(
    r"\s*(?:SELECT|WITH|SHOW|EXPLAIN\s+(?:\(\s*FORMAT\s+\w+\s*\)\s*)?(?:SELECT|WITH))\b",
    re.IGNORECASE,
)


class ReadRefused(ValueError):
    """A statement the executor will not send, or one that escaped its transaction."""


@dataclass(frozen=True)
class Rows:
    names: list[str]
    rows: list[Any]


def _text(conn: psycopg.Connection, query: str | sql.Composable) -> str:
    return query if isinstance(query, str) else query.as_string(conn)


def check_read_statement(text: str) -> None:
    """Refuse anything but a read before it is sent."""
    if not _READ_STATEMENT.match(text):
        first = text.strip().split(None, 1)[0][:40] if text.strip() else "an empty statement"
        raise ReadRefused(f"refused to send {first!r}: checks send SELECT, WITH, SHOW or EXPLAIN")


class _Fetcher:
    """`rows`, `one` and `value`, each a shape of `fetch`'s result."""

    def fetch(self, query: str | sql.Composable, params: Any = None, *, row_factory=None) -> Rows:
        raise NotImplementedError

    def rows(self, query: str | sql.Composable, params: Any = None, *, row_factory=None) -> list:
        return self.fetch(query, params, row_factory=row_factory).rows

    def one(self, query: str | sql.Composable, params: Any = None) -> Any:
        rows = self.rows(query, params)
        return rows[0] if rows else None

    def value(self, query: str | sql.Composable, params: Any = None) -> Any:
        row = self.one(query, params)
        return row[0] if row else None


class ReadTransaction(_Fetcher):
    """Statements of one read-only transaction; each is sent alone and fetched in full."""

    def __init__(self, conn: psycopg.Connection):
        self._conn = conn

    def fetch(self, query: str | sql.Composable, params: Any = None, *, row_factory=None) -> Rows:
        text = _text(self._conn, query)
        check_read_statement(text)
        cursor = self._conn.cursor(row_factory=row_factory) if row_factory else self._conn.cursor()
        with cursor:
            cursor.execute(query, params)
            rows = cursor.fetchall()  # in pipeline mode this is the sync: errors surface here
            names = [column.name for column in cursor.description or []]
        if self._conn.info.transaction_status != TransactionStatus.INTRANS:
            raise ReadRefused("a statement ended the read-only transaction; nothing was kept")
        return Rows(names, rows)


class Reader(_Fetcher):
    """Reads through one connection, each transaction READ ONLY and rolled back.

    The connection must be outside any transaction (an autocommit session, like the `db`
    fixture's): the transaction is this executor's, so the text it runs cannot end it.
    """

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    @contextmanager
    def transaction(
        self,
        *,
        role: str | None = None,
        settings: Mapping[str, str] | None = None,
        isolation: str | None = None,
    ) -> Iterator[ReadTransaction]:
        """A read-only transaction, as `role` when given, with transaction-local `settings`."""
        conn = self.conn
        if conn.info.transaction_status != TransactionStatus.IDLE:
            raise ReadRefused("the read-only executor needs a connection outside any transaction")
        if isolation is not None and isolation not in ISOLATION_LEVELS:
            raise ValueError(f"unknown isolation level {isolation!r}")
        start = "SET TRANSACTION READ ONLY"
        if isolation:
            start = f"SET TRANSACTION ISOLATION LEVEL {isolation}, READ ONLY"
        local = local_settings(conn) | dict(settings or {})
        if role is not None:
            local["role"] = role
        with conn.pipeline(), conn.transaction(force_rollback=True):
            conn.execute(start)
            if local:
                set_config(conn, local, local=True)
            yield ReadTransaction(conn)

    def fetch(
        self,
        query: str | sql.Composable,
        params: Any = None,
        *,
        row_factory=None,
        role: str | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> Rows:
        """One statement in its own read-only transaction."""
        with self.transaction(role=role, settings=settings) as tx:
            return tx.fetch(query, params, row_factory=row_factory)


_READER_FACTS = """
SELECT r.rolsuper, r.rolbypassrls, pg_has_role(session_user, r.oid, 'MEMBER'),
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND has_table_privilege(r.oid, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')),
       session_user,
       array(SELECT format('%%I.%%I', n.nspname, c.relname)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname = ANY(%s)
               AND NOT (has_schema_privilege(r.oid, n.oid, 'USAGE')
                        AND has_table_privilege(r.oid, c.oid, 'SELECT'))
             ORDER BY 1)
FROM pg_roles r WHERE r.rolname = %s
"""


@dataclass(frozen=True)
class Boundary:
    """What keeps rule SQL from writing on this target, said for people."""

    role: str | None  # the role rule SQL runs as; None when only the transaction boundary holds
    reason: str

    @property
    def summary(self) -> str:
        if self.role:
            return f"role {self.role} (SELECT only) inside READ ONLY transactions"
        return "READ ONLY transactions only (no reader role in force)"


def _reader_problem(facts: tuple | None, role: str) -> str | None:
    if facts is None:
        return f"no role {role} on this database (the selfheal_reader migration creates it)"
    superuser, bypassrls, member, writable, login, unreadable = facts
    if superuser:
        return f"{role} is a superuser, which is no boundary"
    if writable:
        return f"{role} may write to {writable} tables; grant it SELECT only"
    if not bypassrls:
        return (
            f"{role} lacks BYPASSRLS, so row-level security would hide rows from data-quality "
            f"checks; as a superuser: ALTER ROLE {role} BYPASSRLS"
        )
    if not member:
        return f"the login {login} may not SET ROLE {role}; run: GRANT {role} TO {login}"
    if unreadable:
        shown = ", ".join(unreadable[:3]) + (", ..." if len(unreadable) > 3 else "")
        return (
            f"{role} may not read {len(unreadable)} checked tables ({shown}); "
            f"GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO {role}"
        )
    return None


def boundary(
    conn: psycopg.Connection, schemas: Iterable[str] = ("public",), role: str = READER_ROLE
) -> Boundary:
    """The reader role when the target has one the session may use and that may read every
    table of the checked `schemas`, else the transaction boundary only."""
    reader = Reader(conn)
    problem = _reader_problem(reader.one(_READER_FACTS, (sorted(schemas), role)), role)
    if problem is None:
        try:
            reader.fetch("SELECT 1", role=role)
        except psycopg.Error as error:
            problem = f"SET ROLE {role} failed: {error.diag.message_primary or error}"
    if problem:
        return Boundary(None, problem)
    return Boundary(role, f"rule SQL runs as {role}: SELECT only, BYPASSRLS, no write privilege")
