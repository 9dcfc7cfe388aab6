"""Headless Debian Chromium: load a page, return its rendered DOM and its console output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
# Chromium logs every console message (and uncaught exception) of the page on stderr like
# `[...:INFO:CONSOLE:12] "message", source: file:///... (12)`, whatever its level.
CONSOLE = re.compile(r":CONSOLE(?::|\()\d*\)?\]\s*(.*)")


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: list[str]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (scripts/ensure-chromium.sh installs it); CI must have it."""
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: run scripts/ensure-chromium.sh")
        pytest.skip("chromium is not installed (scripts/ensure-chromium.sh installs it)")
    return path


def _chromium(chromium: str, page: Path, *flags: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="selfheal-chromium-") as profile:
        result = subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={profile}", *flags, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.fixture
def render(chromium: str):
    """`render(page, *flags)`: the DOM after the page's scripts ran, and its console output."""

    def run(page: Path, *flags: str) -> Rendered:
        result = _chromium(chromium, page, *flags, "--dump-dom")
        console = [m.group(1) for line in result.stderr.splitlines() if (m := CONSOLE.search(line))]
        return Rendered(result.stdout, console)

    return run


@pytest.fixture
def screenshot(chromium: str):
    """`screenshot(page, png, width, height)`: the first screen of the page as a PNG."""

    def run(page: Path, png: Path, width: int, height: int) -> Path:
        _chromium(chromium, page, f"--window-size={width},{height}", f"--screenshot={png}")
        return png

    return run
