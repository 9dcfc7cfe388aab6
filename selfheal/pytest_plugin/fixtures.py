"""The fixtures every check shares: settings, the target database (live or embedded), sessions.

With `SUPABASE_DB_URL` set, checks run against that database in read-only sessions. Without it,
they run on the embedded default: the project's persistent local cluster (`selfheal.core.cluster`,
shared with `python -m etl` and `selfheal`), shimmed and migrated. The session opens it when a
check first needs it and leaves it when pytest ends (it stops when its last user leaves). The
guard and the expected schema always use a throwaway scratch server, so nothing writes to the
target. Under pytest-xdist the controller of a project with migrations opens the embedded default
once and hands its DSN to every worker, so all workers check (and the ETL stage loads) one
database; elsewhere it is opened only when a test asks for the target.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from selfheal.core.db import connect_target
from selfheal.core.settings import Settings
from selfheal.core.target import describe_target, ensure_embedded_database
from selfheal.migrate.files import MigrationFilesError
from selfheal.migrate.runner import MigrationError, prepare_database
from selfheal.pytest_plugin.session import hand_to_worker, settings_of

if TYPE_CHECKING:
    from selfheal.core.embedded import EmbeddedPostgres


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> Settings:
    """The session's settings, parsed once, leniently: preflight reports each bad variable."""
    return settings_of(request.config)


@pytest.fixture(scope="session")
def migrations_dir(settings: Settings) -> Path:
    return settings.migrations_dir


@pytest.fixture(scope="session")
def scratch_server() -> Iterator[EmbeddedPostgres]:
    """A local server for scratch work (guard, expected schema); never the target."""
    from selfheal.core.embedded import start_embedded  # servers' tooling: only when one starts

    with start_embedded() as server:
        yield server


log = logging.getLogger("selfheal.target")

SHARED_TARGET = "selfheal_target_dsn"  # key of the workers' input under pytest-xdist
_OPENED = pytest.StashKey[ExitStack]()  # what this process opened of the embedded default


def pytest_configure(config: pytest.Config) -> None:
    xdist_controller = config.getoption("numprocesses", None) and not hasattr(config, "workerinput")
    settings = settings_of(config)
    if xdist_controller and not settings.live and settings.migrations_dir.is_dir():
        embedded_target(config)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """The target (redacted) on the first line, before pytest's own header."""
    settings = settings_of(session.config)
    configured = settings.live or settings.migrations_dir.is_dir()  # else: inert
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if configured and reporter is not None and not hasattr(session.config, "workerinput"):
        reporter.write_line(describe_target(settings))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:  # xdist's WorkerController
    hand_to_worker(node.config, node)
    dsn = getattr(node.config.option, "selfheal_target_dsn", None)
    if dsn:
        node.workerinput[SHARED_TARGET] = dsn


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OPENED in config.stash:
        config.stash[_OPENED].close()


def embedded_target(config: pytest.Config) -> str:
    """The embedded default's database, opened once per pytest process (until it ends)."""
    if _OPENED not in config.stash:
        from selfheal.core.cluster import shared_cluster  # live runs never load it

        settings = settings_of(config)
        opened = ExitStack()
        config.stash[_OPENED] = opened
        cluster = opened.enter_context(shared_cluster(settings.embedded_dir))
        config.option.selfheal_target_dsn = prepare_embedded_target(cluster.dsn(), settings)
    return config.option.selfheal_target_dsn


@pytest.fixture(scope="session")
def target_dsn(settings: Settings, request: pytest.FixtureRequest) -> str:
    """DSN of the database under check: live, or the embedded default prepared here. Before it
    goes, `pytest_selfheal_target_closing` lets report plugins read it one last time."""
    dsn = _target(settings, request)
    hook = request.config.hook
    request.addfinalizer(
        lambda: hook.pytest_selfheal_target_closing(config=request.config, dsn=dsn)
    )
    return dsn


def _target(settings: Settings, request: pytest.FixtureRequest) -> str:
    if settings.live:
        return settings.db_url.reveal()
    shared = getattr(request.config, "workerinput", {}).get(SHARED_TARGET)
    if shared:
        return shared
    return embedded_target(request.config)


def prepare_embedded_target(admin_dsn: str, settings: Settings) -> str:
    """The embedded default's database on the server of `admin_dsn`, shimmed and migrated."""
    dsn = ensure_embedded_database(admin_dsn)
    try:
        prepare_database(dsn, settings.migrations_dir)
    except (MigrationError, MigrationFilesError) as error:
        # Preflight names the culprit in its own tests; the other checks see the database as
        # the broken migrations left it, which is the truth.
        log.warning("embedded default not fully migrated: %s", error)
    return dsn


@pytest.fixture(scope="session")
def db(target_dsn: str, settings: Settings) -> Iterator[psycopg.Connection]:
    """A read-only, autocommit session on the target: checks never write to what they check."""
    with connect_target(target_dsn, settings, read_only=True) as conn:
        yield conn
