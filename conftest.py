"""Fixtures every check shares: settings, the target database (live or embedded), sessions.

With `SUPABASE_DB_URL` set, checks run against that database in read-only sessions. Without it,
a throwaway PostgreSQL is started, shimmed and migrated: the embedded default. The guard and the
expected schema always use a local scratch server, so live mode never writes to the target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from selfheal.db import connect, create_database
from selfheal.embedded import EmbeddedPostgres, start_embedded
from selfheal.environment import prepare_database
from selfheal.settings import Settings

EMBEDDED_DBNAME = "selfheal"


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings parsed leniently: preflight reports each bad variable as its own failure."""
    return Settings.from_env(strict=False)


@pytest.fixture(scope="session")
def migrations_dir(settings: Settings) -> Path:
    return settings.migrations_dir


@pytest.fixture(scope="session")
def scratch_server() -> Iterator[EmbeddedPostgres]:
    """A local server for scratch work (guard, expected schema); never the target."""
    with start_embedded() as server:
        yield server


@pytest.fixture(scope="session")
def target_dsn(settings: Settings, request: pytest.FixtureRequest) -> str:
    """DSN of the database under check: live, or the embedded default prepared here."""
    if settings.live:
        return settings.db_url.reveal()
    server: EmbeddedPostgres = request.getfixturevalue("scratch_server")
    dsn = create_database(server.dsn(), EMBEDDED_DBNAME)
    prepare_database(dsn, settings.migrations_dir)
    return dsn


@pytest.fixture(scope="session")
def db(target_dsn: str, settings: Settings) -> Iterator[psycopg.Connection]:
    """A read-only, autocommit session on the target: checks never write to what they check."""
    with connect(
        target_dsn,
        read_only=True,
        autocommit=True,
        connect_timeout=settings.connect_timeout,
        statement_timeout_ms=settings.statement_timeout_ms,
    ) as conn:
        yield conn
