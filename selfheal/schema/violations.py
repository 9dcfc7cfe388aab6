"""The rows that violate a check or foreign key constraint that was never validated.

A constraint added `NOT VALID` (as the doctor restores one) guards new rows at once; the rows
written before it may still violate it, and `VALIDATE CONSTRAINT` fails until they are fixed.
These read-only queries find them for the ticket: how many, and a few of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from selfheal.catalog import Constraint
from selfheal.core.readonly import Reader

SAMPLE_ROWS = 10


@dataclass(frozen=True)
class Violations:
    count: int
    samples: list[dict[str, Any]]
    query: str


def violating(constraint: Constraint) -> sql.Composed | None:
    """`FROM <table> AS t WHERE <t violates the constraint>`; None for kinds it cannot judge."""
    table = sql.Identifier(constraint.schema, constraint.table)
    if constraint.type == "c":
        expression = constraint.definition.removeprefix("CHECK ").removesuffix(" NO INHERIT")
        # A check passes when its expression is true or null: it fails only when false.
        return sql.SQL("FROM {} AS t WHERE NOT {}").format(table, sql.SQL(expression))
    if constraint.type == "f" and constraint.referenced_table and constraint.referenced_columns:
        # MATCH SIMPLE: a row with a null in its key references nothing and passes.
        present = [
            sql.SQL("t.{} IS NOT NULL").format(sql.Identifier(c)) for c in constraint.columns
        ]
        matches = [
            sql.SQL("p.{} = t.{}").format(sql.Identifier(r), sql.Identifier(c))
            for r, c in zip(constraint.referenced_columns, constraint.columns, strict=True)
        ]
        return sql.SQL(
            "FROM {} AS t WHERE {} AND NOT EXISTS (SELECT FROM {} AS p WHERE {})"
        ).format(
            table,
            sql.SQL(" AND ").join(present),
            sql.Identifier(*constraint.referenced_table),
            sql.SQL(" AND ").join(matches),
        )
    return None


def find_violations(reader: Reader, constraint: Constraint) -> Violations | None:
    """How many rows violate `constraint`, and a few of them (None: a kind not judged here)."""
    where = violating(constraint)
    if where is None:
        return None
    rows = sql.SQL("SELECT t.* ") + where
    count = reader.value(sql.SQL("SELECT count(*) ") + where)
    samples = reader.rows(rows + sql.SQL(" LIMIT {}").format(SAMPLE_ROWS), row_factory=dict_row)
    return Violations(count, samples, rows.as_string(None))
