"""A one-line progress counter on stderr, shown only on a terminal and never in CI."""

from __future__ import annotations

import os
import sys
from typing import TextIO


def wanted(stream: TextIO = sys.stderr) -> bool:
    return stream.isatty() and not os.environ.get("CI")


class Progress:
    """`progress(rows)` redraws `label: N rows read`; `done()` ends the line."""

    def __init__(self, label: str, enabled: bool, stream: TextIO = sys.stderr):
        self.label = label
        self.enabled = enabled
        self.stream = stream
        self.drawn = False

    def __call__(self, rows: int) -> None:
        if self.enabled:
            self.stream.write(f"\r{self.label}: {rows} rows read")
            self.stream.flush()
            self.drawn = True

    def done(self) -> None:
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False
