"""A selfheal pytest session in a subprocess, as a user runs it, and probes of the page it wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Finished:
    """A finished session: its exit code, its output and the folder of its reports."""

    returncode: int
    output: str
    reports: Path

    @property
    def html(self) -> Path:
        return self.reports / "report.html"


def selfheal_session(reports: Path, *args: str, **env: str) -> Finished:
    """`pytest *args` in the project writing report.html into `reports` (tickets beside it);
    `env` overrides the environment (SUPABASE_DB_URL for live mode)."""
    environ = {
        **os.environ,
        "SELFHEAL_REPORTS_DIR": str(reports),
        "SELFHEAL_BACKLOG_DIR": str(reports.parent / "backlog"),
        "SLACK_WEBHOOK_URL": "",  # empty wins over a developer's .env: no notification
        **env,
    }
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    html = [f"--html={reports / 'report.html'}", "--self-contained-html"]
    result = subprocess.run(
        [*command, *html, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300
    )
    return Finished(result.returncode, result.stdout + result.stderr, reports)


def with_probe(page: Path, script: str) -> Path:
    """A copy of `page` (beside it, so its relative links still resolve) running `script` once
    the page's own scripts have run: the script writes what it measured into the DOM."""
    probed = page.with_name(f"probe-{page.name}")
    listener = f"<script>document.addEventListener('DOMContentLoaded', () => {{{script}}})</script>"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", listener + "</body>"))
    return probed
