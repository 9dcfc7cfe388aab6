"""The target database: the live one from `SUPABASE_DB_URL`, or the embedded local default.

`target_database` gives command-line tools their DSN: the live one, or the project's shared
embedded cluster (`selfheal.core.cluster`: the same database `pytest` checks, whose data persists
between commands, so `selfheal migrate` twice applies nothing the second time). Migrations are the
caller's (`migrate.prepare_database`): this layer knows databases, not what a project puts in them.
`describe_target` is the line every command prints first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from selfheal.core.db import connect, with_dbname
from selfheal.core.dsn import redact_dsn
from selfheal.core.settings import Settings
from selfheal.core.shim import apply_shim

EMBEDDED_DBNAME = "selfheal"
log = logging.getLogger(__name__)


def ensure_embedded_database(admin_dsn: str) -> str:
    """The embedded default's database (created and shimmed if new); returns its DSN."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DBNAME,)
        ).fetchone()
        if not exists:
            log.info("creating the embedded default database %s", EMBEDDED_DBNAME)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DBNAME)))
    dsn = with_dbname(admin_dsn, EMBEDDED_DBNAME)
    with connect(dsn, autocommit=True) as conn:
        apply_shim(conn)
    return dsn


def describe_target(settings: Settings) -> str:
    """The target as every command names it on its first line (redacted)."""
    if settings.live:
        return f"target: {redact_dsn(settings.db_url.reveal())} (SUPABASE_DB_URL)"
    return f"target: the embedded default ({settings.embedded_dir})"


@contextmanager
def target_database(settings: Settings) -> Iterator[str]:
    """Yield the DSN that command-line tools act on."""
    if settings.live:
        yield settings.db_url.reveal()
        return
    from selfheal.core.cluster import shared_cluster  # the servers' tooling: embedded runs only

    with shared_cluster(settings.embedded_dir) as cluster:
        yield ensure_embedded_database(cluster.dsn())
