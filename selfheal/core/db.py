"""Connections and databases: read-only sessions for checks, scratch databases for the guard."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from selfheal.core.dsn import DsnError, dsn_password, parse_dsn, redact_dsn
from selfheal.core.text import first_line


class DatabaseUnreachable(ConnectionError):
    """The database did not answer; the message names host and port, never the password."""


def connect(
    dsn: str,
    *,
    read_only: bool = False,
    autocommit: bool = False,
    connect_timeout: int = 10,
    statement_timeout_ms: int | None = None,
    application_name: str = "selfheal",
) -> psycopg.Connection:
    """Open a connection; `read_only` makes every transaction of the session read-only."""
    options = []
    if read_only:
        options.append("-c default_transaction_read_only=on")
    if statement_timeout_ms:
        options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
    params: dict[str, object] = {
        "connect_timeout": connect_timeout,
        "application_name": application_name,
    }
    if options:
        params["options"] = " ".join(options)
    try:
        # Strictly first: libpq's own messages quote a malformed token, which may be the password.
        parse_dsn(dsn)
    except DsnError as error:
        raise DatabaseUnreachable(f"cannot connect: the connection string {error}") from None
    try:
        return psycopg.connect(make_conninfo(dsn, **params), autocommit=autocommit)
    except psycopg.OperationalError as error:
        raise DatabaseUnreachable(
            f"cannot connect to {redact_dsn(dsn)}: {_first_line(error, dsn)}"
        ) from None


def _first_line(error: Exception, dsn: str) -> str:
    """The server's reason, stripped of anything that could carry the password."""
    text = first_line(error)
    password = dsn_password(dsn)
    return text.replace(password, "***") if password else text


def with_dbname(dsn: str, dbname: str) -> str:
    return make_conninfo(dsn, dbname=dbname)


def create_database(admin_dsn: str, name: str, template: str | None = None) -> str:
    """Create a database (optionally cloned from `template`) and return its DSN."""
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(query)
    return with_dbname(admin_dsn, name)


def drop_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def scratch_database(
    admin_dsn: str, prefix: str = "scratch", template: str | None = None
) -> Iterator[str]:
    """A database that exists for the `with` block only; yields its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    dsn = create_database(admin_dsn, name, template)
    try:
        yield dsn
    finally:
        drop_database(admin_dsn, name)
