"""Where incremental data-quality gates left off: one row per table in selfheal.dq_watermarks
(created by migrations/0006_dq_watermarks.sql).

Checks read it through their read-only session; only the runner's caller writes it, on a write
connection of its own and after the run (`save`), so no check ever writes to what it checks.
A target without the table (not migrated) simply has no watermark: every scan is full.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from selfheal.core.db import connect
from selfheal.core.readonly import Reader
from selfheal.core.text import first_line

log = logging.getLogger(__name__)

STATE_TABLE = "selfheal.dq_watermarks"

_LOAD = """
SELECT rules_digest, watermark, full_at, counts FROM selfheal.dq_watermarks WHERE table_name = %s
"""
_EXISTS = "SELECT to_regclass('selfheal.dq_watermarks') IS NOT NULL"
_SAVE = """
INSERT INTO selfheal.dq_watermarks (table_name, rules_digest, watermark, full_at, counts)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (table_name) DO UPDATE SET
    rules_digest = excluded.rules_digest, watermark = excluded.watermark,
    full_at = excluded.full_at, counts = excluded.counts, verified_at = now()
"""


@dataclass(frozen=True)
class RuleCounts:
    """A rule's values over every verified row: its in-scope rows and its aggregates."""

    scope: int
    values: list[Any]  # JSON values: counts, and maxima as text


@dataclass(frozen=True)
class TableState:
    table: str  # schema.name
    digest: str  # of the rule file the counts were measured under
    watermark: str | None  # the largest watermark value verified, as PostgreSQL prints it
    full_at: datetime  # the last full scan
    counts: dict[str, RuleCounts]  # by rule id


def load(reader: Reader, table: str) -> TableState | None:
    """The stored state of `table` (schema.name), or None (none yet, or no state table)."""
    with reader.transaction() as tx:
        if not tx.value(_EXISTS):
            return None
        row = tx.one(_LOAD, (table,))
    if row is None:
        return None
    digest, watermark, full_at, counts = row
    return TableState(
        table,
        digest,
        watermark,
        full_at,
        {rule: RuleCounts(item["scope"], item["values"]) for rule, item in counts.items()},
    )


def save(conn: psycopg.Connection, states: Iterable[TableState]) -> None:
    """Store each table's new state, in one transaction, on a connection that may write."""
    with conn.transaction():
        for state in states:
            counts = {
                rule: {"scope": item.scope, "values": item.values}
                for rule, item in state.counts.items()
            }
            conn.execute(
                _SAVE, (state.table, state.digest, state.watermark, state.full_at, Jsonb(counts))
            )


def store_watermarks(
    dsn: str, states: list[TableState], connect_timeout: int, pooler: str | None = None
) -> None:
    """`save` on a write connection of its own (through the `pooler` the target sits behind, see
    `connect`); a target that refuses (not migrated, no write privilege) keeps its old state, and
    the next run scans more: logged, never a failure."""
    if not states:
        return
    try:
        with connect(dsn, connect_timeout=connect_timeout, pooler=pooler) as conn:
            save(conn, states)
    except psycopg.Error as error:
        log.warning(
            "data-quality watermarks not stored (%s): the next run scans those tables in full",
            first_line(error),
        )
