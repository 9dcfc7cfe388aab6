"""A pytester project of two checks, one of which fails on demand (FAIL_DQ=1)."""

from __future__ import annotations

import pytest

CHECKS = """
import os, pytest

@pytest.mark.dq
def test_rows():
    assert os.environ.get("FAIL_DQ") != "1", "2 rows fail the rule"

@pytest.mark.schema
def test_schema():
    pass
"""


@pytest.fixture
def checks(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makepyfile(test_checks=CHECKS)
    monkeypatch.delenv("SELFHEAL_HISTORY_DSN", raising=False)
    return pytester
