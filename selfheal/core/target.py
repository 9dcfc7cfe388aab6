"""The target database: the live one from `SUPABASE_DB_URL`, or the embedded local default.

`target_database` gives command-line tools their DSN: the live one, or a local server whose data
persists between commands (so `selfheal migrate` twice applies nothing the second time), started
for the command and stopped after it. Migrations are the caller's (`migrate.prepare_database`):
this layer knows databases, not what a project puts in them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from selfheal.core.db import connect, with_dbname
from selfheal.core.embedded import persistent_dir, start_embedded
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


@contextmanager
def target_database(settings: Settings, project_root: Path = Path(".")) -> Iterator[str]:
    """Yield the DSN that command-line tools act on."""
    if settings.live:
        yield settings.db_url.reveal()
        return
    with start_embedded(base_dir=persistent_dir(project_root)) as server:
        yield ensure_embedded_database(server.dsn())
