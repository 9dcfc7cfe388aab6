"""Per table: row count, size and freshness (newest value of its declared freshness column)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from selfheal.core.readonly import Reader
from selfheal.health.config import HealthConfig, TableName

TABLES = """
SELECT n.nspname AS schema, c.relname AS name, pg_total_relation_size(c.oid) AS bytes
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

    @property
    def status(self) -> str:
        if self.freshness_column is None:
            return "not watched"
        if self.newest is None:
            return "empty"
        return "stale" if self.age_hours > self.max_age_hours else "fresh"


def table_overview(conn: psycopg.Connection, config: HealthConfig) -> list[TableOverview]:
    reader = Reader(conn)
    tables = reader.rows(TABLES, {"schemas": list(config.schemas)}, row_factory=dict_row)
    return [_one(reader, config, TableName(t["schema"], t["name"]), t["bytes"]) for t in tables]


def _one(reader: Reader, config: HealthConfig, table: TableName, size: int) -> TableOverview:
    rule = config.freshness.get(table)
    target = sql.Identifier(table.schema, table.name)
    if rule is None:
        (rows,) = reader.one(sql.SQL("SELECT count(*) FROM {}").format(target))
        return TableOverview(table, rows, size)
    column = sql.Identifier(rule.column)
    query = sql.SQL(
        "SELECT count(*), max({c}), extract(epoch FROM now() - max({c})) / 3600 FROM {t}"
    ).format(c=column, t=target)
    rows, newest, age = reader.one(query)
    return TableOverview(
        table,
        rows,
        size,
        rule.column,
        newest,
        None if age is None else float(age),
        rule.max_age_hours,
    )
