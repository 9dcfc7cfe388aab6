"""What the live catalog says about a checked table: columns, unique indexes, foreign keys.

Used to validate the rule files against the database (an unknown table or column, a `where` that
does not compile or calls a volatile function: a problem naming the file, the table and the key)
and to find rules a constraint already proves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from selfheal.core.readonly import Reader
from selfheal.core.text import first_line
from selfheal.dq.rules import CustomCheck, Rule, Table, raw_condition
from selfheal.dq.session import DqSession

if TYPE_CHECKING:
    from selfheal.core.usersql import FunctionPolicy

_TABLE = """
SELECT c.oid, pg_relation_size(c.oid), pg_size_bytes(current_setting('work_mem'))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""
# Per column, its type's extended (64-bit, seeded) hash function from the default hash operator
# class (as the planner picks it: the type's own, else the preferred type it coerces to without a
# function), and whether SQL can call it on the column as is (else the column is hashed as a
# one-field row). None under a nondeterministic collation, whose equal strings differ in bytes.
_COLUMNS = """
SELECT a.attname, a.attnotnull, coalesce(c.collisdeterministic, false), h.schema, h.name, h.direct
FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation
JOIN pg_type d ON d.oid = a.atttypid
JOIN pg_type t ON t.oid = CASE WHEN d.typtype = 'd' THEN d.typbasetype ELSE d.oid END
LEFT JOIN LATERAL (
    SELECT n.nspname AS schema, p.proname AS name,
           p.proargtypes[0] = t.oid OR o.opcintype = 'anyenum'::regtype
           OR EXISTS (SELECT FROM pg_cast k WHERE k.castsource = t.oid
                      AND k.casttarget = p.proargtypes[0] AND k.castmethod = 'b'
                      AND k.castcontext = 'i') AS direct
    FROM pg_opclass o JOIN pg_type ot ON ot.oid = o.opcintype
    JOIN pg_amproc x ON x.amprocfamily = o.opcfamily AND x.amprocnum = 2
         AND x.amproclefttype = o.opcintype AND x.amprocrighttype = o.opcintype
    JOIN pg_proc p ON p.oid = x.amproc JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE o.opcmethod = (SELECT oid FROM pg_am WHERE amname = 'hash') AND o.opcdefault
      AND coalesce(c.collisdeterministic, true)
      AND (o.opcintype = t.oid
           OR o.opcintype = 'anyenum'::regtype AND t.typtype = 'e'
           OR EXISTS (SELECT FROM pg_cast k WHERE k.castsource = t.oid
                      AND k.casttarget = o.opcintype AND k.castmethod = 'b'))
    ORDER BY o.opcintype = t.oid DESC, ot.typispreferred DESC LIMIT 1
) AS h ON true
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
# Key columns only (not INCLUDE columns), of valid, non-partial, non-expression unique indexes.
_UNIQUE = """
SELECT i.relname, x.indisprimary,
       array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, position)
             JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
             WHERE k.position <= x.indnkeyatts ORDER BY k.position)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = %s AND x.indisunique AND x.indisvalid
  AND x.indpred IS NULL AND x.indexprs IS NULL
ORDER BY NOT x.indisprimary, i.relname
"""
# Columns that lead a valid index able to find rows by equality (B-tree, hash) over all rows.
_LEADING = """
SELECT DISTINCT a.attname
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am m ON m.oid = i.relam
JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
WHERE x.indrelid = %s AND x.indisvalid AND x.indpred IS NULL AND m.amname IN ('btree', 'hash')
"""
_FOREIGN = """
SELECT con.conname,
       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, position)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.position),
       rn.nspname, rc.relname,
       array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, position)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.position)
FROM pg_constraint con
JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.conrelid = %s AND con.contype = 'f' AND con.convalidated
"""

ForeignKey = tuple[tuple[str, ...], str, str, tuple[str, ...]]  # columns, schema, table, columns


@dataclass(frozen=True)
class ColumnHash:
    """A column type's extended hash function: `name(value, seed)` -> bigint."""

    schema: str
    name: str
    direct: bool  # callable on the column as is; else on ROW(column), by hash_record_extended

    def call(self, column: str, seed: sql.Composable) -> sql.Composable:
        if self.direct:
            function = sql.Identifier(self.schema, self.name)
            return sql.SQL("{}({}, {})").format(function, sql.Identifier(column), seed)
        return sql.SQL("pg_catalog.hash_record_extended(ROW({}), {})").format(
            sql.Identifier(column), seed
        )


@dataclass(frozen=True)
class TableInfo:
    columns: dict[str, bool]  # name -> NOT NULL
    bytewise: frozenset[str]  # text-like columns whose collation is deterministic
    hashes: dict[str, ColumnHash]  # columns whose equal values hash equal
    primary_key: tuple[str, ...]
    unique_indexes: dict[str, tuple[str, ...]]
    foreign_keys: dict[str, ForeignKey]
    size: int = 0  # bytes of its main fork (0: a view, or a partitioned table's parent)
    work_mem: int = 0  # bytes, the session's (not the table's: read along, for a split scan)
    leading: frozenset[str] = frozenset()  # columns that lead an index (see _LEADING)


def describe(reader: Reader, schema: str, name: str) -> TableInfo | None:
    """The table's catalog facts, or None when there is no such table (or view)."""
    with reader.transaction() as tx:
        found = tx.one(_TABLE, (schema, name))
        if found is None:
            return None
        oid, size, work_mem = found
        attributes = tx.rows(_COLUMNS, (oid,))
        unique = tx.rows(_UNIQUE, (oid,))
        leading = frozenset(name for (name,) in tx.rows(_LEADING, (oid,)))
        foreign = {
            row[0]: (tuple(row[1]), row[2], row[3], tuple(row[4]))
            for row in tx.rows(_FOREIGN, (oid,))
        }
    primary = next((tuple(cols) for _, is_primary, cols in unique if is_primary), ())
    return TableInfo(
        columns={name: not_null for name, not_null, *_ in attributes},
        bytewise=frozenset(name for name, _, deterministic, *_ in attributes if deterministic),
        hashes={row[0]: ColumnHash(*row[3:]) for row in attributes if row[4] is not None},
        primary_key=primary,
        unique_indexes={index: tuple(cols) for index, _, cols in unique},
        foreign_keys=foreign,
        size=size,
        work_mem=work_mem,
        leading=leading,
    )


class Catalog:
    """Table facts and the function policy, fetched once per session."""

    def __init__(self, session: DqSession):
        self._session = session
        self._tables: dict[tuple[str, str], TableInfo | None] = {}
        self._policy: FunctionPolicy | None = None

    def table(self, schema: str, name: str) -> TableInfo | None:
        key = (schema, name)
        if key not in self._tables:
            self._tables[key] = describe(self._session.reader, schema, name)
        return self._tables[key]

    @property
    def policy(self) -> FunctionPolicy:
        if self._policy is None:
            # usersql loads sqlglot (a tenth of a second): only custom SQL needs the policy
            from selfheal.core.usersql import FunctionPolicy

            self._policy = FunctionPolicy.load(self._session.reader, self._session.schemas)
        return self._policy

    def custom_problem(self, check: CustomCheck) -> str | None:
        """Why the custom check cannot run: a missing table or a volatile function."""
        refusal = self.policy.refusal(check.body)
        problem = refusal and check.table.problem("query", refusal)
        return self.table_problem(check.table) or problem

    def table_problem(self, table: Table) -> str | None:
        """Why the table cannot be checked (missing, or its `where` does not compile)."""
        if self.table(table.schema, table.name) is None:
            return table.problem("table", f"no table {table.schema}.{table.name} in the database")
        return self._where_problem(table, "where", table.where)

    def rule_problem(self, rule: Rule) -> str | None:
        """Why the rule cannot run: an unknown column or referenced table, or a bad `where`."""
        info = self.table(rule.table.schema, rule.table.name)
        assert info is not None  # table_problem() is asked first
        for column in rule.columns():
            if column not in info.columns:
                known = ", ".join(info.columns)
                return rule.table.problem(
                    rule.origin, f"unknown column {column!r} (columns: {known})"
                )
        for schema, name, column in rule.foreign_columns():
            other = self.table(schema, name)
            if other is None:
                return rule.table.problem(f"{rule.origin}.to_table", f"no table {schema}.{name}")
            if column not in other.columns:
                return rule.table.problem(
                    f"{rule.origin}.to_column", f"unknown column {column!r} in {schema}.{name}"
                )
        return self._where_problem(rule.table, f"{rule.origin}.where", rule.where)

    def _where_problem(self, table: Table, key: str, where: str | None) -> str | None:
        condition = raw_condition(where)
        if condition is None:
            return None
        refusal = self.policy.refusal(where or "")
        if refusal:
            return table.problem(key, refusal)
        query = sql.SQL("EXPLAIN SELECT 1 FROM {} WHERE {}").format(table.identifier, condition)
        try:
            self._session.fetch(query, table)
        except psycopg.Error as error:
            return table.problem(key, f"does not compile: {first_line(error)}")
        return None
