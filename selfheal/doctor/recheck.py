"""Re-run failing checks, in one pytest process, against the healed database.

The process runs in live mode on the target's DSN (so the embedded default's throwaway database
is the one re-checked), writes its reports to a temporary folder, opens no ticket and sends no
message: the re-check is evidence for the running session, not a run of its own. Each check's
outcome is read back from that run's `last_run.json`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from selfheal.run.problem import Problem
from selfheal.run.reporting import Outcome
from selfheal.run.summary import read_last_run

RECHECK_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Recheck:
    passed: bool
    summary: str  # e.g. "passed", "failed: <message>"
    complete: bool = False  # the check reached its own verdict
    problems: tuple[Problem, ...] = ()  # the problems it still fails on

    def clears(self, identity: tuple[str, str]) -> bool:
        """The check no longer finds this problem (it may fail on another: a constraint put
        back NOT VALID, whose old rows violate it, is a new problem, not this one)."""
        return self.passed or (self.complete and all(p.identity != identity for p in self.problems))


def rerun(node_ids: list[str], dsn: str, rootdir: Path) -> dict[str, Recheck]:
    with tempfile.TemporaryDirectory(prefix="selfheal-recheck-") as scratch:
        reports = Path(scratch) / "reports"
        env = {k: v for k, v in os.environ.items() if k != "SLACK_WEBHOOK_URL"}
        env |= {
            "SUPABASE_DB_URL": dsn,
            "SELFHEAL_REPORTS_DIR": str(reports),
            "SELFHEAL_BACKLOG_DIR": str(Path(scratch) / "backlog"),
        }
        command = [sys.executable, "-m", "pytest", *node_ids, "-q", "--no-tickets", "--no-history"]
        command += ["-p", "no:cacheprovider", f"--html={scratch}/recheck.html"]
        try:
            subprocess.run(
                command,
                cwd=rootdir,
                env=env,
                capture_output=True,
                timeout=RECHECK_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            timed_out = Recheck(False, f"timed out after {RECHECK_TIMEOUT_SECONDS}s")
            return dict.fromkeys(node_ids, timed_out)
        outcomes = {o.nodeid: o for o in read_last_run(reports)}
    return {node: _recheck(outcomes.get(node)) for node in node_ids}


def _recheck(outcome: Outcome | None) -> Recheck:
    if outcome is None:
        return Recheck(False, "did not run")
    if outcome.outcome == "passed":
        return Recheck(True, "passed", complete=True)
    summary = f"{outcome.outcome}: {outcome.message}".rstrip(": ")
    return Recheck(False, summary, outcome.complete, tuple(outcome.failing_problems))
