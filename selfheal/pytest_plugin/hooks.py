"""The hooks selfheal calls, for its report plugins and a project's own conftest."""

from __future__ import annotations

import pytest


def pytest_selfheal_target_closing(config: pytest.Config, dsn: str) -> None:
    """The session's target database is about to go (its fixture is being torn down): the last
    moment to read from it, e.g. for a report of the state the run left it in."""
