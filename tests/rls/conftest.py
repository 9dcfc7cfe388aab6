"""Helpers of the RLS tests: snapshots and statements on a per-test database, and the checks
run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from selfheal.catalog import CatalogSnapshot, snapshot
from selfheal.core.db import connect


@pytest.fixture
def execute():
    def run(dsn: str, statement: str) -> None:
        with connect(dsn, autocommit=True) as conn:
            conn.execute(statement)

    return run


@pytest.fixture
def snapshot_of():
    def take(dsn: str) -> CatalogSnapshot:
        with connect(dsn, read_only=True, autocommit=True) as conn:
            return snapshot(conn)

    return take


ROOT = Path(__file__).resolve().parents[2]


def run_checks(dsn: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`pytest *args` in the project root, in live mode against `dsn` (no other target or
    setting of the caller's), reports and backlog in `workdir`, no history."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "SELFHEAL_"))}
    env |= {
        "SUPABASE_DB_URL": dsn,
        "SELFHEAL_REPORTS_DIR": str(workdir),
        "SELFHEAL_BACKLOG_DIR": str(workdir / "backlog"),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-history"]
    return subprocess.run(
        [*command, f"--html={workdir / 'report.html'}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
