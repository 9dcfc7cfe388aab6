"""A pytest session's record in the run history (selfheal.run.history), written by the controller.

Where: `SELFHEAL_HISTORY_DSN`, else the target database itself (live, or the embedded default
this session opened); `--no-history` writes nothing. What: every check's outcome with the
problems it found, the doctor's heals and the checked tables' state. A history that cannot be
written is a warning: the run's own verdict stands.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg
import pytest

from selfheal.core.db import DatabaseUnreachable, connect_target
from selfheal.core.dsn import redact_dsn
from selfheal.core.settings import Settings
from selfheal.dq.config import ConfigError, load_suite
from selfheal.run.history.problems import ProblemState, problem_states
from selfheal.run.history.schema import HistorySchemaNewer
from selfheal.run.history.stats import table_stats, watched_tables
from selfheal.run.history.store import (
    CheckRecord,
    HealRecord,
    HistoryUnavailable,
    ProblemRecord,
    RunRecord,
    TableStats,
    history_connection,
    record_run,
    write_run,
)
from selfheal.run.history.trends import HistoryView, history_view
from selfheal.run.problem import Heal, Problem
from selfheal.run.reporting import Outcome

EMBEDDED_LABEL = "embedded default"
TARGET_DSN = "selfheal_target_dsn"  # config.option attribute: the embedded target's DSN, if opened
log = logging.getLogger(__name__)
Redact = Callable[[str], str]


def add_options(group: pytest.OptionGroup) -> None:
    group.addoption(
        "--selfheal-no-history",
        "--no-history",
        dest="no_history",
        action="store_true",
        help="record nothing in the run history (selfheal_history)",
    )


def target_label(settings: Settings) -> str:
    """The target as the history names it (redacted): the live database, or the embedded one."""
    return redact_dsn(settings.db_url.reveal()) if settings.live else EMBEDDED_LABEL


def target_dsn(config: pytest.Config, settings: Settings) -> str | None:
    """The database the checks ran on, when this session knows it (None: never opened)."""
    if settings.live:
        return settings.db_url.reveal()
    return getattr(config.option, TARGET_DSN, None)


def history_dsn(config: pytest.Config, settings: Settings) -> str | None:
    if config.getoption("no_history", False):
        return None
    return _history_at(settings, target_dsn(config, settings))


def selection(config: pytest.Config) -> str:
    """What narrowed the session: -k, -m, paths, --lf (empty for a full run)."""
    parts = []
    if config.getoption("keyword", ""):
        parts.append(f"-k {config.getoption('keyword')}")
    if config.getoption("markexpr", ""):
        parts.append(f"-m {config.getoption('markexpr')}")
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        parts.append(" ".join(config.args))
    if config.getoption("lf", False):
        parts.append("--lf")
    if config.getoption("deselect", None):
        parts.append("--deselect")
    return " ".join(parts)


def _problem(problem: Problem, error_type: str, redact: Redact) -> ProblemRecord:
    samples = json.loads(redact(json.dumps(list(problem.evidence.samples), default=str)))
    return ProblemRecord(
        problem.fingerprint,
        problem.code,
        problem.object,
        str(problem.severity),
        redact(problem.message),
        error_type,
        tuple(samples),
        redact(problem.remediation),
    )


def _check(outcome: Outcome, redact: Redact) -> CheckRecord:
    return CheckRecord(
        outcome.nodeid,
        outcome.stage,
        outcome.outcome,
        outcome.complete,
        outcome.seconds,
        redact(outcome.message),
        tuple(_problem(p, outcome.error_type, redact) for p in outcome.problems),
    )


def _heals(outcomes: list[Outcome], redact: Redact) -> tuple[HealRecord, ...]:
    return tuple(_heal(h, redact) for o in outcomes for h in o.heals)


def _heal(h: Heal, redact: Redact) -> HealRecord:
    return HealRecord(
        h.node_id, h.fingerprint, h.code, h.object, h.remedy, h.outcome, redact(h.detail)
    )


def _tables(dsn: str | None, settings: Settings) -> tuple[TableStats, ...]:
    if dsn is None:
        return ()
    try:
        suite = load_suite(settings.dq_dir, settings.dq_sql_dir)
        with connect_target(dsn, settings, read_only=True) as conn:
            return tuple(table_stats(conn, watched_tables(suite)))
    except (ConfigError, DatabaseUnreachable, psycopg.Error) as error:
        log.warning("history: no table figures: %s", error)
        return ()


@dataclass(frozen=True)
class Session:
    """The facts of the session the record needs besides its outcomes."""

    session_id: str
    started: datetime
    finished: datetime


def run_record(
    config: pytest.Config,
    settings: Settings,
    session: Session,
    outcomes: list[Outcome],
    redact: Redact,
) -> RunRecord:
    chosen = selection(config)
    return RunRecord(
        session_id=session.session_id,
        target=target_label(settings),
        started_at=session.started,
        finished_at=session.finished,
        full_run=not chosen,
        selection=chosen,
        checks=tuple(_check(o, redact) for o in outcomes),
        heals=_heals(outcomes, redact),
        tables=_tables(target_dsn(config, settings), settings),
    )


@dataclass(frozen=True)
class Recorded:
    """What became of the session's record: the terminal's line, and the history's view."""

    line: str
    view: HistoryView | None = None
    states: list[ProblemState] | None = None  # every problem of the target, for the backlog
    target: str = ""


def record(
    config: pytest.Config,
    settings: Settings,
    session: Session,
    outcomes: list[Outcome],
    redact: Redact,
) -> Recorded:
    """Write the session's record and read back what the summary shows of its history."""
    dsn = history_dsn(config, settings)
    if dsn is None:
        why = "--no-history" if config.getoption("no_history", False) else "no database opened"
        return Recorded(f"history: not recorded ({why})")
    try:
        run = run_record(config, settings, session, outcomes, redact)
        with history_connection(dsn, settings.connect_timeout, _pooler(settings)) as conn:
            run_id = write_run(conn, run, settings.history_retention_days)
            view = history_view(conn, run.target, run_id)
            states = problem_states(conn, run.target)
    except HISTORY_ERRORS as error:
        return Recorded(_not_recorded(error, redact))
    line = f"history: run {run_id} recorded in {redact_dsn(dsn)}"
    return Recorded(line, view, states, run.target)


def record_heals(
    settings: Settings, target: str, heals: list[Heal], started: datetime, redact: Redact
) -> str:
    """The heals of `selfheal doctor --heal`, which runs outside a pytest session, as a run of
    their own (no checks): a heal its re-check proved resolves its problem in the history too,
    so the tickets regenerated from it by the next session agree."""
    dsn = _history_at(settings, target)
    run = RunRecord(
        session_id=f"doctor-{uuid.uuid4().hex}",
        target=target_label(settings),
        started_at=started,
        finished_at=datetime.now(settings.zone),
        full_run=False,
        selection="selfheal doctor --heal",
        heals=tuple(_heal(h, redact) for h in heals),
    )
    try:
        retention, timeout = settings.history_retention_days, settings.connect_timeout
        run_id = record_run(dsn, run, retention, timeout, _pooler(settings))
    except HISTORY_ERRORS as error:
        return _not_recorded(error, redact)
    return f"history: the doctor's run {run_id} recorded in {redact_dsn(dsn)}"


HISTORY_ERRORS = (HistorySchemaNewer, HistoryUnavailable, psycopg.Error)


def _not_recorded(error: Exception, redact: Redact) -> str:
    """The line that says why the history holds nothing of this run (an error when the store is
    newer than this code, else a warning: the run's own verdict stands)."""
    if isinstance(error, HistorySchemaNewer):
        log.error("history: %s", redact(str(error)))
        return redact(f"history: ERROR: {error}")
    log.warning("history: not recorded: %s", redact(str(error)))
    return redact(f"history: not recorded (warning): {error}")


def _history_at(settings: Settings, target: str | None) -> str | None:
    """SELFHEAL_HISTORY_DSN, else the target database itself."""
    return settings.history_dsn.reveal() if settings.history_dsn is not None else target


def _pooler(settings: Settings) -> str | None:
    """SELFHEAL_POOLER describes the target; a history kept elsewhere is judged by its port."""
    return settings.pooler if settings.history_dsn is None else None
