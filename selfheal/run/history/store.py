"""Writing the run history: one transaction per session, through the store's own connection.

A session's record (`RunRecord`: its checks, the problems they found, the doctor's heals and the
checked tables' state) is written in one transaction that also prunes runs older than the
retention, so concurrent sessions never lose a run and the history stays bounded. The connection
is the store's own (a write session on the history database), never a check's read-only one.

A store that cannot be reached or written is the caller's warning (`HistoryUnavailable`); a
history schema newer than this code is `HistorySchemaNewer` (see schema.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from selfheal.core.db import DatabaseUnreachable, connect
from selfheal.core.dsn import redact_dsn
from selfheal.core.text import first_line
from selfheal.run.history.schema import upgrade

log = logging.getLogger(__name__)
MAX_SAMPLES = 10


class HistoryUnavailable(RuntimeError):
    """The history database cannot be reached or written; the run's own verdict stands."""


@dataclass(frozen=True)
class ProblemRecord:
    fingerprint: str
    code: str
    object: str
    severity: str
    message: str = ""
    error_type: str = ""
    samples: tuple[dict[str, Any], ...] = ()
    remediation: str = ""


@dataclass(frozen=True)
class CheckRecord:
    """One check's outcome in a run; `complete`: it reached its own verdict."""

    node_id: str
    stage: str
    outcome: str  # passed, failed, skipped
    complete: bool
    seconds: float = 0.0
    message: str = ""
    problems: tuple[ProblemRecord, ...] = ()


@dataclass(frozen=True)
class HealRecord:
    node_id: str
    fingerprint: str
    code: str
    object: str
    remedy: str
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class TableStats:
    schema: str
    table: str
    row_count: int | None
    bytes: int | None
    newest: dict[str, str] = field(default_factory=dict)  # watched column -> newest value


@dataclass(frozen=True)
class RunRecord:
    session_id: str
    target: str  # redacted: which database the checks ran on
    started_at: datetime
    finished_at: datetime
    full_run: bool  # every check of the suite was selected (no -k, -m, paths or --lf)
    selection: str = ""
    checks: tuple[CheckRecord, ...] = ()
    heals: tuple[HealRecord, ...] = ()
    tables: tuple[TableStats, ...] = ()

    def count(self, outcome: str) -> int:
        return sum(1 for check in self.checks if check.outcome == outcome)


@contextmanager
def history_connection(
    dsn: str, connect_timeout: int = 10, pooler: str | None = None
) -> Iterator[psycopg.Connection]:
    """The store's own autocommit write session (through the `pooler` it sits behind, see
    `connect`), with its history schema upgraded."""
    where = redact_dsn(dsn)
    try:
        with connect(
            dsn,
            autocommit=True,
            connect_timeout=connect_timeout,
            application_name="selfheal-history",
            pooler=pooler,
        ) as conn:
            upgrade(conn, where)
            yield conn
    except DatabaseUnreachable as error:
        raise HistoryUnavailable(str(error)) from None
    except psycopg.Error as error:
        raise HistoryUnavailable(f"history in {where}: {first_line(error)}") from None


_RUN = """
INSERT INTO selfheal_history.runs
    (session_id, target, started_at, finished_at, full_run, selection, passed, failed, skipped)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING run_id
"""
_CHECK = """
INSERT INTO selfheal_history.check_results
    (run_id, node_id, stage, outcome, complete, seconds, message)
VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
"""
_PROBLEM = """
INSERT INTO selfheal_history.problem_results
    (run_id, node_id, fingerprint, code, object, severity, error_type, message, samples,
     remediation)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
"""
_HEAL = """
INSERT INTO selfheal_history.heals
    (run_id, node_id, fingerprint, code, object, remedy, outcome, detail)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""
# New rows: the growth since this target's previous run that recorded the table.
_TABLE = """
INSERT INTO selfheal_history.table_stats
    (run_id, schema_name, table_name, row_count, bytes, newest, new_rows)
SELECT %(run_id)s, %(schema)s, %(table)s, %(rows)s, %(bytes)s, %(newest)s,
       %(rows)s - (SELECT s.row_count FROM selfheal_history.table_stats s
                   JOIN selfheal_history.runs r USING (run_id)
                   WHERE r.target = %(target)s AND r.run_id < %(run_id)s
                     AND s.schema_name = %(schema)s AND s.table_name = %(table)s
                   ORDER BY r.run_id DESC LIMIT 1)
"""
_PRUNE = """
DELETE FROM selfheal_history.runs
WHERE finished_at < now() - make_interval(days => %s) AND run_id <> %s
"""


def _samples(problem: ProblemRecord) -> Jsonb:
    rows = json.loads(json.dumps(list(problem.samples[:MAX_SAMPLES]), default=str))
    return Jsonb(rows)


def write_run(conn: psycopg.Connection, run: RunRecord, retention_days: int) -> int:
    """Record one session and prune what the retention lets go, in one transaction."""
    with conn.transaction():
        counts = (run.count("passed"), run.count("failed"), run.count("skipped"))
        (run_id,) = conn.execute(
            _RUN,
            (
                run.session_id,
                run.target,
                run.started_at,
                run.finished_at,
                run.full_run,
                run.selection,
                *counts,
            ),
        ).fetchone()
        with conn.cursor() as cursor:
            cursor.executemany(
                _CHECK,
                [
                    (run_id, c.node_id, c.stage, c.outcome, c.complete, c.seconds, c.message)
                    for c in run.checks
                ],
            )
            cursor.executemany(
                _PROBLEM,
                [
                    (run_id, c.node_id, p.fingerprint, p.code, p.object, p.severity)
                    + (p.error_type, p.message, _samples(p), p.remediation)
                    for c in run.checks
                    for p in c.problems
                ],
            )
            cursor.executemany(
                _HEAL,
                [
                    (run_id, h.node_id, h.fingerprint, h.code, h.object, h.remedy, h.outcome)
                    + (h.detail,)
                    for h in run.heals
                ],
            )
            cursor.executemany(
                _TABLE,
                [
                    {
                        "run_id": run_id,
                        "target": run.target,
                        "schema": t.schema,
                        "table": t.table,
                        "rows": t.row_count,
                        "bytes": t.bytes,
                        "newest": Jsonb(t.newest),
                    }
                    for t in run.tables
                ],
            )
        pruned = conn.execute(_PRUNE, (retention_days, run_id)).rowcount
    if pruned:
        log.info("history: pruned %s run(s) older than %s days", pruned, retention_days)
    return run_id


def record_run(
    dsn: str,
    run: RunRecord,
    retention_days: int,
    connect_timeout: int = 10,
    pooler: str | None = None,
) -> int:
    """Open the store, record the session, close; returns the run's id in the history."""
    with history_connection(dsn, connect_timeout, pooler) as conn:
        try:
            return write_run(conn, run, retention_days)
        except psycopg.Error as error:
            raise HistoryUnavailable(
                f"history in {redact_dsn(dsn)} not written: {first_line(error)}"
            ) from None
