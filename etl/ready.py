"""Waiting for a freshly started server to accept sessions.

`start_embedded` returns once the port is open, which on a loaded machine can precede the end of
startup ("the database system is starting up"). Until the foundation waits itself, the ETL
tests and the benchmark call `wait_until_accepting` after starting a server.
"""

from __future__ import annotations

import time

import psycopg

from selfheal.settings import redact_dsn


def wait_until_accepting(dsn: str, seconds: float = 60.0) -> None:
    """Return once a session opens; raise ConnectionError naming the server after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg.connect(dsn, connect_timeout=5).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise ConnectionError(
                    f"{redact_dsn(dsn)} did not accept sessions within {seconds:.0f}s"
                ) from None
            time.sleep(0.2)
