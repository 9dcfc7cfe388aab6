"""A content digest per table: each row's key and a hash of each column's value.

Rows are keyed by the primary key (else a unique key of NOT NULL columns); a table with neither
is compared as a multiset of whole rows. Columns are identified by attribute number, so a
renamed column is still the same column and a column the file added is not compared. Comparing
a table's digest before and after a file tells which pre-existing rows are gone (data-loss) and
which pre-existing column values changed, in how many rows (data-rewrite), whatever did it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

_SHAPE = """
SELECT c.oid, n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       array_agg(a.attnum ORDER BY a.attnum), array_agg(a.attname::text ORDER BY a.attnum),
       coalesce((SELECT i.indkey::int2[] FROM pg_index i
                 WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL
                   AND NOT 0 = ANY(i.indkey::int2[])
                   AND NOT EXISTS (SELECT FROM pg_attribute k WHERE k.attrelid = c.oid
                                   AND k.attnum = ANY(i.indkey::int2[]) AND NOT k.attnotnull)
                 ORDER BY i.indisprimary DESC, i.indexrelid LIMIT 1), '{}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.oid = ANY(%s)
GROUP BY c.oid, n.nspname, c.relname
"""


@dataclass
class TableDigest:
    label: str  # schema.table, quoted as quote_ident would
    columns: dict[int, str]  # attnum -> name
    key: tuple[int, ...]  # attnums of the row key; empty: compared as a multiset of rows
    rows: dict[str, tuple[int | None, ...]] = field(default_factory=dict)  # key -> column hashes
    multiset: Counter = field(default_factory=Counter)  # keyless: column hashes -> count

    @property
    def row_count(self) -> int:
        return len(self.rows) if self.key else sum(self.multiset.values())


def take(conn: psycopg.Connection, oids: list[int]) -> dict[int, TableDigest]:
    """The digest of each table now, in one query; a table that no longer exists is left out."""
    shapes = conn.execute(_SHAPE, (list(oids),)).fetchall() if oids else []
    if not shapes:
        return {}
    digests: dict[int, TableDigest] = {}
    parts = []
    for oid, schema, table, label, attnums, names, key in shapes:
        digests[oid] = TableDigest(label, dict(zip(attnums, names, strict=True)), tuple(key))
        parts.append(_rows_query(oid, sql.Identifier(schema, table), names, digests[oid]))
    with conn.cursor(binary=True) as cursor:
        rows = cursor.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall()  # fewer calls per row
        for oid, key, hashes, count in rows:
            if key is None:
                digests[oid].multiset[tuple(hashes)] += count
            else:
                digests[oid].rows[key] = tuple(hashes)
    return digests


def _rows_query(
    oid: int, target: sql.Composable, names: list[str], digest: TableDigest
) -> sql.Composable:
    """(oid, row key, a 64-bit hash per column, count) of the table's rows; a keyless table's
    rows are grouped by their hashes, with a NULL key."""
    hashes = sql.SQL(", ").join(
        sql.SQL("hashtextextended({}::text, 0)").format(sql.Identifier(name)) for name in names
    )
    if digest.key:
        key_row = sql.SQL(", ").join(sql.Identifier(digest.columns[k]) for k in digest.key)
        return sql.SQL(
            "(SELECT {}::oid, ROW({}, NULL)::text, ARRAY[{}], 1::bigint FROM {})"
        ).format(sql.Literal(oid), key_row, hashes, target)
    return sql.SQL("(SELECT {}::oid, NULL::text, ARRAY[{}], count(*) FROM {} GROUP BY 3)").format(
        sql.Literal(oid), hashes, target
    )


@dataclass(frozen=True)
class RowChange:
    kind: str  # data-loss | data-rewrite
    table: str
    detail: str


def compare(before: TableDigest, after: TableDigest) -> list[RowChange]:
    """What happened to the rows and columns `before` had."""
    common = [attnum for attnum in before.columns if attnum in after.columns]
    if before.key and all(k in after.columns for k in before.key) and after.key == before.key:
        return _compare_keyed(before, after, common)
    return _compare_multiset(before, after, common)


def _compare_keyed(before: TableDigest, after: TableDigest, common: list[int]) -> list[RowChange]:
    changes = []
    missing = [key for key in before.rows if key not in after.rows]
    if missing:
        changes.append(
            RowChange(
                "data-loss",
                before.label,
                f"{len(missing)} of its {before.row_count} existing rows are gone",
            )
        )
    before_at = {attnum: i for i, attnum in enumerate(before.columns)}
    after_at = {attnum: i for i, attnum in enumerate(after.columns)}
    changed: Counter = Counter()
    rows = 0
    for key, old in before.rows.items():
        new = after.rows.get(key)
        if new is None:
            continue
        differs = [a for a in common if old[before_at[a]] != new[after_at[a]]]
        changed.update(differs)
        rows += bool(differs)
    if rows:
        names = ", ".join(after.columns[a] for a in common if changed[a])
        changes.append(
            RowChange(
                "data-rewrite",
                before.label,
                f"existing values of {names} changed in {rows} of {before.row_count} rows",
            )
        )
    return changes


def _compare_multiset(
    before: TableDigest, after: TableDigest, common: list[int]
) -> list[RowChange]:
    """Without a row key: rows no longer found whole, over the columns both sides have."""
    old, new = _project(before, common), _project(after, common)
    gone = sum((old - new).values())
    if not gone:
        return []
    detail = f"{gone} of its {before.row_count} existing rows are gone or changed"
    return [RowChange("data-loss", before.label, detail)]


def _project(digest: TableDigest, attnums: list[int]) -> Counter:
    at = [list(digest.columns).index(a) for a in attnums]
    projected: Counter = Counter()
    if digest.key:
        for row in digest.rows.values():
            projected[tuple(row[i] for i in at)] += 1
    else:
        for row, count in digest.multiset.items():
            projected[tuple(row[i] for i in at)] += count
    return projected
