"""Deterministic sample rows in every table of the scratch database, constraint-aware.

Before a file runs, each table it could touch holds rows, so that what the file does to rows
can be seen. Rows are built server-side from `generate_series`: a value per column from its type
(integers, text within its length, uuids, dates, enums, arrays, json, ...), literals found in
the table's CHECK constraints and partition bounds as alternatives, foreign keys pointing at
rows of the (already seeded) referenced table, identity, serial and generated columns left to
the database. Each value is cast to its column's type (as `format_type` spells it), candidate
rows failing a CHECK or partition constraint are filtered out, and `ON CONFLICT DO NOTHING` skips
duplicates of a unique key. Triggers do not fire (`session_replication_role = replica`).
What cannot be seeded is reported, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

import psycopg
from psycopg import sql

ROWS = 200  # per table; a few hundred is enough to see any change to rows
_POOL = 4  # candidate rows generated per row kept, before constraints filter them

_TABLES = """
SELECT c.oid, n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       coalesce(pg_get_partition_constraintdef(c.oid), ''),
       coalesce((SELECT array_agg(pg_get_expr(o.conbin, o.conrelid)) FROM pg_constraint o
                 WHERE o.conrelid = c.oid AND o.contype = 'c'), '{}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
  AND c.oid <> ALL(%(skip)s) AND (%(only)s::oid[] IS NULL OR c.oid = ANY(%(only)s))
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, a.attnotnull,
       a.attidentity <> '' OR a.attgenerated <> ''
         OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE '%%nextval(%%' AS automatic,
       d.adbin IS NOT NULL AS has_default,
       bt.typname, bt.typcategory, coalesce(nullif(a.atttypmod, -1), t.typtypmod),
       coalesce((SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
                 WHERE e.enumtypid = coalesce(nullif(bt.typelem, 0), bt.oid)), '{}'),
       et.typname, et.typcategory, a.attndims > 0 OR bt.typcategory = 'A',
       format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_FOREIGN_KEYS = """
SELECT o.conrelid, o.confrelid, n.nspname, c.relname,
       ARRAY(SELECT attname FROM pg_attribute a JOIN unnest(o.conkey) WITH ORDINALITY k(num, i)
             ON a.attnum = k.num AND a.attrelid = o.conrelid ORDER BY k.i),
       ARRAY(SELECT attname FROM pg_attribute a JOIN unnest(o.confkey) WITH ORDINALITY k(num, i)
             ON a.attnum = k.num AND a.attrelid = o.confrelid ORDER BY k.i)
FROM pg_constraint o JOIN pg_class c ON c.oid = o.confrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE o.contype = 'f' AND o.conrelid = ANY(%s)
"""


@dataclass
class Column:
    name: str
    not_null: bool
    automatic: bool  # identity, serial or generated: the database fills it
    has_default: bool
    type_name: str
    category: str  # pg_type.typcategory of the (base) type
    typmod: int
    labels: list[str]  # enum labels
    element_type: str | None
    element_category: str | None
    is_array: bool
    sql_type: str  # the type as SQL spells it (format_type), to cast values to
    literals: list[str] = field(default_factory=list)


@dataclass
class ForeignKey:
    parent_oid: int
    parent: tuple[str, str]
    columns: list[str]
    parent_columns: list[str]


@dataclass
class Table:
    oid: int
    schema: str
    name: str
    label: str  # schema.table, quoted as quote_ident would
    constraints: list[str]  # CHECK expressions and the partition constraint, as SQL text
    columns: list[Column] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)


@dataclass
class SeedResult:
    tables: dict[int, Table] = field(default_factory=dict)  # the tables it tried to seed
    problems: list[tuple[str, str]] = field(default_factory=list)  # (table, why not seeded)


def read_tables(
    conn: psycopg.Connection, skip: list[int], only: list[int] | None = None
) -> dict[int, Table]:
    """Every permanent ordinary table (partitions included) not in `skip`, with its shape."""
    tables = {
        row[0]: Table(row[0], row[1], row[2], row[3], [e for e in [row[4], *row[5]] if e])
        for row in conn.execute(_TABLES, {"skip": skip, "only": only})
    }
    oids = list(tables)
    for row in conn.execute(_COLUMNS, (oids,)):
        tables[row[0]].columns.append(Column(*row[1:]))
    for row in conn.execute(_FOREIGN_KEYS, (oids,)):
        tables[row[0]].foreign_keys.append(ForeignKey(row[1], (row[2], row[3]), row[4], row[5]))
    for table in tables.values():
        for column in table.columns:
            literals = _literals_for(column.name, table.constraints)
            column.literals = [v for v in literals if _fits(column, v)]
    return tables


_STRING = re.compile(r"'((?:[^']|'')*)'")
_NUMBER = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)(?![\w.])")


def _literals_for(column: str, constraints: list[str]) -> list[str]:
    """Literals of the constraints that mention the column: values the constraint likely wants."""
    pattern = re.compile(rf'(?<![\w"]){re.escape(column)}(?![\w"])|"{re.escape(column)}"')
    found: list[str] = []
    for expression in constraints:
        if pattern.search(expression):
            found += [m.replace("''", "'") for m in _STRING.findall(expression)]
            found += _NUMBER.findall(_STRING.sub("''", expression))
    return list(dict.fromkeys(found))[:20]


_FITS = {  # what a literal must look like to be tried as a value of a type category
    "N": re.compile(r"-?\d+(\.\d+)?"),
    "B": re.compile(r"(?i)true|false|t|f"),
    "D": re.compile(r"\d{4}-\d{2}-\d{2}.*|\d{2}:\d{2}.*"),
    "U": re.compile(r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
}


def _fits(column: Column, literal: str) -> bool:
    """Whether a constraint's literal can be a value of the column (the text-like take any)."""
    if column.labels:
        return literal in column.labels
    if column.category == "S":
        return True
    pattern = _FITS.get(column.category)
    return bool(pattern and pattern.fullmatch(literal))


def _generic(column: Column, g: sql.Composable) -> sql.Composable | None:
    """A value for the column from the row number `g`, or None when its type is unknown."""
    if column.is_array:
        element = Column(
            column.name,
            True,
            False,
            False,
            column.element_type or "",
            column.element_category or "",
            -1,
            column.labels,
            None,
            None,
            False,
            "",
        )
        inner = _generic(element, g)
        return None if inner is None else sql.SQL("ARRAY[{}]").format(inner)
    return _scalar(column, g)


def _scalar(column: Column, g: sql.Composable) -> sql.Composable | None:
    kind, category, typmod = column.type_name, column.category, column.typmod
    if column.labels:
        return sql.SQL("({}::text[])[1 + {} % {}]").format(
            sql.Literal(column.labels), g, sql.Literal(len(column.labels))
        )
    if kind in ("int2", "int4", "int8", "oid"):
        return sql.SQL("({} % 30000)").format(g)
    if kind == "numeric":
        if typmod > 4:
            precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
            bound = 10 ** max(precision - scale, 0)
            return sql.SQL("({} % {})::numeric").format(g, sql.Literal(max(bound - 1, 1)))
        return sql.SQL("({} + 0.25)::numeric").format(g)
    if kind in ("float4", "float8"):
        return sql.SQL("({} + 0.5)::float8").format(g)
    if kind == "bool":
        return sql.SQL("({} % 2 = 0)").format(g)
    if kind == "uuid":
        return sql.SQL("md5({}::text)::uuid").format(g)
    if kind == "date":
        return sql.SQL("date '2024-01-01' + ({} % 3000)::int").format(g)
    if kind in ("timestamp", "timestamptz"):
        return sql.SQL("timestamp '2024-01-01' + {} * interval '1 hour'").format(g)
    if kind in ("time", "timetz"):
        return sql.SQL("(time '00:00' + {} * interval '1 second')").format(g)
    if kind == "interval":
        return sql.SQL("{} * interval '1 minute'").format(g)
    if kind in ("json", "jsonb"):
        return sql.SQL("jsonb_build_object('n', {})").format(g)
    if kind == "bytea":
        return sql.SQL("decode(md5({}::text), 'hex')").format(g)
    if kind in ("inet", "cidr"):
        octets = "'10.' || ({0} / 62500) % 250 || '.' || ({0} / 250) % 250 || '.' || {0} % 250"
        return sql.SQL(octets).format(g)
    if category == "S":
        length = typmod - 4 if typmod > 4 else 40
        return sql.SQL("left('s' || {}, {})").format(g, sql.Literal(length))
    return None


def _value(column: Column, g: sql.Composable) -> sql.Composable | None:
    """The column's value, of its type: its generic value, or in turn one of its constraint
    literals."""
    generic = _generic(column, g)
    if not column.literals or column.is_array:
        return None if generic is None else _cast(generic, column)
    options = [sql.SQL("{}::text").format(sql.Literal(v)) for v in column.literals]
    if generic is not None:
        options.append(generic)
    cases = sql.SQL(" ").join(
        sql.SQL("WHEN {} THEN {}").format(sql.Literal(i), _cast(option, column))
        for i, option in enumerate(options)
    )
    return sql.SQL("CASE {} % {} {} END").format(g, sql.Literal(len(options)), cases)


def _cast(value: sql.Composable, column: Column) -> sql.Composable:
    # The type's name as the server spelled it (format_type quotes what needs quoting).
    return sql.SQL("CAST({} AS {})").format(value, sql.SQL(column.sql_type))


class CannotSeed(Exception):
    """A table cannot hold generated rows; the message says why."""


def _candidates(table: Table, start: int, count: int, parents: dict[int, int]) -> sql.Composable:
    """SELECT of `count` candidate rows `x` of the table's columns, filtered by its constraints."""
    g = sql.Identifier("selfheal_guard_g")
    filled = 0
    by_fk = {c: fk for fk in table.foreign_keys for c in fk.columns}
    values: list[sql.Composable] = []
    for column in table.columns:
        value = None
        if not column.automatic:
            fk = by_fk.get(column.name)
            value = _foreign_value(table, fk, column, parents, g) if fk else _value(column, g)
            if value is None and column.not_null and not column.has_default:
                raise CannotSeed(f"no value for NOT NULL column {column.name} ({column.type_name})")
        name = sql.Identifier(column.name)
        if value is None:
            value = _cast(sql.SQL("NULL"), column)
        else:
            filled += 1
        values.append(sql.SQL("{} AS {}").format(value, name))
    if not filled:
        raise CannotSeed("no column the guard can fill")
    # As a constraint does, a row passes unless an expression is false (NULL passes). The
    # row `x` has every column of the table (the automatic ones NULL), as the constraints see it.
    checks = [sql.SQL("({}) IS NOT FALSE").format(sql.SQL(c)) for c in table.constraints]
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(checks) if checks else sql.SQL("")
    return sql.SQL(
        "SELECT x.* FROM (SELECT {values} FROM generate_series({start}, {end}) {g}) x{where}"
    ).format(
        values=sql.SQL(", ").join(values),
        start=sql.Literal(start),
        end=sql.Literal(start + count - 1),
        g=g,
        where=where,
    )


def _foreign_value(
    table: Table, fk: ForeignKey, column: Column, parents: dict[int, int], g: sql.Composable
) -> sql.Composable | None:
    """Row number g takes the parent row numbered g % its row count, in physical order, as the
    parent holds its rows when the INSERT runs. The parent's column is read once into an array
    (an InitPlan), so candidate rows are generated only until enough pass."""
    if parents.get(fk.parent_oid, 0) == 0 or fk.parent_oid == table.oid:
        if column.not_null:
            raise CannotSeed(f"{column.name} must reference a row of an empty table")
        return None
    parent = sql.Identifier(*fk.parent)
    referenced = sql.Identifier(fk.parent_columns[fk.columns.index(column.name)])
    return sql.SQL(
        "(SELECT array_agg({c} ORDER BY ctid) FROM {p})"
        "[1 + {g} % (SELECT nullif(count(*), 0) FROM {p})]"
    ).format(c=referenced, p=parent, g=g)


def insert_query(
    table: Table,
    start: int,
    count: int,
    parents: dict[int, int],
    skip_duplicates: bool = True,
) -> sql.Composable:
    """INSERT of up to `count` generated rows, numbered from `start`."""
    columns = [c.name for c in table.columns if not c.automatic]
    conflict = sql.SQL(" ON CONFLICT DO NOTHING" if skip_duplicates else "")
    return sql.SQL(
        "INSERT INTO {table} ({cols}) SELECT {cols} FROM ({rows}) r LIMIT {limit}{conflict}"
    ).format(
        conflict=conflict,
        table=sql.Identifier(table.schema, table.name),
        cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
        rows=_candidates(table, start, count * _POOL, parents),
        limit=sql.Literal(count),
    )


def _order(tables: dict[int, Table]) -> list[Table]:
    """Referenced tables first; a cycle is broken where it is found."""
    graph = {
        oid: {
            fk.parent_oid
            for fk in t.foreign_keys
            if fk.parent_oid in tables and fk.parent_oid != oid
        }
        for oid, t in tables.items()
    }
    try:
        return [tables[oid] for oid in TopologicalSorter(graph).static_order()]
    except CycleError:
        return sorted(tables.values(), key=lambda t: len(graph[t.oid]))


def row_counts(conn: psycopg.Connection, oids: list[int]) -> dict[int, int]:
    if not oids:
        return {}
    names = conn.execute(
        "SELECT c.oid, n.nspname, c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY(%s)",
        (oids,),
    ).fetchall()
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}::oid, count(*) FROM {}").format(sql.Literal(o), sql.Identifier(s, n))
        for o, s, n in names
    )
    return {row[0]: row[1] for row in conn.execute(query)}


def seed(
    conn: psycopg.Connection, skip: list[int], known_rows: dict[int, int], rows: int = ROWS
) -> SeedResult:
    """Seed every table not in `skip`, in foreign-key order, in one transaction and one round
    trip (`selfheal_guard.run_each` runs each table's INSERT in a subtransaction of its own)."""
    result = SeedResult()
    with conn.transaction():
        result.tables = read_tables(conn, skip)
        if not result.tables:
            return result
        conn.execute("SET LOCAL session_replication_role = replica")
        # Which parents will hold rows: those that have some, and those seeded here.
        parents = {**known_rows, **row_counts(conn, list(result.tables))}
        inserts: list[tuple[Table, str]] = []
        for table in _order(result.tables):
            try:
                inserts.append((table, insert_query(table, 1, rows, parents).as_string(conn)))
                parents[table.oid] = parents.get(table.oid, 0) + 1
            except CannotSeed as reason:
                result.problems.append((table.label, str(reason)))
        outcomes = conn.execute(
            "SELECT error FROM selfheal_guard.run_each(%s::text[])", ([q for _, q in inserts],)
        ).fetchall()
        for (table, _), (error,) in zip(inserts, outcomes, strict=True):
            if error:
                result.problems.append((table.label, error))
    return result
