"""The expected snapshot: what the migrations create, measured in a scratch database.

The Supabase shim is applied first and snapshotted as the baseline; the migrations then run and
the expected snapshot is everything they added or changed. So `auth.uid()` and the shim's roles
are never "expected" (a real Supabase provides its own), while everything a migration creates is.
A second build without Supabase's default privileges tells which privileges only those defaults
gave: they are expected where the target's own defaults give them (schema/platform.py).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from selfheal.catalog import CatalogSnapshot, snapshot
from selfheal.core.db import connect, scratch_database
from selfheal.core.embedded import start_embedded
from selfheal.core.shim import apply_shim
from selfheal.migrate.files import discover
from selfheal.migrate.runner import prepare_database
from selfheal.schema.lock import read_lock
from selfheal.schema.platform import defaulted_privileges

log = logging.getLogger(__name__)


def expected_snapshot(admin_dsn: str, migrations_dir: Path) -> CatalogSnapshot:
    """Apply the migrations to throwaway databases on the server at `admin_dsn`, with Supabase's
    default privileges and without; the first build's snapshot, its privileges that only those
    defaults gave marked `defaulted` (schema/platform.py)."""
    discover(migrations_dir)  # a missing folder or a bad file name fails before any work
    expected = _migrated(admin_dsn, migrations_dir, default_privileges=True)
    bare = _migrated(admin_dsn, migrations_dir, default_privileges=False)
    return replace(expected, defaulted=defaulted_privileges(expected, bare))


def _migrated(admin_dsn: str, migrations_dir: Path, *, default_privileges: bool) -> CatalogSnapshot:
    """What the migrations add to a shimmed scratch database."""
    with scratch_database(admin_dsn, prefix="selfheal_expected") as dsn:
        with connect(dsn, autocommit=True) as conn:
            apply_shim(conn, default_privileges=default_privileges)
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
