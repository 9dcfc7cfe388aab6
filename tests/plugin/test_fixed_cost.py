"""What every `pytest -m dq` pays before its first rule (bench/bench_dq.py --fixed-cost): the
import-time objects are frozen for the garbage collector, and hypothesis (its plugin's terminal
summary imports all of it) is not loaded by a session whose checks do not use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import gc, json, os, sys

def pytest_unconfigure(config):
    seen = {
        "frozen": gc.get_freeze_count(),
        "hypothesis imported": "hypothesis" in sys.modules,
        "hypothesis plugin": config.pluginmanager.get_plugin("hypothesispytest") is not None,
    }
    with open(os.environ["PROBE_OUT"], "w") as handle:
        json.dump(seen, handle)
"""


def _session(tmp_path: Path, *args: str) -> dict[str, object]:
    """A pytest process on the project's checks, no target (live or embedded) configured."""
    (tmp_path / "probe.py").write_text(PROBE)
    for folder in ("rules", "sql"):
        (tmp_path / folder).mkdir(exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if k != "SUPABASE_DB_URL"}
    env = {
        **environ,
        "PYTHONPATH": str(tmp_path),
        "PROBE_OUT": str(tmp_path / "probe.json"),
        "SELFHEAL_DQ_DIR": str(tmp_path / "rules"),
        "SELFHEAL_DQ_SQL_DIR": str(tmp_path / "sql"),
        "SELFHEAL_REPORTS_DIR": str(tmp_path / "reports"),
        "SELFHEAL_BACKLOG_DIR": str(tmp_path / "backlog"),
        "SELFHEAL_EMBEDDED_DIR": str(tmp_path / "db"),
    }
    command = [sys.executable, "-m", "pytest", "-p", "probe", "-p", "no:cacheprovider"]
    command += ["--no-tickets", "--no-history", f"--html={tmp_path / 'report.html'}", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode in (0, 5), done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads((tmp_path / "probe.json").read_text())


def test_dq_on_no_rules_loads_no_hypothesis_and_freezes_imports(tmp_path: Path) -> None:
    seen = _session(tmp_path, "-m", "dq")
    assert seen == {
        "frozen": seen["frozen"],
        "hypothesis imported": False,
        "hypothesis plugin": False,
    }
    assert seen["frozen"] > 10_000  # pytest, its plugins and psycopg at least


@pytest.mark.parametrize("option", [[], ["--hypothesis-show-statistics"]])
def test_hypothesis_plugin_stays_where_it_has_something_to_say(
    tmp_path: Path, option: list[str]
) -> None:
    """A session that imported hypothesis (the RLS claims checks use it), or that asked for its
    statistics, keeps its plugin."""
    args = ["checks/test_rls.py", "--collect-only", "-q"] if not option else ["-m", "dq", *option]
    assert _session(tmp_path, *args)["hypothesis plugin"] is True
