"""Fixtures of the project's own tests: one embedded server per session, one database per test.

The migrated template is built once; each test that writes gets its own clone (a template copy
is a file copy, far cheaper than re-running migrations).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from selfheal.core.db import connect, create_database, drop_database
from selfheal.core.embedded import EmbeddedPostgres, start_embedded
from selfheal.core.shim import apply_shim
from selfheal.migrate.runner import prepare_database

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"
TEMPLATE = "selfheal_migrated_template"


@pytest.fixture(autouse=True)
def throwaway_embedded_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The project's own tests keep throwaway servers: a command a test runs without
    SUPABASE_DB_URL gets an embedded default of its own, never the project's `.selfheal/db`."""
    folder = Path(tempfile.mkdtemp(prefix="selfheal-test-cluster-"))
    monkeypatch.setenv("SELFHEAL_EMBEDDED_DIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    with start_embedded() as server:
        yield server


@pytest.fixture(scope="session")
def admin_dsn(pg_server: EmbeddedPostgres) -> str:
    """Superuser DSN of the embedded server's maintenance database."""
    return pg_server.dsn()


@pytest.fixture(scope="session")
def migrated_template(admin_dsn: str) -> str:
    dsn = create_database(admin_dsn, TEMPLATE)
    prepare_database(dsn, MIGRATIONS)
    return TEMPLATE


def _fresh_database(admin_dsn: str, template: str | None) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = create_database(admin_dsn, name, template=template)
    try:
        yield dsn
    finally:
        drop_database(admin_dsn, name)


@pytest.fixture
def migrated_db(admin_dsn: str, migrated_template: str) -> Iterator[str]:
    """DSN of a database of its own with the shim and every migration applied."""
    yield from _fresh_database(admin_dsn, migrated_template)


@pytest.fixture
def second_db(admin_dsn: str, migrated_template: str) -> Iterator[str]:
    """Another migrated database of its own, e.g. to compare two runs' final states."""
    yield from _fresh_database(admin_dsn, migrated_template)


@pytest.fixture
def empty_db(admin_dsn: str) -> Iterator[str]:
    """DSN of an empty database of its own (no shim, no migrations)."""
    yield from _fresh_database(admin_dsn, None)


@pytest.fixture
def shimmed_db(empty_db: str) -> str:
    """DSN of an empty database with the Supabase shim only."""
    with connect(empty_db, autocommit=True) as conn:
        apply_shim(conn)
    return empty_db


# --- A Slack stand-in: an HTTP receiver on loopback that records what it is sent. ---
class SlackReceiver:
    def __init__(self, statuses: list[int]):
        self.statuses = statuses  # answers to give in turn; the last one repeats
        self.bodies: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/s3cr3t"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                index = min(len(receiver.bodies), len(receiver.statuses)) - 1
                self.send_response(receiver.statuses[index])
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def slack_receiver(request: pytest.FixtureRequest) -> Iterator[SlackReceiver]:
    """Answers 200; parametrize indirectly with a list of statuses to answer otherwise."""
    receiver = SlackReceiver(getattr(request, "param", [200]))
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
