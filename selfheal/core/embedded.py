"""The embedded default: a local PostgreSQL server started with pytest-postgresql's executor.

`initdb` and `pg_ctl` refuse to run as root. When we are root, the server binaries run as an
unprivileged system user (`postgres` where the distribution created it, else `selfheal-pg`)
through a small `runuser` wrapper, and the data directory belongs to that user.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import hashlib
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import port_for
import psutil
import psycopg
from mirakuru import base as mirakuru_base
from psycopg.conninfo import make_conninfo
from pytest_postgresql.executors import PostgreSQLExecutor

SUPERUSER = "postgres"
FALLBACK_SYSTEM_USER = "selfheal-pg"
# Durability is pointless for a throwaway server; these make it several times faster.
THROWAWAY_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
READY_SECONDS = 60
log = logging.getLogger(__name__)
SERVER_OPTIONS = "-c max_connections=200 -c shared_preload_libraries=pg_stat_statements"


class ServerBinariesMissing(RuntimeError):
    pass


def _kill_own_leftovers() -> None:
    """At exit, kill the servers this process started and left running, and only those.

    mirakuru (under pytest-postgresql's executor) marks each server with the variable
    `mirakuru_uuid=<pid>:<uuid>`, and its own exit hook kills every process whose marker merely
    *contains* the exiting pid: a process with pid 243 ends the servers of pid 12430, or any
    whose uuid holds "243", in any other session on the machine. Here the marker must start
    with this pid.
    """
    prefix = f"{os.getpid()}:"
    for process in psutil.process_iter(["environ"]):
        marker = (process.info.get("environ") or {}).get(mirakuru_base.ENV_UUID, "")
        if marker.startswith(prefix):
            with contextlib.suppress(psutil.Error):
                process.kill()


atexit.unregister(mirakuru_base.cleanup_subprocesses)
atexit.register(_kill_own_leftovers)


def find_pg_ctl() -> Path:
    """pg_ctl from PATH, else the newest Debian/Ubuntu server installation."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve()
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1])
    raise ServerBinariesMissing(
        "PostgreSQL server binaries not found (no pg_ctl on PATH or in /usr/lib/postgresql/*/bin); "
        "run `make setup` or `scripts/ensure-postgres.sh` to install them"
    )


def system_user() -> pwd.struct_passwd:
    """The unprivileged account the server runs as when we are root (created if needed)."""
    for name in (SUPERUSER, FALLBACK_SYSTEM_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_SYSTEM_USER,
        ],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(FALLBACK_SYSTEM_USER)


def executable_for(base_dir: Path, pg_ctl: Path) -> Path:
    """pg_ctl itself, or as root a wrapper that runs it as the unprivileged user."""
    if os.geteuid() != 0:
        return pg_ctl
    account = system_user()
    os.chown(base_dir, account.pw_uid, account.pw_gid)
    wrapper = base_dir / "pg_ctl-as-user"
    wrapper.write_text(f'#!/bin/sh\nexec runuser -u {account.pw_name} -- "{pg_ctl}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


class _Executor(PostgreSQLExecutor):
    """Reuses an existing data directory, and leaves its removal to `EmbeddedPostgres.stop`."""

    def init_directory(self) -> None:
        if (Path(self.datadir) / "PG_VERSION").exists():
            self._directory_initialised = True
            return
        super().init_directory()

    def __del__(self) -> None:
        # The parent deletes the data directory on garbage collection, which would throw away
        # the command-line tools' persistent embedded database.
        pass


@dataclass
class EmbeddedPostgres:
    """A running local server; `dsn(dbname)` connects as the superuser over loopback TCP."""

    base_dir: Path
    port: int
    executor: PostgreSQLExecutor
    throwaway: bool
    host: str = "127.0.0.1"

    def dsn(self, dbname: str = "postgres") -> str:
        return make_conninfo(host=self.host, port=self.port, user=SUPERUSER, dbname=dbname)

    def stop(self) -> None:
        log.info("stopping the embedded server on port %s", self.port)
        self.executor.stop()
        if self.throwaway:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded(base_dir: Path | None = None, port: int | None = None) -> EmbeddedPostgres:
    """Start a server. Without `base_dir` it is throwaway: its files go when it stops."""
    throwaway = base_dir is None
    if base_dir is None:
        base_dir = Path(tempfile.mkdtemp(prefix="selfheal-pg-"))
    base_dir.mkdir(parents=True, exist_ok=True)
    pg_ctl = find_pg_ctl()
    port = port or port_for.select_random()
    options = f"{SERVER_OPTIONS} {THROWAWAY_OPTIONS}" if throwaway else SERVER_OPTIONS
    executor = _Executor(
        executable=str(executable_for(base_dir, pg_ctl)),
        host="127.0.0.1",
        port=port,
        datadir=str(base_dir / "data"),
        unixsocketdir=str(base_dir),
        logfile=str(base_dir / "server.log"),
        startparams="-w",
        dbname="postgres",
        user=SUPERUSER,
        postgres_options=options,
        timeout=120,
    )
    executor.start()
    server = EmbeddedPostgres(base_dir=base_dir, port=port, executor=executor, throwaway=throwaway)
    _wait_until_ready(server)
    log.info("embedded server %s on port %s, data in %s", pg_ctl.parent, port, base_dir)
    return server


def _wait_until_ready(server: EmbeddedPostgres, seconds: float = READY_SECONDS) -> None:
    """The port opens before recovery ends ("the database system is starting up") on a loaded
    machine: wait, boundedly, until a real session can start."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg.connect(server.dsn(), connect_timeout=5).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.2)


def persistent_dir(project_root: Path) -> Path:
    """Where the CLI keeps its embedded server's data between commands.

    Under the temp folder rather than the project, because as root the server's user must be able
    to reach it and a project under /root is not traversable by others.
    """
    digest = hashlib.sha256(str(project_root.resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"selfheal-embedded-{os.geteuid()}-{digest}"
