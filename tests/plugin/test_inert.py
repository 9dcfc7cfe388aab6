"""The plugin loads in every pytest session, so in a project that has not configured selfheal
(no stage markers, no migrations, no selfheal fixture used) it must write nothing at all."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

UNRELATED_TESTS = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("this project's own fixture is broken")

def test_passes():
    assert 1 + 1 == 2

def test_fails():
    assert [1, 2] == [1, 3]

def test_setup_fails(broken):
    pass

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
"""


def _files(root: Path) -> set[Path]:
    """The project's files, less pytester's own (the subprocess's output and its basetemp)."""
    return {
        path.relative_to(root)
        for path in root.rglob("*")
        if "__pycache__" not in path.parts
        and path.relative_to(root).parts[0] not in ("stdout", "stderr")
        and not path.relative_to(root).parts[0].startswith("runpytest-")
    }


@pytest.fixture
def unrelated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with tests of its own, no selfheal configuration, and a temp folder of its own."""
    pytester.makepyfile(test_unrelated=UNRELATED_TESTS)
    scratch = pytester.mkdir("scratch-tmp")
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    for name in ("SUPABASE_DB_URL", "SELFHEAL_REPORTS_DIR", "SELFHEAL_BACKLOG_DIR"):
        monkeypatch.delenv(name, raising=False)
    return pytester


def test_the_plugin_is_loaded_there(unrelated: pytest.Pytester) -> None:
    result = unrelated.runpytest("-p", "no:cacheprovider", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.preflight: *", "@pytest.mark.doctor: *"])
    help_text = unrelated.runpytest("-p", "no:cacheprovider", "--help").stdout.str()
    assert "--selfheal-heal" in help_text and "--selfheal-no-tickets" in help_text


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_an_unconfigured_project_gets_no_file(
    unrelated: pytest.Pytester, workers: list[str]
) -> None:
    before = _files(unrelated.path)
    result = unrelated.runpytest_subprocess("-p", "no:cacheprovider", *workers)
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1)
    assert _files(unrelated.path) == before
    result.stdout.no_fnmatch_line("*= selfheal =*")  # no summary section ...
    result.stdout.no_fnmatch_line("wrote *")  # ... and no file written


def test_in_process_nothing_is_left_in_the_temp_folder(unrelated: pytest.Pytester) -> None:
    before = _files(unrelated.path)
    unrelated.runpytest("-p", "no:cacheprovider").assert_outcomes(
        passed=1, failed=1, errors=1, skipped=1
    )
    assert _files(unrelated.path) == before
