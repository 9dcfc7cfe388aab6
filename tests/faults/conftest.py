"""The fault catalog's harness: the real pipeline (`checks/`) run as a user runs it.

Each run is a fresh `pytest` process in the project root, in live mode against the test's own
database (`SUPABASE_DB_URL`), with its reports and backlog in the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from etl.fake import FakeSources
from selfheal.core.settings import Settings
from selfheal.run.tickets import Ticket, load_tickets
from tests.faults.accounting import FATE, Aftermath, Fate, figures, read

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Pipeline:
    """Runs the pipeline (or `selfheal`) on one database; every run shares reports and backlog."""

    workdir: Path
    env: dict[str, str]

    @property
    def backlog(self) -> Path:
        return self.workdir / "backlog"

    def run(self, dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
        html = f"--html={self.workdir / 'report.html'}"
        return self._run(
            dsn, [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", html, *args]
        )

    def doctor(self, dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run(dsn, [sys.executable, "-m", "selfheal", "doctor", *args])

    def _run(self, dsn: str, command: list[str]) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "SUPABASE_DB_URL": dsn}
        return subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    def tickets(self, status: str | None = None) -> list[Ticket]:
        return [t for t in load_tickets(self.backlog) if status in (None, t.status)]

    def summary(self) -> str:
        return next((self.workdir / "reports" / "exec").glob("run_summary_*.md")).read_text()

    def last_run(self) -> dict:
        return json.loads((self.workdir / "reports" / "exec" / "last_run.json").read_text())

    def produced_text(self) -> str:
        files = [
            p
            for p in self.workdir.rglob("*")
            if p.is_file() and p.suffix in (".md", ".json", ".html")
        ]
        return "".join(p.read_text(errors="replace") for p in files)

    def load_then_break(self, dsn: str, faults: list[str]) -> None:
        """Load the sources the runs use (the ETL stage), then run each fault's statement."""
        loaded = self.run(dsn, "-m", "etl")
        assert loaded.returncode == 0, loaded.stdout[-3000:]
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in faults:
                conn.execute(statement)

    def use_sources(self, fakes: FakeSources) -> None:
        """Point the runs' ETL at these fake sources (as a live deployment's variables would)."""
        settings = fakes.configure(Settings())
        self.env |= {
            "SOURCE_A_BASE_URL": settings.source_a_base_url,
            "SOURCE_B_BASE_URL": settings.source_b_base_url,
            "EVENTS_BASE_URL": settings.events_base_url,
            "GENERIC_SOURCE_A_TOKEN": settings.source_a_token.reveal(),
            "GENERIC_SOURCE_B_TOKEN": settings.source_b_token.reveal(),
            "EVENTS_SOURCE_TOKEN": settings.events_token.reveal(),
        }


def make_pipeline(workdir: Path) -> Pipeline:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "SLACK_"))}
    env |= {
        "SELFHEAL_REPORTS_DIR": str(workdir / "reports"),
        "SELFHEAL_BACKLOG_DIR": str(workdir / "backlog"),
        "SELFHEAL_CONNECT_TIMEOUT": "2",
    }
    return Pipeline(workdir, env)


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return make_pipeline(tmp_path)


_FOUND: list[Fate | Aftermath] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each fault's fate (on the xdist controller too: user properties travel)."""
    if report.when == "call":
        _FOUND.extend(read(value) for name, value in report.user_properties if name == FATE)


def pytest_terminal_summary(terminalreporter) -> None:
    if _FOUND:
        terminalreporter.write_line(figures(_FOUND))
