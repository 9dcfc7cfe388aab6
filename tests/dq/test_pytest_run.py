"""`pytest -m dq` end to end, in a subprocess against a test database (SUPABASE_DB_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.dq.conftest import execute

ROOT = Path(__file__).resolve().parents[2]

RULES = """table = "t"
[not_null]
columns = ["k", "n"]
[accepted_values]
column = "name"
values = ["x"]
severity = "warn"
[row_count]
min = 1
"""
CUSTOM = "-- name: big\n-- table: t\nSELECT id, n FROM t WHERE n > 8\n"


def run_dq(tmp_path: Path, dsn: str, rules: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "dq").mkdir(exist_ok=True)
    (tmp_path / "sql").mkdir(exist_ok=True)
    (tmp_path / "dq" / "t.toml").write_text(rules)
    (tmp_path / "sql" / "big.sql").write_text(CUSTOM)
    env = {
        **os.environ,
        "SUPABASE_DB_URL": dsn,
        "SELFHEAL_DQ_DIR": str(tmp_path / "dq"),
        "SELFHEAL_DQ_SQL_DIR": str(tmp_path / "sql"),
        "SELFHEAL_REPORTS_DIR": str(tmp_path / "reports"),
        "SELFHEAL_BACKLOG_DIR": str(tmp_path / "backlog"),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "checks/test_dq.py",
        "-m",
        "dq",
        "-p",
        "no:cacheprovider",
        f"--html={tmp_path / 'report.html'}",
        f"--junitxml={tmp_path / 'junit.xml'}",
        *args,
    ]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def loaded_db(scratch_db: str) -> str:
    execute(
        scratch_db,
        "INSERT INTO t (id, k, n, name) SELECT i, 'k' || i, i, 'x' FROM generate_series(1, 10) i",
    )
    execute(scratch_db, "UPDATE t SET k = NULL WHERE id IN (3, 4)")
    execute(scratch_db, "UPDATE t SET name = 'y' WHERE id = 5")
    return scratch_db


def properties(tmp_path: Path) -> dict[str, dict[str, str]]:
    """junit user properties per test id (the evidence handed to the plugin)."""
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    return {
        case.get("name", "").removeprefix("test_dq[").removesuffix("]"): {
            prop.get("name"): prop.get("value") for prop in case.iter("property")
        }
        for case in cases
    }


def test_failing_rows_in_terminal_report_and_evidence(tmp_path: Path, loaded_db: str) -> None:
    run = run_dq(tmp_path, loaded_db, RULES)
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert "FAILED checks/test_dq.py::test_dq[t.not_null.k]" in out
    assert "FAILED checks/test_dq.py::test_dq[t.sql.big]" in out
    assert "2 failed, 3 passed" in out
    assert "id | k" in out and "3  | NULL" in out  # the sample, as a table
    assert "t.accepted_values.name: 1 of 10 rows" in out  # the warning, in the summary
    assert "Traceback" not in out

    html = (tmp_path / "report.html").read_text()  # the evidence travels escaped, in a data blob
    assert "selfheal-rows" in html and "2 of 10 rows (20.00%) have k NULL" in html

    evidence = properties(tmp_path)
    assert "'samples'" in evidence["t.not_null.k"]["selfheal.problem"]
    assert "'id': 3" in evidence["t.not_null.k"]["selfheal.problem"]
    assert "'code': 'dq.not_null'" in evidence["t.not_null.k"]["selfheal.problem"]
    assert "'seconds'" in evidence["t.not_null.n"]["selfheal.queries"]
    assert "selfheal.warning" in evidence["t.accepted_values.name"]


def test_k_selection_scans_only_the_selected_rules(tmp_path: Path, loaded_db: str) -> None:
    run = run_dq(tmp_path, loaded_db, RULES, "-k", "t.not_null.n")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 4 deselected" in run.stdout
    queries = properties(tmp_path)["t.not_null.n"]["selfheal.queries"]
    assert '\\"n\\" IS NULL' in queries or '"n" IS NULL' in queries
    assert '"k" IS NULL' not in queries and "ALL(" not in queries


def test_a_bad_rule_file_is_one_failing_test_and_every_other_file_still_runs(
    tmp_path: Path, loaded_db: str
) -> None:
    rules = 'table = "t"\n[freshness]\ncolumn = "ts"\nwarn_after = "a day"\n'
    run = run_dq(tmp_path, loaded_db, rules)
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert "FAILED checks/test_dq.py::test_dq[t.toml]" in out
    assert f"{tmp_path / 'dq' / 't.toml'}: table t: freshness.warn_after: bad duration" in out
    assert "FAILED checks/test_dq.py::test_dq[t.sql.big]" in out  # the SQL file's check ran
    assert "2 failed" in out and "error" not in out.splitlines()[-1]
    assert "Traceback" not in out and "During handling" not in out


def test_unknown_column_is_a_clear_failure(tmp_path: Path, loaded_db: str) -> None:
    rules = 'table = "t"\n[not_null]\ncolumns = ["k", "kay"]\n'
    run = run_dq(tmp_path, loaded_db, rules, "-k", "not_null")
    assert run.returncode == 1
    assert "table t: not_null: unknown column 'kay'" in run.stdout
    assert "2 failed, 1 deselected" in run.stdout
    assert "t.not_null.k: 2 of 10 rows" in run.stdout  # the table's other rule still ran
