"""The lock file: the expected snapshot, committed, so checks in live mode need no local server.

It records the checksum of every migration it was built from. When the migrations folder no
longer matches (a file added, edited or removed), the lock is stale: `lock_problem` says why (for
preflight), and the checks fall back to building the expected snapshot from the migrations.
Regenerate it with `selfheal lock`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from selfheal.catalog import CatalogSnapshot, DefaultedPrivilege
from selfheal.migrate.files import discover

# 2: constraints record whether they were validated; 3: the privileges only the platform's
# default privileges give are listed (`defaulted`).
LOCK_VERSION = 3


def migration_checksums(migrations_dir: Path) -> dict[str, str]:
    return {m.filename: m.checksum for m in discover(migrations_dir)}


def write_lock(path: Path, snapshot: CatalogSnapshot, migrations_dir: Path) -> None:
    """Write atomically: a reader never sees half a lock."""
    document = {
        "version": LOCK_VERSION,
        "migrations": migration_checksums(migrations_dir),
        "snapshot": snapshot.to_json(),
        "defaulted": sorted(
            [d.objects, list(d.key), d.grantee, d.privilege] for d in snapshot.defaulted
        ),
    }
    staging = path.with_name(path.name + ".partial")
    staging.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    staging.replace(path)


def _document(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def lock_problem(path: Path, migrations_dir: Path, explained: Collection[str] = ()) -> str | None:
    """Why the lock at `path` cannot stand for the migrations; None when it is fresh. Files in
    `explained` (applied migrations edited since, each a problem of its own) are not counted."""
    if not path.is_file():
        return f"{path} does not exist; run `selfheal lock`"
    document = _document(path)
    version = document.get("version")
    if isinstance(version, int) and 0 < version < LOCK_VERSION:
        return (
            f"{path} was written by an older selfheal (lock version {version}, which cannot tell "
            f"the migrations' grants from the platform's); run `selfheal lock` to rewrite it "
            f"(version {LOCK_VERSION})"
        )
    if version != LOCK_VERSION or "snapshot" not in document:
        return f"{path} is not a selfheal schema lock (version {LOCK_VERSION}); run `selfheal lock`"
    locked, current = document.get("migrations", {}), migration_checksums(migrations_dir)
    changed = sorted(
        name
        for name in locked.keys() | current.keys()
        if locked.get(name) != current.get(name) and name not in explained
    )
    if changed:
        return (
            f"{path} is stale: {', '.join(changed)} changed since it was written; "
            "run `selfheal lock`"
        )
    return None


def read_lock(path: Path, migrations_dir: Path) -> CatalogSnapshot | None:
    """The locked expected snapshot, or None when the lock is missing or stale."""
    if lock_problem(path, migrations_dir) is not None:
        return None
    document = _document(path)
    defaulted = frozenset(
        DefaultedPrivilege(objects, tuple(key), grantee, privilege)
        for objects, key, grantee, privilege in document.get("defaulted", [])
    )
    return replace(CatalogSnapshot.from_json(document["snapshot"]), defaulted=defaulted)
