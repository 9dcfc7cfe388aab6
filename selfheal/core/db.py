"""Connections and databases: read-only sessions for checks, scratch databases for the guard."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from weakref import WeakKeyDictionary

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from selfheal.core.dsn import DsnError, dsn_password, parse_dsn, redact_dsn
from selfheal.core.settings import Settings
from selfheal.core.text import first_line


class DatabaseUnreachable(ConnectionError):
    """The database did not answer; the message names host and port, never the password."""


TRANSACTION_POOLER_PORT = 6543  # Supabase's pooler in transaction mode


def connect(
    dsn: str,
    *,
    read_only: bool = False,
    autocommit: bool = False,
    connect_timeout: int = 10,
    statement_timeout_ms: int | None = None,
    application_name: str = "selfheal",
    pooler: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> psycopg.Connection:
    """Open a connection; `read_only` makes every transaction of the session read-only, and
    `settings` (name -> value) are in force too, like the statement timeout.

    Nothing but the application name is sent at connection start (a pooler rejects or drops
    startup `options`). Behind a transaction-mode pooler (`pooler="transaction"`, or unset and
    port 6543) a session is not ours to set: the settings are kept for `local_settings`, which the
    read-only executor applies with SET LOCAL in each of its transactions, and prepared statements
    are off (the next transaction may run on another server connection). On a direct connection
    they are also set once for the whole session, so that bare statements have them too.
    """
    try:
        # Strictly first: libpq's own messages quote a malformed token, which may be the password.
        parse_dsn(dsn)
    except DsnError as error:
        raise DatabaseUnreachable(f"cannot connect: the connection string {error}") from None
    params = {"connect_timeout": connect_timeout, "application_name": application_name}
    try:
        conn = psycopg.connect(make_conninfo(dsn, **params), autocommit=autocommit)
    except psycopg.OperationalError as error:
        raise DatabaseUnreachable(
            f"cannot connect to {redact_dsn(dsn)}: {_first_line(error, dsn)}"
        ) from None
    settings = dict(settings or {})
    if read_only:
        settings["default_transaction_read_only"] = "on"
        conn.read_only = True  # every BEGIN psycopg sends says READ ONLY
    if statement_timeout_ms:
        settings["statement_timeout"] = str(int(statement_timeout_ms))
    _LOCAL_SETTINGS[conn] = settings
    if transaction_pooled(conn, pooler):
        conn.prepare_threshold = None
    elif settings:
        set_config(conn, settings, local=False)
        if not autocommit:
            conn.commit()
    return conn


def connect_target(
    dsn: str, settings: Settings, *, read_only: bool = False, autocommit: bool = True
) -> psycopg.Connection:
    """`connect` to the target as the settings say: their timeouts, their pooler."""
    return connect(
        dsn,
        read_only=read_only,
        autocommit=autocommit,
        connect_timeout=settings.connect_timeout,
        statement_timeout_ms=settings.statement_timeout_ms if read_only else None,
        pooler=settings.pooler,
    )


def transaction_pooled(conn: psycopg.Connection, pooler: str | None = None) -> bool:
    """True when `conn` goes through a transaction-mode pooler: declared, or seen from its port."""
    if pooler is not None:
        return pooler == "transaction"
    return conn.info.port == TRANSACTION_POOLER_PORT


@contextmanager
def write_transaction(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A transaction with the settings `connect` was asked for in force (SET LOCAL): behind a
    transaction-mode pooler the only way they hold for a write; on a direct connection the
    session has them already, and setting them again for the transaction changes nothing."""
    with conn.transaction():
        settings = local_settings(conn)
        if settings:
            set_config(conn, settings, local=True)
        yield conn


def local_settings(conn: psycopg.Connection) -> dict[str, str]:
    """The settings `connect` was asked for, to be applied with SET LOCAL in each transaction."""
    return dict(_LOCAL_SETTINGS.get(conn, {}))


_LOCAL_SETTINGS: WeakKeyDictionary[psycopg.Connection, dict[str, str]] = WeakKeyDictionary()


def set_config(conn: psycopg.Connection, settings: Mapping[str, str], *, local: bool) -> None:
    """Settings in one statement: `local` = SET LOCAL (to the end of the transaction), else SET."""
    call = sql.SQL("set_config(%s, %s, {})").format(sql.Literal(local))
    params = [item for pair in settings.items() for item in pair]
    conn.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join([call] * len(settings))), params)


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
