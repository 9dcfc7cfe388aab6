"""The embedded default as one persistent cluster: shared, started once, stopped by its last user,
indifferent to a stale postmaster.pid, and removed by `make clean-db`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from selfheal.core.cluster import ClusterError, _running_port, remove_cluster, shared_cluster

HOLD = """
import sys, time
from pathlib import Path
from selfheal.core.cluster import shared_cluster
with shared_cluster(Path(sys.argv[1])) as cluster:
    print(cluster.port, flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holders(folder: Path, seconds: float, count: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "-c", HOLD, str(folder), str(seconds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def test_concurrent_commands_share_one_server_that_stops_after_the_last(
    throwaway_embedded_default: Path,
) -> None:
    holders = _holders(throwaway_embedded_default, 3, 3)
    ports = set()
    for holder in holders:
        out, err = holder.communicate(timeout=180)
        assert holder.returncode == 0, err
        ports.add(int(out.split()[0]))
    assert len(ports) == 1, "three processes starting at once share one server"
    assert _running_port(throwaway_embedded_default) is None, "the last user stopped it"


def test_data_persists_between_uses(throwaway_embedded_default: Path) -> None:
    with (
        shared_cluster(throwaway_embedded_default) as cluster,
        psycopg.connect(cluster.dsn(), autocommit=True) as conn,
    ):
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    with (
        shared_cluster(throwaway_embedded_default) as cluster,
        psycopg.connect(cluster.dsn()) as conn,
    ):
        assert conn.execute("SELECT n FROM kept").fetchone() == (42,)


def test_a_stale_postmaster_pid_is_removed_and_the_server_starts(
    throwaway_embedded_default: Path,
) -> None:
    with shared_cluster(throwaway_embedded_default):
        pass
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid_file = throwaway_embedded_default / "data" / "postmaster.pid"
    pid_file.write_text(f"{dead.stdout.strip()}\n/x\n1\n5999\n")
    with (
        shared_cluster(throwaway_embedded_default) as cluster,
        psycopg.connect(cluster.dsn()) as conn,
    ):
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_clean_db_removes_the_cluster_but_not_while_in_use(
    throwaway_embedded_default: Path,
) -> None:
    with shared_cluster(throwaway_embedded_default), pytest.raises(ClusterError, match="in use"):
        remove_cluster(throwaway_embedded_default)
    assert "removed" in remove_cluster(throwaway_embedded_default)
    assert not throwaway_embedded_default.exists()
