"""All aggregate rules of one table -> one SELECT, scanned once.

    SELECT count(*), now(), <rule 1 aggregates FILTER (WHERE ...)>, <rule 2 ...>
    FROM <table> WHERE <table where>

A rule with its own `where` also gets its own `count(*) FILTER (WHERE ...)` as the denominator of
its fraction. PostgreSQL computes identical aggregates once, so repeating `count(*)` costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from psycopg import sql

from selfheal.dq.rules import (
    COUNT_ROWS,
    Aggregate,
    CustomCheck,
    Rule,
    Table,
    conjunction,
    raw_condition,
)
from selfheal.dq.tables import TableInfo

ROWS, NOW = 0, 1  # positions of the table-wide values
VIOLATIONS = "selfheal_violations"  # the violation count column of a custom check


@dataclass(frozen=True)
class Slot:
    """Where a rule's values sit in the fused row."""

    scope: int  # its in-scope row count
    start: int
    stop: int


@dataclass(frozen=True)
class FusedQuery:
    query: sql.Composed
    slots: dict[str, Slot]


def _filtered(aggregate: Aggregate, rule_where: sql.Composable | None) -> sql.Composable:
    condition = conjunction(aggregate.condition, rule_where)
    if condition is None:
        return aggregate.call
    return sql.SQL("{} FILTER (WHERE {})").format(aggregate.call, condition)


def compile_table(
    table: Table,
    rules: Sequence[Rule],
    info: TableInfo,
    plans: Mapping[str, list[Aggregate]] | None = None,
) -> FusedQuery:
    """The fused SELECT; `plans` replaces the aggregates of the rules it names (by rule id)."""
    plans = plans or {}
    selected: list[sql.Composable] = [COUNT_ROWS, sql.SQL("now()")]
    slots: dict[str, Slot] = {}
    for rule in rules:
        rule_where = raw_condition(rule.where)
        scope = ROWS
        if rule_where is not None:
            scope = len(selected)
            selected.append(_filtered(Aggregate(COUNT_ROWS), rule_where))
        start = len(selected)
        aggregates = plans.get(rule.id) or rule.aggregates(info)
        selected.extend(_filtered(aggregate, rule_where) for aggregate in aggregates)
        slots[rule.id] = Slot(scope, start, len(selected))
    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(selected), table.identifier)
    table_where = raw_condition(table.where)
    if table_where is not None:
        query += sql.SQL(" WHERE {}").format(table_where)
    return FusedQuery(query, slots)


def compile_custom(check: CustomCheck, limit: int) -> sql.Composed:
    """The check's query as given, counted in full and cut to a sample in the same statement."""
    return sql.SQL(
        "SELECT count(*) OVER () AS {count}, v.* FROM ({body}) AS v LIMIT {limit}"
    ).format(count=sql.Identifier(VIOLATIONS), body=sql.SQL(check.body), limit=sql.Literal(limit))
