"""Files the project writes for people and tools to read: whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPORT_MODE = 0o644  # readable by everyone, as a report or ticket is meant to be


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, REPORT_MODE)  # mkstemp makes it private (0600)
    os.replace(tmp, path)
