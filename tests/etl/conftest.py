"""Fixtures of the ETL tests: the fake sources on loopback and settings pointing at them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from etl_support import NOW, SEED, settings_for

from etl.fake import FakeSources, serve_all
from selfheal.db import create_database, drop_database
from selfheal.embedded import EmbeddedPostgres, start_embedded
from selfheal.settings import Settings

READY_SECONDS = 60


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    """The shared embedded server, once it accepts connections.

    start_embedded returns when the port opens, which can precede the end of recovery ("the
    database system is starting up") on a loaded machine; wait, boundedly, for a real session.
    """
    with start_embedded() as server:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                psycopg.connect(server.dsn(), connect_timeout=5).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield server


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
