"""The selfheal pytest plugin: the only `pytest11` entry point (the top layer, beside the CLI).

Like pytest's own plugins, it is a handful of small hook modules, each registered under its
own name (so `-p no:selfheal.pytest_plugin.html` turns one part off):

- `outcomes`: options, stage markers, stage order and the preflight gate; every outcome with its
  problems; at the end of the session the tickets, the run files and the Slack message;
- `fixtures`: the session's settings, the target database (live or the embedded default), its
  read-only session and a scratch server;
- `html`: pytest-html's report shaped through its hooks (`report_overview`, `report_check`,
  `assets/`), and the KPI page;
- `health`: the system health report from the health checks' evidence.

`hooks` declares the hook the plugin calls (`pytest_selfheal_target_closing`) and `session` holds
the settings parsed once per session.

The plugin is inert in a project that has not configured selfheal: it writes files only for
checks marked with one of its stages, and starts a server only when a check asks for the target
(or, under pytest-xdist, when the project has migrations to check).
"""

from __future__ import annotations

import gc

import pytest

from selfheal.pytest_plugin import hooks

pytest_plugins = [
    "selfheal.pytest_plugin.outcomes",
    "selfheal.pytest_plugin.fixtures",
    "selfheal.pytest_plugin.html",
    "selfheal.pytest_plugin.health",
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Everything imported by now (pytest, its plugins, psycopg, the conftests) lives as long as
    the process: frozen, the garbage collector stops walking it in each full collection and in
    pytest's collections at exit (a quarter of the CPU time of `pytest -m dq` on an empty rule
    set). What the checks create afterwards is collected as before. Garbage is collected first:
    frozen, it would never be finalized (in a process running many pytest sessions, pytester's,
    a connection left in a reference cycle would stay open)."""
    gc.collect()
    gc.freeze()
