"""The embedded default: one persistent local PostgreSQL cluster per project, shared by every command.

`make run`, `pytest`, `pytest -k ...`, `python -m etl ...` and `selfheal ...` all open the same
cluster (`SELFHEAL_EMBEDDED_DIR`, `.selfheal/db` by default), so a check debugged alone sees the
data the full run saw. The cluster is created on first use, started by whichever command needs
it first and stopped when its last user leaves:

- `start.lock` (exclusive) serialises starting and stopping, so two processes never start it
  twice, and one never stops it under another that is starting to use it;
- `users.lock` is held shared by every process using it; the one leaving that can take it
  exclusively was the last user, and stops the server.

A stale `postmaster.pid` (a server killed without cleaning up) is recognised and removed before
the server starts. The server binaries run as an unprivileged user when we are root (see
embedded.py); a data folder that user cannot reach (a project under /root) moves to the temp
folder, keyed by the project's path.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import port_for
import psycopg
from psycopg.conninfo import make_conninfo

from selfheal.core.embedded import (
    READY_SECONDS,
    SERVER_OPTIONS,
    SUPERUSER,
    executable_for,
    find_pg_ctl,
    persistent_dir,
    system_user,
)

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
PID_FILE = "postmaster.pid"
PID_FILE_PORT_LINE = 3  # the fourth line of postmaster.pid is the port


class ClusterError(RuntimeError):
    """The embedded cluster cannot be started; the message says why and where its log is."""


def reachable_by_server_user(path: Path) -> bool:
    """As root, the server's unprivileged user must be able to traverse every parent folder."""
    if os.geteuid() != 0:
        return True
    account = system_user()
    for parent in path.resolve().parents:
        if not parent.exists():
            continue
        mode = parent.stat().st_mode
        if parent.stat().st_uid != account.pw_uid and not mode & 0o001:
            return False
    return True


def cluster_dir(configured: Path) -> Path:
    """Where the cluster lives: the configured folder, or the temp folder's stand-in for it."""
    if reachable_by_server_user(configured):
        return configured
    fallback = persistent_dir(configured)
    log.info(
        "%s is not reachable by the server's user: the cluster lives in %s", configured, fallback
    )
    return fallback


class Cluster:
    """A running shared cluster; `dsn(dbname)` connects as the superuser over loopback TCP."""

    def __init__(self, base_dir: Path, port: int):
        self.base_dir = base_dir
        self.port = port

    def dsn(self, dbname: str = "postgres") -> str:
        return make_conninfo(host=HOST, port=self.port, user=SUPERUSER, dbname=dbname)


def _pg_ctl(base_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    executable = executable_for(base_dir, find_pg_ctl())
    return subprocess.run(
        [str(executable), *args, "-D", str(base_dir / "data")],
        capture_output=True,
        text=True,
        timeout=READY_SECONDS * 2,
    )


def _initialise(base_dir: Path) -> None:
    if (base_dir / "data" / "PG_VERSION").exists():
        return
    log.info("creating the embedded cluster in %s", base_dir)
    done = _pg_ctl(base_dir, "initdb", "-o", f"--username={SUPERUSER} --auth=trust -E UTF8")
    if done.returncode != 0:
        raise ClusterError(f"initdb failed in {base_dir}: {done.stderr.strip() or done.stdout}")


def _running_port(base_dir: Path) -> int | None:
    """The port of a live server of this cluster; a stale postmaster.pid is removed."""
    pid_file = base_dir / "data" / PID_FILE
    try:
        lines = pid_file.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[PID_FILE_PORT_LINE])
    except (OSError, ValueError, IndexError):
        return None
    if _is_postmaster(pid):
        return port
    log.warning("removing the stale %s of %s (process %s is gone)", PID_FILE, base_dir, pid)
    pid_file.unlink(missing_ok=True)
    return None


def _is_postmaster(pid: int) -> bool:
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return name.startswith("postgres")


def _start(base_dir: Path) -> int:
    port = port_for.select_random()
    options = f"-p {port} -h {HOST} -c unix_socket_directories='' {SERVER_OPTIONS}"
    log_file = base_dir / "server.log"
    done = _pg_ctl(
        base_dir, "start", "-w", "-t", str(READY_SECONDS), "-l", str(log_file), "-o", options
    )
    if done.returncode != 0:
        raise ClusterError(
            f"the embedded cluster in {base_dir} did not start: "
            f"{done.stderr.strip() or done.stdout.strip()} (see {log_file})"
        )
    log.info("embedded cluster started on port %s, data in %s", port, base_dir)
    return port


def _wait_until_ready(cluster: Cluster) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while True:
        try:
            psycopg.connect(cluster.dsn(), connect_timeout=5).close()
            return
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"the embedded cluster on port {cluster.port} does not answer: {error}"
                ) from None
            time.sleep(0.2)


@contextmanager
def _locked(path: Path, mode: int) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def shared_cluster(configured: Path) -> Iterator[Cluster]:
    """Use the project's cluster for the `with` block: started if needed, stopped by its last user."""
    base_dir = cluster_dir(configured)
    base_dir.mkdir(parents=True, exist_ok=True)
    users = open(base_dir / "users.lock", "a")  # noqa: SIM115 - held for the whole block
    try:
        with _locked(base_dir / "start.lock", fcntl.LOCK_EX):
            _initialise(base_dir)
            port = _running_port(base_dir) or _start(base_dir)
            fcntl.flock(users, fcntl.LOCK_SH)
        cluster = Cluster(base_dir, port)
        _wait_until_ready(cluster)
        yield cluster
    finally:
        users.close()  # releases this process's share
        _stop_if_last(base_dir)


@contextmanager
def _sole_user(base_dir: Path) -> Iterator[bool]:
    """Hold the start lock and try for every user's share: True when no other process uses
    the cluster (it may then be stopped), False while one does."""
    with (
        _locked(base_dir / "start.lock", fcntl.LOCK_EX),
        open(base_dir / "users.lock", "a") as users,
    ):
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(users, fcntl.LOCK_UN)


def _stop_if_last(base_dir: Path) -> None:
    with _sole_user(base_dir) as alone:
        if alone and _running_port(base_dir) is not None:
            done = _pg_ctl(base_dir, "stop", "-w", "-m", "fast")
            if done.returncode != 0:
                log.warning(
                    "the embedded cluster in %s did not stop: %s", base_dir, done.stderr.strip()
                )


def remove_cluster(configured: Path) -> str:
    """Stop the cluster and delete its data (`make clean-db`); refused while a command uses it."""
    base_dir = cluster_dir(configured)
    if not base_dir.exists():
        return f"no embedded cluster in {base_dir}"
    with _sole_user(base_dir) as alone:
        if not alone:
            raise ClusterError(f"the embedded cluster in {base_dir} is in use; try again after")
        if _running_port(base_dir) is not None:
            _pg_ctl(base_dir, "stop", "-w", "-m", "fast")
        shutil.rmtree(base_dir)
    return f"removed the embedded cluster in {base_dir}"


if __name__ == "__main__":
    import sys

    from selfheal.core.settings import Settings

    try:
        print(remove_cluster(Settings.from_env().embedded_dir))
    except ClusterError as error:
        print(error, file=sys.stderr)
        sys.exit(1)
