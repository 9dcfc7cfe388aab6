"""Fixtures of the pooler tests: one PgBouncer in transaction mode before the embedded server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pgbouncer import PgBouncer, find_pgbouncer, start_pgbouncer

from selfheal.core.embedded import SUPERUSER, EmbeddedPostgres


@pytest.fixture(scope="session")
def pgbouncer(pg_server: EmbeddedPostgres) -> Iterator[PgBouncer]:
    binary = find_pgbouncer()
    if binary is None:
        pytest.skip("pgbouncer is not installed (make setup installs Debian's package)")
    bouncer = start_pgbouncer(binary, pg_server, [SUPERUSER])
    try:
        yield bouncer
    finally:
        bouncer.stop()
