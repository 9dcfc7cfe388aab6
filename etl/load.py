"""Loading validated rows: COPY into a temporary staging table, then one upsert that writes only
rows that are new or changed. Counts come from the database.

Everything here runs inside the caller's transaction; the caller commits or rolls back the whole
window. `classify` answers the same question read-only, for dry runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from etl.contracts import TableSpec
from etl.validate import Rejected

STAGING = "etl_staging"
SCHEMA = "public"


@dataclass(frozen=True)
class LoadCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _target(spec: TableSpec) -> sql.Composed:
    return sql.Identifier(SCHEMA, spec.table)


def _columns(spec: TableSpec, names: Sequence[str], alias: str | None = None) -> sql.Composed:
    if alias is None:
        return sql.SQL(", ").join(sql.Identifier(name) for name in names)
    return sql.SQL(", ").join(sql.Identifier(alias, name) for name in names)


def _join_on(spec: TableSpec) -> sql.Composed:
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier("cur", k), sql.Identifier("s", k))
        for k in spec.key
    )


def _changed(spec: TableSpec, old: str, new: str) -> sql.Composed:
    """`(old.v1, ...) IS DISTINCT FROM (new.v1, ...)` over the non-key columns."""
    return sql.SQL("ROW({}) IS DISTINCT FROM ROW({})").format(
        _columns(spec, spec.values, old), _columns(spec, spec.values, new)
    )


def _classified(spec: TableSpec, source: sql.Composable) -> sql.Composed:
    """Each staged row with `is_new` / `is_changed` against the target's current rows."""
    first_key = sql.Identifier("cur", spec.key[0])
    return sql.SQL(
        "SELECT {cols}, {first_key} IS NULL AS is_new, {changed} AS is_changed"
        " FROM {source} AS s LEFT JOIN {target} AS cur ON {on}"
    ).format(
        cols=_columns(spec, spec.names, "s"),
        first_key=first_key,
        changed=_changed(spec, "cur", "s"),
        source=source,
        target=_target(spec),
        on=_join_on(spec),
    )


def stage(conn: psycopg.Connection, spec: TableSpec, rows: Sequence[Sequence[Any]]) -> None:
    """Create the transaction's staging table and COPY the rows into it."""
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(sql_type))
        for name, sql_type in spec.columns
    )
    conn.execute(
        sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(
            sql.Identifier(STAGING), definition
        )
    )
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(STAGING), _columns(spec, spec.names)
    )
    with conn.cursor() as cur, cur.copy(copy) as pipe:
        for row in rows:
            pipe.write_row(row)
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(STAGING)))


def upsert_staged(conn: psycopg.Connection, spec: TableSpec) -> LoadCounts:
    """Write the staged rows that are new or changed; rows equal to the target are not touched."""
    assignments = sql.SQL(", ").join(
        [sql.SQL("{0} = excluded.{0}").format(sql.Identifier(name)) for name in spec.values]
        + [sql.SQL("loaded_at = now()")]
    )
    query = sql.SQL(
        "WITH written AS ("
        " INSERT INTO {target} AS t ({cols})"
        " SELECT {cols} FROM ({classified}) AS c WHERE c.is_new OR c.is_changed"
        " ON CONFLICT ({key}) DO UPDATE SET {assignments} WHERE {really_changed}"
        " RETURNING t.xmax::text = '0' AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),"
        " (SELECT count(*) FROM {staging})"
        " FROM written"
    ).format(
        target=_target(spec),
        cols=_columns(spec, spec.names),
        classified=_classified(spec, sql.Identifier(STAGING)),
        key=_columns(spec, spec.key),
        assignments=assignments,
        really_changed=_changed(spec, "t", "excluded"),
        staging=sql.Identifier(STAGING),
    )
    inserted, updated, staged = conn.execute(query).fetchone()
    return LoadCounts(inserted, updated, staged - inserted - updated)


def load(conn: psycopg.Connection, spec: TableSpec, rows: Sequence[Sequence[Any]]) -> LoadCounts:
    """Stage and upsert `rows` (unique by key) in the caller's transaction."""
    if not rows:
        return LoadCounts()
    stage(conn, spec, rows)
    return upsert_staged(conn, spec)


def classify(
    conn: psycopg.Connection, spec: TableSpec, rows: Sequence[Sequence[Any]]
) -> LoadCounts:
    """What `load` would do, computed read-only (rows passed as arrays, no staging table)."""
    if not rows:
        return LoadCounts()
    arrays = sql.SQL(", ").join(
        sql.SQL("%s::{}[]").format(sql.SQL(sql_type)) for _, sql_type in spec.columns
    )
    source = sql.SQL("(SELECT * FROM unnest({}) AS u({}))").format(
        arrays, _columns(spec, spec.names)
    )
    query = sql.SQL(
        "SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE is_changed AND NOT is_new),"
        " count(*) FILTER (WHERE NOT is_changed AND NOT is_new) FROM ({}) AS c"
    ).format(_classified(spec, source))
    columns = [list(column) for column in zip(*rows, strict=True)]
    inserted, updated, unchanged = conn.execute(query, columns).fetchone()
    return LoadCounts(inserted, updated, unchanged)


def quarantine(
    conn: psycopg.Connection, run_id: int | None, source: str, rejected: Sequence[Rejected]
) -> None:
    if not rejected:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO public.etl_quarantine (run_id, source, raw_payload, reason)"
            " VALUES (%s, %s, %s, %s)",
            [(run_id, source, r.raw_payload, r.reason) for r in rejected],
        )
