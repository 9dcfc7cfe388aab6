"""A table's figures for the reports written at the end of every session: rows, size, and the
newest value (with its age) of the time columns watched on it.

The HTML overview and the run history show them for every table they cover, after whatever the
session checked, so they must not cost what the checks cost. A small table is read exactly: one
count and the newest values together. From `LARGE_BYTES` of rows on, a count, or a max() of a
column no index leads, would read the whole table again (a second full scan of a 10M-row table
after `pytest -m dq` checked it: 0.4 s each, measured by cProfile): rows are then the statistics'
live-row count, an estimate marked so, and a newest value is read only where a valid B-tree index
leads with its column (PostgreSQL takes max() from the index's end); other columns are unread.
A partitioned table counts its partitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from selfheal.core.readonly import Reader

LARGE_BYTES = 64 * 1024 * 1024

# The table and, when partitioned, its partitions: heap bytes, all bytes, estimated live rows (the
# statistics' count of live rows, kept by every write; where it says 0, the last ANALYZE's), and
# the columns that lead a valid B-tree index of the table.
_ABOUT = """
WITH tree AS (
    SELECT %(table)s::regclass AS relid
    UNION SELECT relid FROM pg_partition_tree(%(table)s::regclass)
)
SELECT sum(pg_relation_size(c.oid)), sum(pg_total_relation_size(c.oid)),
       sum(CASE WHEN c.relkind = 'p' THEN 0  -- a partitioned table's rows are its partitions'
                WHEN pg_stat_get_live_tuples(c.oid) > 0 THEN pg_stat_get_live_tuples(c.oid)
                ELSE greatest(c.reltuples, 0) END)::bigint,
       ARRAY(SELECT a.attname::text FROM pg_index i
             JOIN pg_class ic ON ic.oid = i.indexrelid
             JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = %(table)s::regclass AND i.indisvalid AND i.indpred IS NULL)
FROM tree JOIN pg_class c ON c.oid = tree.relid
"""
_SELECT = sql.SQL("SELECT {} FROM {}")
_NEWEST = sql.SQL("max({c}), extract(epoch FROM now() - max({c})) / 3600")


@dataclass(frozen=True)
class TableFigures:
    rows: int
    rows_estimated: bool  # the statistics' live-row count of a large table
    bytes: int  # with indexes and TOAST
    newest: dict[str, Any] = field(default_factory=dict)  # column -> newest value (None: none)
    age_hours: dict[str, float | None] = field(default_factory=dict)  # column -> its age
    unread: tuple[str, ...] = ()  # columns of a large table that no B-tree index leads


def table_figures(
    reader: Reader,
    schema: str,
    table: str,
    columns: Sequence[str] = (),
    large_bytes: int = LARGE_BYTES,
) -> TableFigures:
    """The figures of one table, exact or cheap as the module says."""
    target = sql.Identifier(schema, table)
    heap, total, live, indexed = reader.one(_ABOUT, {"table": target.as_string()})
    columns = list(dict.fromkeys(columns))
    large = (heap or 0) >= large_bytes
    read = [c for c in columns if c in indexed] if large else columns
    parts = [] if large else [sql.SQL("count(*)")]
    parts += [_NEWEST.format(c=sql.Identifier(c)) for c in read]
    values = list(reader.one(_SELECT.format(sql.SQL(", ").join(parts), target))) if parts else []
    rows = int(live or 0) if large else values.pop(0)
    return TableFigures(
        rows=rows,
        rows_estimated=large,
        bytes=int(total or 0),
        newest=dict(zip(read, values[0::2], strict=True)),
        age_hours={
            c: None if a is None else float(a) for c, a in zip(read, values[1::2], strict=True)
        },
        unread=tuple(c for c in columns if c not in read),
    )
