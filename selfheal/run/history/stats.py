"""The state of each checked table at the end of a session: rows, bytes, newest watched values.

The tables are those of the data-quality rule files; a table's watched columns are those its
freshness and anomaly rules read. One read-only query per table (count and newest values
together), through the read-only executor; a table the database lacks is recorded without
figures rather than failing the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from selfheal.core.readonly import Reader
from selfheal.core.text import first_line
from selfheal.dq.config import Suite
from selfheal.run.history.store import TableStats

# The rule kinds whose column says when rows arrive.
WATCHING_KINDS = ("freshness", "volume_anomaly", "freshness_anomaly")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchedTable:
    schema: str
    table: str
    columns: tuple[str, ...] = ()


def watched_tables(suite: Suite) -> list[WatchedTable]:
    """Every table of the suite, with the columns its time-watching rules read."""
    watched = []
    for table, rules in suite.tables().items():
        columns = [c for rule in rules if rule.kind in WATCHING_KINDS for c in rule.columns()]
        watched.append(WatchedTable(table.schema, table.name, tuple(dict.fromkeys(columns))))
    return watched


def _stats_query(table: WatchedTable) -> sql.Composed:
    newest = [sql.SQL("max({})::text").format(sql.Identifier(column)) for column in table.columns]
    return sql.SQL(
        "SELECT count(*), pg_total_relation_size({regclass}::regclass){newest} FROM {table}"
    ).format(
        regclass=sql.Literal(sql.Identifier(table.schema, table.table).as_string()),
        newest=sql.SQL("").join(sql.SQL(", ") + n for n in newest),
        table=sql.Identifier(table.schema, table.table),
    )


def table_stats(conn: psycopg.Connection, tables: list[WatchedTable]) -> list[TableStats]:
    reader = Reader(conn)
    found = []
    for table in tables:
        try:
            rows, size, *newest = reader.one(_stats_query(table))
        except psycopg.Error as error:
            log.warning(
                "history: no figures for %s.%s: %s", table.schema, table.table, first_line(error)
            )
            found.append(TableStats(table.schema, table.table, None, None))
            continue
        values = {c: v for c, v in zip(table.columns, newest, strict=True) if v is not None}
        found.append(TableStats(table.schema, table.table, rows, size, values))
    return found
