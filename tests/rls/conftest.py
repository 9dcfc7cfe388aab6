"""Helpers of the RLS tests: snapshots and statements on a per-test database."""

from __future__ import annotations

import pytest

from selfheal.catalog import CatalogSnapshot, snapshot
from selfheal.core.db import connect


@pytest.fixture
def execute():
    def run(dsn: str, statement: str) -> None:
        with connect(dsn, autocommit=True) as conn:
            conn.execute(statement)

    return run


@pytest.fixture
def snapshot_of():
    def take(dsn: str) -> CatalogSnapshot:
        with connect(dsn, read_only=True, autocommit=True) as conn:
            return snapshot(conn)

    return take
