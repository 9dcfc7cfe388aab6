"""A real PgBouncer in transaction mode on loopback, in front of the tests' embedded server.

Debian's `pgbouncer` package (`make setup` installs it); it is started here with a configuration
of its own in a temporary folder, as the server's unprivileged account when we are root (PgBouncer
refuses to run as root), and stopped with the tests. Like Supabase's pooler on port 6543 it hands
each transaction to whichever server connection is free, and it refuses startup parameters it does
not know (`options`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import make_conninfo

from selfheal.core.embedded import SUPERUSER, EmbeddedPostgres, system_user

READY_SECONDS = 30
# Server connections per database and user: the lock holder of an ETL load or a migration keeps
# one for as long as it works, the work itself needs others.
POOL_SIZE = 4


def find_pgbouncer() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(folder: Path, server: EmbeddedPostgres, port: int) -> str:
    return f"""[databases]
* = host={server.host} port={server.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = 200
server_reset_query =
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""


@dataclass
class PgBouncer:
    process: subprocess.Popen
    folder: Path
    port: int
    host: str = "127.0.0.1"

    def dsn(self, dbname: str, user: str = SUPERUSER) -> str:
        return make_conninfo(host=self.host, port=self.port, user=user, dbname=dbname)

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_pgbouncer(binary: str, server: EmbeddedPostgres, users: list[str]) -> PgBouncer:
    """PgBouncer in transaction mode before `server`, letting in `users` (trust, loopback only)."""
    folder = Path(tempfile.mkdtemp(prefix="selfheal-pgbouncer-"))
    port = _free_port()
    (folder / "pgbouncer.ini").write_text(_config(folder, server, port))
    (folder / "users.txt").write_text("".join(f'"{user}" ""\n' for user in users))
    command = [binary, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        account = system_user()
        for path in (folder, *folder.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
        command[1:1] = ["-u", account.pw_name]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    bouncer = PgBouncer(process, folder, port)
    _wait_until_listening(bouncer)
    return bouncer


def _wait_until_listening(bouncer: PgBouncer) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if bouncer.process.poll() is not None:
            reason = (
                bouncer.process.stderr.read().decode(errors="replace")
                if bouncer.process.stderr
                else ""
            )
            raise RuntimeError(f"pgbouncer exited at start: {reason or bouncer.log()}")
        try:
            socket.create_connection((bouncer.host, bouncer.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    bouncer.stop()
    raise RuntimeError(f"pgbouncer did not listen on port {bouncer.port} in {READY_SECONDS}s")
