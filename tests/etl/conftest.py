"""Fixtures of the ETL tests: the fake sources on loopback and settings pointing at them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from etl_support import NOW, SEED, settings_for

from etl.fake import FakeSources, serve_all
from selfheal.db import create_database, drop_database
from selfheal.settings import Settings


@pytest.fixture
def fakes() -> Iterator[FakeSources]:
    with serve_all(seed=SEED, now=NOW) as sources:
        yield sources


@pytest.fixture
def source_settings(fakes: FakeSources) -> Settings:
    return settings_for(fakes)


@pytest.fixture
def second_db(admin_dsn: str, migrated_template: str) -> Iterator[str]:
    """Another migrated database, for comparing two runs' final states."""
    name = f"t2_{uuid.uuid4().hex[:12]}"
    dsn = create_database(admin_dsn, name, template=migrated_template)
    try:
        yield dsn
    finally:
        drop_database(admin_dsn, name)
