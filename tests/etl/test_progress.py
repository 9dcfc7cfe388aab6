"""The progress counter draws only on a terminal and never in CI."""

from __future__ import annotations

import io

import pytest

from etl.progress import Progress, wanted


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_and_clears_it():
    screen = Terminal()
    progress = Progress("events", enabled=True, stream=screen)
    progress(100)
    progress(250)
    progress.done()
    assert screen.getvalue() == "\revents: 100 rows read\revents: 250 rows read\r\033[K"


def test_progress_disabled_writes_nothing():
    screen = Terminal()
    progress = Progress("events", enabled=False, stream=screen)
    progress(100)
    progress.done()
    assert screen.getvalue() == ""


def test_wanted_only_on_a_terminal_outside_ci(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CI", raising=False)
    assert wanted(Terminal()) and not wanted(io.StringIO())
    monkeypatch.setenv("CI", "true")
    assert not wanted(Terminal())
