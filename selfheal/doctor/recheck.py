"""Re-run one failing check, in its own pytest process, against the healed database.

The process runs in live mode on the target's DSN (so the embedded default's throwaway database
is the one re-checked), writes its reports to a temporary folder, opens no ticket and sends no
message: the re-check is evidence for the running session, not a run of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

RECHECK_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Recheck:
    passed: bool
    summary: str  # pytest's last line, e.g. "1 passed in 0.12s"


def rerun(node_id: str, dsn: str, rootdir: Path) -> Recheck:
    with tempfile.TemporaryDirectory(prefix="selfheal-recheck-") as scratch:
        env = {k: v for k, v in os.environ.items() if k != "SLACK_WEBHOOK_URL"}
        env |= {
            "SUPABASE_DB_URL": dsn,
            "SELFHEAL_REPORTS_DIR": str(Path(scratch) / "reports"),
            "SELFHEAL_BACKLOG_DIR": str(Path(scratch) / "backlog"),
        }
        command = [sys.executable, "-m", "pytest", node_id, "-q", "--no-tickets"]
        command += ["-p", "no:cacheprovider", f"--html={scratch}/recheck.html"]
        try:
            done = subprocess.run(
                command,
                cwd=rootdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=RECHECK_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            return Recheck(False, f"re-check timed out after {RECHECK_TIMEOUT_SECONDS}s")
    lines = done.stdout.strip().splitlines()
    return Recheck(done.returncode == 0, lines[-1].strip("= ") if lines else "no output")
