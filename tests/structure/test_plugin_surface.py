"""What the plugin gives a project by itself: its stage markers and its prefixed options."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CHECKS = """
import pytest

@pytest.mark.preflight
def test_env(request):
    assert request.config.getoption("heal") is HEAL
    assert request.config.getoption("no_tickets") is NO_TICKETS

@pytest.mark.dq
def test_rows():
    pass
"""


@pytest.mark.parametrize(
    ("options", "heal", "no_tickets"),
    [
        ([], False, False),
        (["--selfheal-heal", "--selfheal-no-tickets"], True, True),
        (["--heal", "--no-tickets"], True, True),  # the short forms stay as aliases
    ],
)
def test_stage_markers_are_registered_and_options_have_prefixed_names(
    pytester: pytest.Pytester, options: list[str], heal: bool, no_tickets: bool
) -> None:
    pytester.makeini("[pytest]\naddopts = --strict-markers\n")  # no markers declared here
    pytester.makepyfile(
        test_checks=CHECKS.replace("HEAL", str(heal)).replace("NO_TICKETS", str(no_tickets))
    )
    result = pytester.runpytest("-p", "no:cacheprovider", *options)
    result.assert_outcomes(passed=2)
