"""A healthy database (migrated, freshly loaded, analyzed, no other sessions) has no finding
in any part, and every check says what it examined."""

from __future__ import annotations

import pytest

from selfheal.health.audit import CHECKS, check_by_id
from selfheal.health.model import PARTS

from .conftest import load_fresh_data

TICKET_CHECKS = {"feedback_loops:reopened_ticket", "feedback_loops:flapping_check"}


def test_every_part_has_checks():
    assert {check.part for check in CHECKS} == set(PARTS)
    assert len({check.id for check in CHECKS}) == len(CHECKS)


def test_unknown_check_is_named():
    with pytest.raises(KeyError, match="no health check 'nope:nothing'"):
        check_by_id("nope:nothing")


@pytest.mark.parametrize("check_id", [check.id for check in CHECKS])
def test_clean_database_has_no_findings(check_id, audit, writer):
    if check_id in TICKET_CHECKS:
        pytest.importorskip("selfheal.tickets")
    load_fresh_data(writer)
    result = audit(check_id)
    assert result.findings == []
    assert result.examined
