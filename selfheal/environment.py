"""The target database: the live one from `SUPABASE_DB_URL`, or an embedded local default.

`prepare_database` is what makes an empty embedded database look like a deployed project:
the Supabase shim, then every migration.
"""

from __future__ import annotations

from pathlib import Path

from selfheal.db import connect
from selfheal.migrate.runner import apply_pending
from selfheal.shim import apply_shim


def prepare_database(dsn: str, migrations_dir: Path) -> None:
    """Shim (only where Supabase's auth is absent) and apply all pending migrations."""
    with connect(dsn, autocommit=True) as conn:
        apply_shim(conn)
        apply_pending(conn, migrations_dir)
