"""The state of each checked table at the end of a session: rows, bytes, newest watched values.

The tables are those of the data-quality rule files; a table's watched columns are those its
freshness and anomaly rules read. Read as `selfheal.core.table_figures` reads them (exact for a
small table; a large one's rows are its statistics' estimate), through the read-only executor; a
table the database lacks is recorded without figures rather than failing the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from selfheal.core.readonly import Reader
from selfheal.core.table_figures import table_figures
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


def table_stats(conn: psycopg.Connection, tables: list[WatchedTable]) -> list[TableStats]:
    """Each table's figures (`table_figures`: a large one's rows are its statistics' estimate,
    its watched values read only through an index)."""
    reader = Reader(conn)
    found = []
    for table in tables:
        try:
            figures = table_figures(reader, table.schema, table.table, table.columns)
        except psycopg.Error as error:
            log.warning(
                "history: no figures for %s.%s: %s", table.schema, table.table, first_line(error)
            )
            found.append(TableStats(table.schema, table.table, None, None))
            continue
        values = {c: str(v) for c, v in figures.newest.items() if v is not None}
        found.append(TableStats(table.schema, table.table, figures.rows, figures.bytes, values))
    return found
