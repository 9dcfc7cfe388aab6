"""Each check of the audit is one test a user can address with `-k`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _collect(*args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        (
            "fk_without_index",
            ["checks/test_health.py::test_health[constraint_propagation:fk_without_index]"],
        ),
        ("multi_agent_coherence", 5),
        ("socio_technical_alignment", 2),
    ],
)
def test_a_check_or_a_part_is_addressable(keyword, expected):
    selected = _collect("-m", "health", "-k", keyword)
    assert selected == expected if isinstance(expected, list) else len(selected) == expected
