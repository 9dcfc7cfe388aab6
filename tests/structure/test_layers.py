"""The layers of docs/ARCHITECTURE.md hold: a lower layer never imports a higher one.

The contracts live in pyproject.toml ([tool.importlinter]); `lint-imports` checks them over the
import graph of selfheal and etl. The same contracts are shown to fail on a copy of the packages
with one deliberate violation each, so the check cannot pass by checking nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on `project`'s pyproject.toml, its packages first on the path."""
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(project / "pyproject.toml")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_packages_keep_their_layers() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def copy_of_project(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("selfheal", "etl"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


VIOLATIONS = {
    "core imports the doctor": (
        "selfheal/core/db.py",
        "from selfheal.doctor import Doctor",
        "selfheal depends one way",
    ),
    "an engine imports the run's records": (
        "selfheal/health/model.py",
        "from selfheal.run.tickets import load_tickets",
        "selfheal depends one way",
    ),
    "etl imports an engine": (
        "etl/jobs.py",
        "from selfheal.migrate.runner import prepare_database",
        "etl depends on selfheal.core only",
    ),
    "the doctor imports etl": (
        "selfheal/doctor/remedies.py",
        "from etl import jobs",
        "nothing imports etl",
    ),
    "two engines import each other": (
        "selfheal/migrate/files.py",
        "from selfheal.schema.lock import read_lock",
        "no cycles",
    ),
}


@pytest.mark.parametrize("violation", VIOLATIONS.values(), ids=VIOLATIONS.keys())
def test_a_deliberate_violation_breaks_a_contract(
    copy_of_project: Path, violation: tuple[str, str, str]
) -> None:
    module, statement, contract = violation
    path = copy_of_project / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{statement}\n", encoding="utf-8")
    result = lint_imports(copy_of_project)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
