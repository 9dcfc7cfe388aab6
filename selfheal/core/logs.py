"""Diagnostics go through `logging`; a command's own output is printed.

Modules log to `logging.getLogger(__name__)` (all under `selfheal`). Under pytest the records are
captured and shown with a failing check (`--log-cli-level=INFO` shows them live). The command-line
tools call `configure` once: warnings and errors on stderr, everything with `--verbose`.
"""

from __future__ import annotations

import argparse
import logging

FORMAT = "%(levelname)s %(name)s: %(message)s"


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is done (to stderr)")


def configure(verbose: bool = False) -> None:
    """Send the project's log records to stderr: INFO and up with `verbose`, else WARNING."""
    logging.basicConfig(format=FORMAT, level=logging.INFO if verbose else logging.WARNING)
