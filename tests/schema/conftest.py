"""Helpers of the schema and delta tests: expected snapshots built once per session, and a
migrations folder that adds awkward objects to the domain schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from schema_helpers import AWKWARD_MIGRATION, MIGRATIONS

from selfheal.catalog import CatalogSnapshot
from selfheal.schema import expected_snapshot


@pytest.fixture(scope="session")
def awkward_migrations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("migrations")
    for path in MIGRATIONS.glob("*.sql"):
        shutil.copy(path, folder / path.name)
    (folder / "0900_awkward.sql").write_text(AWKWARD_MIGRATION, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def domain_expected(admin_dsn: str) -> CatalogSnapshot:
    return expected_snapshot(admin_dsn, MIGRATIONS)


@pytest.fixture(scope="session")
def awkward_expected(admin_dsn: str, awkward_migrations: Path) -> CatalogSnapshot:
    return expected_snapshot(admin_dsn, awkward_migrations)
