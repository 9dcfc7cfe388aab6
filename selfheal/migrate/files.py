"""Migration files: `NNNN_name.sql` in one folder, applied in version order."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

FILENAME = re.compile(r"^(?P<version>\d+)_(?P<name>[A-Za-z0-9_\-]+)\.sql$")
NO_TRANSACTION = re.compile(r"^--\s*selfheal:\s*no-transaction\b", re.MULTILINE)


class MigrationFilesError(ValueError):
    """The migrations folder or one of its files is unusable; the message names it."""


@dataclass(frozen=True)
class MigrationFile:
    version: str
    name: str
    path: Path
    sql: str
    checksum: str

    @property
    def filename(self) -> str:
        return self.path.name

    @cached_property
    def in_transaction(self) -> bool:
        """False for files marked `-- selfheal: no-transaction` (CREATE INDEX CONCURRENTLY)."""
        return not NO_TRANSACTION.search(self.sql)


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_migration(path: Path) -> MigrationFile:
    match = FILENAME.match(path.name)
    if not match:
        raise MigrationFilesError(f"{path}: not a migration file name (expected NNNN_name.sql)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MigrationFilesError(f"{path}: not UTF-8 text") from None
    return MigrationFile(match["version"], match["name"], path, text, checksum(text))


def discover(folder: Path) -> list[MigrationFile]:
    """Every `*.sql` file of the folder, in version order; duplicates and bad names are errors."""
    if not folder.is_dir():
        raise MigrationFilesError(f"migrations folder {folder} does not exist")
    migrations = [read_migration(path) for path in sorted(folder.glob("*.sql"))]
    migrations.sort(key=lambda m: (int(m.version), m.filename))
    seen: dict[str, MigrationFile] = {}
    for migration in migrations:
        if migration.version in seen:
            raise MigrationFilesError(
                f"{migration.path}: version {migration.version} is also used by "
                f"{seen[migration.version].filename}"
            )
        seen[migration.version] = migration
    return migrations
