"""Per table: row count, size and freshness (newest value of its declared freshness column)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from selfheal.core.readonly import Reader
from selfheal.core.table_figures import table_figures
from selfheal.health.config import HealthConfig, TableName

TABLES = """
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%(schemas)s)
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class TableOverview:
    table: TableName
    rows: int
    bytes: int
    freshness_column: str | None = None
    newest: datetime | None = None
    age_hours: float | None = None
    max_age_hours: float | None = None
    rows_estimated: bool = False  # a large table's live-row statistics (`table_figures`)
    newest_unread: bool = False  # a large table no B-tree index on its column leads

    @property
    def status(self) -> str:
        if self.freshness_column is None:
            return "not watched"
        if self.newest_unread:
            return "not read"
        if self.newest is None:
            return "empty"
        return "stale" if self.age_hours > self.max_age_hours else "fresh"


def table_overview(conn: psycopg.Connection, config: HealthConfig) -> list[TableOverview]:
    """Every table of the configured schemas; large ones at the cost of their statistics."""
    reader = Reader(conn)
    tables = reader.rows(TABLES, {"schemas": list(config.schemas)}, row_factory=dict_row)
    return [_one(reader, config, TableName(t["schema"], t["name"])) for t in tables]


def _one(reader: Reader, config: HealthConfig, table: TableName) -> TableOverview:
    rule = config.freshness.get(table)
    columns = [rule.column] if rule else []
    figures = table_figures(reader, table.schema, table.name, columns)
    overview = TableOverview(
        table, figures.rows, figures.bytes, rows_estimated=figures.rows_estimated
    )
    if rule is None:
        return overview
    return replace(
        overview,
        freshness_column=rule.column,
        newest=figures.newest.get(rule.column),
        age_hours=figures.age_hours.get(rule.column),
        max_age_hours=rule.max_age_hours,
        newest_unread=rule.column in figures.unread,
    )
