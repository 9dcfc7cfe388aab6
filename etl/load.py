"""Loading validated rows: COPY (binary) into a temporary staging table, then write only the rows
that are new or changed; rows in a key range the target has no row in go straight into it by
COPY, and so do a job's window's rows when the target has none in that window (a stored key
elsewhere undoes that COPY). `validate_and_load` validates while it copies. Counts come from the
database.

Everything here runs inside the caller's transaction; the caller commits or rolls back the whole
window. `classify` answers the same question read-only, for dry runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import Enum
from functools import partial
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import Copy, sql

from etl.contracts import TableSpec
from etl.validate import Rejected, Validated, table_spec, validate
from selfheal.core.db import set_config

STAGING = "etl_staging"
SCHEMA = "public"
WORK_MEM = "256MB"
# How psycopg writes each column type in binary COPY: the server reads char(n) as text bytes.
WIRE_TYPES = {
    "bigint": "int8",
    "char(3)": "text",
    "date": "date",
    "jsonb": "jsonb",
    "numeric(18,4)": "numeric",
    "text": "text",
    "timestamptz": "timestamptz",
    "uuid": "uuid",
}
# Types whose order is the same in Python and PostgreSQL (text is not: collations differ).
RANGED_TYPES = ("date", "timestamptz")


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


def _join_on(spec: TableSpec, stored: str) -> sql.Composed:
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(stored, k), sql.Identifier("s", k))
        for k in spec.key
    )


def _changed(spec: TableSpec, old: str, new: str) -> sql.Composed:
    """`(old.v1, ...) IS DISTINCT FROM (new.v1, ...)` over the non-key columns."""
    return sql.SQL("ROW({}) IS DISTINCT FROM ROW({})").format(
        _columns(spec, spec.values, old), _columns(spec, spec.values, new)
    )


class Reach(Enum):
    """Which of the target's rows a classification looks at for the staged rows' keys."""

    WINDOW = "the rows whose window column lies between the staged rows' least and greatest"
    WINDOW_THEN_KEY = "those, then the key's index for each staged row not found among them"
    TABLE = "every row"


def _classified(spec: TableSpec, source: sql.Composable, reach: Reach) -> sql.Composed:
    """Each staged row with `is_new` / `is_changed` against the target's current rows.

    WINDOW reads only the target's rows whose window column (`TableSpec.windowed_by`) lies
    between the parameters `low` and `high` (`_bounds`), and joins them by hash. That is exact
    when the window column leads the key (sources A and B): a stored row of a staged key has the
    same window value. Events are keyed by id: a staged event not found in the window may be new
    or stored at another time, and WINDOW_THEN_KEY looks each of those up by key (a One-Time
    Filter skips the probe for the others; OFFSET 0 keeps the planner from turning the lookups
    into a join that hashes the whole table). Reading the whole table instead hashed all of it:
    re-loading 300,000 events of a 3,300,000-row table took 2.2 s for the join (450 MB of hash),
    0.3 s within the window; 30,000 source-A rows of a 1,000,000-row table 0.33 s. As parameters,
    not subqueries, the bounds are known when the query is planned, and the staged rows are read
    once for both (an unchanged re-load of 300,000 source-A rows: the join 0.27 s, 0.20 s with
    the bounds read).
    """
    near = sql.Identifier("cur", spec.key[0])
    within = sql.SQL("")
    if reach is not Reach.TABLE:
        window = sql.Identifier("cur", spec.windowed_by)
        within = sql.SQL(" AND {} BETWEEN %(low)s AND %(high)s").format(window)
    columns = {
        "cols": _columns(spec, spec.names, "s"),
        "near": near,
        "changed": _changed(spec, "cur", "s"),
        "source": source,
        "target": _target(spec),
        "on": _join_on(spec, "cur"),
        "within": within,
    }
    if reach is not Reach.WINDOW_THEN_KEY:
        return sql.SQL(
            "SELECT {cols}, {near} IS NULL AS is_new, {changed} AS is_changed"
            " FROM {source} AS s LEFT JOIN {target} AS cur ON {on}{within}"
        ).format(**columns)
    return sql.SQL(
        "SELECT {cols}, {near} IS NULL AND {far} IS NULL AS is_new,"
        " CASE WHEN {near} IS NOT NULL THEN {changed} ELSE {far_changed} END AS is_changed"
        " FROM {source} AS s LEFT JOIN {target} AS cur ON {on}{within}"
        " LEFT JOIN LATERAL (SELECT {stored} FROM {target} AS far"
        " WHERE {near} IS NULL AND {far_on} OFFSET 0) AS far ON true"
    ).format(
        **columns,
        far=sql.Identifier("far", spec.key[0]),
        far_changed=_changed(spec, "far", "s"),
        stored=_columns(spec, spec.names),
        far_on=_join_on(spec, "far"),
    )


def _bounds(conn: psycopg.Connection, spec: TableSpec, source: sql.Composable) -> dict[str, Any]:
    """The least and greatest window column of the staged rows, as `_classified`'s bounds."""
    column = sql.Identifier(spec.windowed_by)
    query = sql.SQL("SELECT min({c}), max({c}) FROM {s}").format(c=column, s=source)
    low, high = conn.execute(query).fetchone()
    return {"low": low, "high": high}


def stage(conn: psycopg.Connection, spec: TableSpec, rows: Sequence[Sequence[Any]]) -> int:
    """Create the transaction's staging table, COPY the rows into it; the count the server took."""
    return _copy(conn, _new_staging(conn, spec), spec, rows, freeze=True)


def _new_staging(conn: psycopg.Connection, spec: TableSpec) -> sql.Identifier:
    """The staging table, new in this (sub)transaction: COPY may then FREEZE its rows, so later
    scans need not set hint bits."""
    conn.execute(
        sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(
            sql.Identifier(STAGING), column_definitions(spec)
        )
    )
    return sql.Identifier(STAGING)


def column_definitions(spec: TableSpec) -> sql.Composed:
    """`name type, ...` of the loaded columns: a table's definition for them."""
    return sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(sql_type))
        for name, sql_type in spec.columns
    )


def _copy(
    conn: psycopg.Connection,
    table: sql.Composable,
    spec: TableSpec,
    rows: Sequence[Sequence[Any]],
    freeze: bool = False,
) -> int:
    """COPY `rows` into `table`; the count the server took."""
    with conn.cursor() as cur:
        with _copy_in(cur, table, spec, freeze) as pipe:
            _write_rows(pipe, rows)
        return cur.rowcount


@contextmanager
def _copy_in(
    cur: psycopg.Cursor, table: sql.Composable, spec: TableSpec, freeze: bool = False
) -> Iterator[Copy]:
    """A binary COPY into `table`. Binary, because the server then reads timestamps, dates and
    numbers without parsing text: 300,000 source-B rows took 0.12 s against 0.6 s in text
    (bench/bench_etl.py shows both)."""
    copy = sql.SQL("COPY {} ({}) FROM STDIN ({}FORMAT BINARY)").format(
        table, _columns(spec, spec.names), sql.SQL("FREEZE, " if freeze else "")
    )
    with cur.copy(copy) as pipe:
        pipe.set_types([WIRE_TYPES[sql_type] for _, sql_type in spec.columns])
        yield pipe


def _write_rows(pipe: Copy, rows: Sequence[Sequence[Any]]) -> None:
    for row in rows:
        pipe.write_row(row)


def upsert_staged(conn: psycopg.Connection, spec: TableSpec, staged: int) -> LoadCounts:
    """Write the staged rows that are new or changed; rows equal to the target are not touched.

    One read classifies the staged rows, so an all-unchanged load costs a single join. New rows go
    in through a plain INSERT (much faster than speculative insertion on bulk loads, and safe
    because the caller holds the source's advisory lock); changed rows through `INSERT ... ON
    CONFLICT DO UPDATE ... WHERE` they really differ. Unchanged rows are neither written nor locked.
    """
    staging = sql.Identifier(STAGING)
    bounds = _bounds(conn, spec, staging)
    expected, reach = _classes(conn, spec, staging, bounds)
    inserted = updated = 0
    if expected.inserted:
        inserted = conn.execute(_insert_new(spec, staging, reach), bounds).rowcount
    if expected.updated:
        updated = conn.execute(_update_changed(spec, staging, reach), bounds).rowcount
    return LoadCounts(inserted, updated, staged - inserted - updated)


def _classes(
    conn: psycopg.Connection, spec: TableSpec, source: sql.Composable, params: dict[str, Any]
) -> tuple[LoadCounts, Reach]:
    """The rows of `source` counted as new, changed and unchanged against the target's rows in
    their window, and the reach that counted them: when some are not there and the window column
    does not lead the key, they are looked up by key too (new, or stored at another time)."""
    # The joins hash one side: enough memory keeps it from spilling to temporary files. No JIT:
    # the lookups by key of WINDOW_THEN_KEY cost the plan enough to compile it, which took 0.13 s
    # of 0.40-0.76 s for 300,000 staged events (0.31-0.38 s without).
    set_config(conn, {"work_mem": WORK_MEM, "jit": "off"}, local=True)
    reach = Reach.WINDOW
    counts = _count_classes(conn, spec, source, reach, params)
    if counts.inserted and spec.windowed_by != spec.key[0]:
        reach = Reach.WINDOW_THEN_KEY
        counts = _count_classes(conn, spec, source, reach, params)
    return counts, reach


def _insert_new(spec: TableSpec, source: sql.Composable, reach: Reach) -> sql.Composed:
    return sql.SQL(
        "INSERT INTO {target} ({cols}) SELECT {cols} FROM ({classified}) AS c WHERE c.is_new"
    ).format(
        target=_target(spec),
        cols=_columns(spec, spec.names),
        classified=_classified(spec, source, reach),
    )


def _update_changed(spec: TableSpec, source: sql.Composable, reach: Reach) -> sql.Composed:
    assignments = sql.SQL(", ").join(
        [sql.SQL("{0} = excluded.{0}").format(sql.Identifier(name)) for name in spec.values]
        + [sql.SQL("loaded_at = now()")]
    )
    return sql.SQL(
        "INSERT INTO {target} AS t ({cols})"
        " SELECT {cols} FROM ({classified}) AS c WHERE c.is_changed AND NOT c.is_new"
        " ON CONFLICT ({key}) DO UPDATE SET {assignments} WHERE {really_changed}"
    ).format(
        target=_target(spec),
        cols=_columns(spec, spec.names),
        classified=_classified(spec, source, reach),
        key=_columns(spec, spec.key),
        assignments=assignments,
        really_changed=_changed(spec, "t", "excluded"),
    )


def _count_classes(
    conn: psycopg.Connection,
    spec: TableSpec,
    source: sql.Composable,
    reach: Reach,
    params: dict[str, Any],
) -> LoadCounts:
    """How many rows of `source` are new, changed and unchanged against the target's rows that
    `reach` looks at (with Reach.WINDOW, "new" may be stored outside the window)."""
    query = sql.SQL(
        "SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE is_changed AND NOT is_new),"
        " count(*) FILTER (WHERE NOT is_changed AND NOT is_new) FROM ({}) AS c"
    ).format(_classified(spec, source, reach))
    return LoadCounts(*conn.execute(query, params).fetchone())


def load(conn: psycopg.Connection, spec: TableSpec, rows: Sequence[Sequence[Any]]) -> LoadCounts:
    """Stage and upsert `rows` (unique by key) in the caller's transaction; rows whose key range
    the target has no row in yet are all new, and go straight into it."""
    if not rows:
        return LoadCounts()
    first = list(map(itemgetter(spec.names.index(spec.key[0])), rows))
    if _straight_in(conn, spec, spec.key[0], min(first), max(first)):
        return LoadCounts(inserted=_copy(conn, _target(spec), spec, rows))
    return upsert_staged(conn, spec, stage(conn, spec, rows))


def _straight_in(
    conn: psycopg.Connection, spec: TableSpec, column: str, low: Any, high: Any
) -> bool:
    """Whether rows whose `column` lies between `low` and `high` may be copied straight into the
    target: it has no row there, and row-level security does not apply to this role.

    When `column` is the first key column, none of the rows (unique by key) can be there. When it
    is the window's column of a table keyed otherwise (events, by id), the rows are presumably
    new: a stored key fails the COPY, which the caller then undoes. COPY writes them straight
    into the target, skipping the staging table and the join, at about twice the speed (the first
    load of a window: a backfill, a new day). An index on `column` answers at once (the domain
    tables have one on each). Like the plain INSERT of `upsert_staged`, this relies on the
    source's advisory lock held by the caller. A role the table's policies apply to loads through
    staging: COPY FROM refuses it, where an INSERT is checked against the policies.
    """
    if not _ranged(spec, column):
        return False
    query = sql.SQL(
        "SELECT NOT row_security_active(%s::regclass)"
        " AND NOT EXISTS (SELECT FROM {} WHERE {} BETWEEN %s AND %s)"
    ).format(_target(spec), sql.Identifier(column))
    return conn.execute(query, (_target(spec).as_string(conn), low, high)).fetchone()[0]


def _ranged(spec: TableSpec, column: str) -> bool:
    """Whether a range of `column` found in Python holds the same rows in PostgreSQL."""
    return dict(spec.columns)[column] in RANGED_TYPES


def validate_and_load(
    conn: psycopg.Connection,
    source: str,
    payloads: Sequence[Any],
    not_after: datetime | None,
    zone: tzinfo,
    span: tuple[Any, Any] | None,
) -> tuple[Validated, LoadCounts]:
    """Validate the payloads (`etl.validate.validate`) and load their rows as `load` does, in the
    caller's transaction. `span`: the least and greatest value of the table's window column
    (`TableSpec.windowed_by`) the payloads should have (the job's window), or None.

    Each chunk of rows is copied as soon as it is checked, so the server writes while Python
    checks the next chunk (300,000 source-A rows in bench/bench_etl.py: 0.69 s, against 0.50 s
    to check them plus 0.54 s to COPY them into the target): straight into the target when it
    has no row in `span` (the rows are presumably all new), else into the staging table. A key
    that repeats in the payloads, or is in the target after all (a row outside the window),
    undoes that COPY: the rows then load by `load`.
    """
    spec = table_spec(source)
    straight = span is not None and _straight_in(conn, spec, spec.windowed_by, *span)
    checked, copied = _copied_while_validating(
        conn, spec, source, payloads, not_after, zone, straight
    )
    if copied is None:
        if checked is None:
            checked = validate(source, payloads, not_after, zone)
        return checked, load(conn, spec, checked.rows)
    if straight:
        return checked, LoadCounts(inserted=copied)
    return checked, upsert_staged(conn, spec, copied)


def _copied_while_validating(
    conn: psycopg.Connection,
    spec: TableSpec,
    source: str,
    payloads: Sequence[Any],
    not_after: datetime | None,
    zone: tzinfo,
    straight: bool,
) -> tuple[Validated | None, int | None]:
    """(validated, rows copied) into the target (`straight`) or a new staging table. When a key
    repeats, nothing is left written and the count is None (validated is None too when the COPY
    failed before validation ended)."""
    checked = None
    try:
        with conn.transaction(), conn.cursor() as cur:  # a savepoint, undone on a repeated key
            table = _target(spec) if straight else _new_staging(conn, spec)
            with _copy_in(cur, table, spec, freeze=not straight) as pipe:
                write = partial(_write_rows, pipe)
                checked = validate(source, payloads, not_after, zone, on_rows=write)
            if not checked.duplicates:
                return checked, cur.rowcount
            raise psycopg.Rollback
    except psycopg.errors.UniqueViolation:
        pass
    return checked, None


def classify(
    conn: psycopg.Connection,
    spec: TableSpec,
    rows: Sequence[Sequence[Any]],
    *,
    whole_table: bool = False,
) -> LoadCounts:
    """What `load` would do, computed read-only (rows passed as arrays, no staging table), against
    the target's rows in the rows' window as `load` does. `whole_table` reads every row instead,
    as it must when the window column's order in Python may not be PostgreSQL's: the reference
    the tests hold the windowed classification to."""
    if not rows:
        return LoadCounts()
    names = [f"column_{number}" for number in range(len(spec.columns))]
    arrays = sql.SQL(", ").join(
        sql.SQL("{}::{}[]").format(sql.Placeholder(name), sql.SQL(sql_type))
        for name, (_, sql_type) in zip(names, spec.columns, strict=True)
    )
    source = sql.SQL("(SELECT * FROM unnest({}) AS u({}))").format(
        arrays, _columns(spec, spec.names)
    )
    params: dict[str, Any] = {
        name: list(column) for name, column in zip(names, zip(*rows, strict=True), strict=True)
    }
    if whole_table or not _ranged(spec, spec.windowed_by):
        return _count_classes(conn, spec, source, Reach.TABLE, params)
    window = params[names[spec.window_index]]
    params |= {"low": min(window), "high": max(window)}
    return _classes(conn, spec, source, params)[0]


def quarantine(
    conn: psycopg.Connection, run_id: int | None, source: str, rejected: Sequence[Rejected]
) -> None:
    """Keep each rejected payload once per source: one rejected again (a look-back re-run) is
    not inserted again; its row then names the latest run that rejected it."""
    if not rejected:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO public.etl_quarantine (run_id, source, raw_payload, reason, payload_sha256)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (source, payload_sha256) DO UPDATE SET run_id = excluded.run_id",
            [(run_id, source, r.raw_payload, r.reason, _sha256(r.raw_payload)) for r in rejected],
        )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
