"""What the plugin gives a project by itself: its stage markers and its prefixed options."""

from __future__ import annotations

from pathlib import Path

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


FOREIGN = """
def test_passes():
    pass

def test_fails():
    assert 1 == 2
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_a_project_without_selfheal_gets_no_files(pytester: pytest.Pytester, xdist: list[str]):
    """The plugin loads in every project with selfheal installed: one that uses none of its
    stages, fixtures or evidence finds nothing written (no reports/, no backlog/)."""
    pytester.makepyfile(test_foreign=FOREIGN)
    before = project_files(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *xdist)
    result.assert_outcomes(passed=1, failed=1)
    assert project_files(pytester) == before


def project_files(pytester: pytest.Pytester) -> list[str]:
    """Every file and folder of the project but Python's bytecode cache and pytester's own
    (`runpytest-N` temporary folders, the `stdout` and `stderr` of the subprocess)."""
    return sorted(
        str(path.relative_to(pytester.path))
        for path in pytester.path.rglob("*")
        if "__pycache__" not in path.parts and not _pytesters(path.relative_to(pytester.path))
    )


def _pytesters(relative: Path) -> bool:
    top = relative.parts[0]
    return top in ("stdout", "stderr") or top.startswith("runpytest-")
