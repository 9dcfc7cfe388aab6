"""The expected snapshot: what the migrations create, measured in a scratch database.

The Supabase shim is applied first and snapshotted as the baseline; the migrations then run and
the expected snapshot is everything they added or changed. So `auth.uid()` and the shim's roles
are never "expected" (a real Supabase provides its own), while everything a migration creates is.
"""

from __future__ import annotations

import logging
from pathlib import Path

from selfheal.catalog import CatalogSnapshot, snapshot
from selfheal.core.db import connect, scratch_database
from selfheal.core.embedded import start_embedded
from selfheal.core.shim import apply_shim
from selfheal.migrate.files import discover
from selfheal.migrate.runner import prepare_database
from selfheal.schema.lock import read_lock

log = logging.getLogger(__name__)


def expected_snapshot(admin_dsn: str, migrations_dir: Path) -> CatalogSnapshot:
    """Apply the migrations to a throwaway database on the server at `admin_dsn`; snapshot it."""
    discover(migrations_dir)  # a missing folder or a bad file name fails before any work
    with scratch_database(admin_dsn, prefix="selfheal_expected") as dsn:
        with connect(dsn, autocommit=True) as conn:
            apply_shim(conn)
            baseline = snapshot(conn)
        prepare_database(dsn, migrations_dir)
        with connect(dsn, autocommit=True) as conn:
            migrated = snapshot(conn)
    return migrated.minus(baseline)


def locked_or_built(migrations_dir: Path, lock: Path) -> CatalogSnapshot:
    """The expected snapshot from a fresh lock file, else built on a throwaway local server."""
    locked = read_lock(lock, migrations_dir)
    if locked is not None:
        log.info("expected schema read from %s", lock)
        return locked
    log.info("%s is missing or stale: building the expected schema from %s", lock, migrations_dir)
    with start_embedded() as server:
        return expected_snapshot(server.dsn(), migrations_dir)
