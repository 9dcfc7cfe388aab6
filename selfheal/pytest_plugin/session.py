"""The session's settings: parsed once per pytest process, the same input in every process.

`settings_of(config)` parses the environment (and `.env`) the first time it is asked and keeps the
result in the config's stash. Under pytest-xdist the controller hands its raw values to every
worker (`hand_to_worker`), which parses them instead of reading its own environment, so one run
sees one set of settings. Parsing is lenient: preflight reports each bad variable as its own
failing check.
"""

from __future__ import annotations

from typing import Any

import pytest

from selfheal.core.settings import Settings

_SETTINGS = pytest.StashKey[Settings]()
WORKER_INPUT = "selfheal_settings"  # key of the raw values in an xdist worker's input


def settings_of(config: pytest.Config) -> Settings:
    """This session's settings (parsed on first use)."""
    if _SETTINGS not in config.stash:
        handed = getattr(config, "workerinput", {}).get(WORKER_INPUT)
        if handed is None:
            config.stash[_SETTINGS] = Settings.from_env(strict=False)
        else:
            config.stash[_SETTINGS] = Settings.parse(handed, strict=False)
    return config.stash[_SETTINGS]


def hand_to_worker(config: pytest.Config, node: Any) -> None:
    """Give an xdist worker (its `WorkerController`) the values this session parsed."""
    node.workerinput[WORKER_INPUT] = dict(settings_of(config).raw)
