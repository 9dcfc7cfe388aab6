"""All aggregate rules of one table -> one SELECT, scanned once.

    SELECT count(*), now(), <rule 1 aggregates FILTER (WHERE ...)>, <rule 2 ...>
    FROM <table> WHERE <table where>

A rule with its own `where` also gets its own `count(*) FILTER (WHERE ...)` as the denominator of
its fraction. PostgreSQL computes identical aggregates once, so repeating `count(*)` costs nothing.
A table checked incrementally also selects max(<watermark column>) last; its incremental scan
reads only the rows beyond the stored watermark (`compile_since`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from selfheal.dq.rules import (
    COUNT_ROWS,
    NEW_ROWS,
    Aggregate,
    CustomCheck,
    Rule,
    Table,
    conjunction,
    ident,
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
    watermark: int | None = None  # position of max(<watermark column>), when selected


def _filtered(aggregate: Aggregate, rule_where: sql.Composable | None) -> sql.Composable:
    condition = conjunction(aggregate.condition, rule_where)
    if condition is None:
        return aggregate.call
    return sql.SQL("{} FILTER (WHERE {})").format(aggregate.call, condition)


def _fused(
    source: sql.Composable,
    where: sql.Composable | None,
    planned: Mapping[Rule, Sequence[Aggregate]],
    watermark: str | None,
    prior: Mapping[str, Sequence[Any]],
) -> FusedQuery:
    """One SELECT of every planned aggregate; a "max" aggregate with a prior value (stored by an
    earlier scan) selects the greater of the two."""
    selected: list[sql.Composable] = [COUNT_ROWS, sql.SQL("now()")]
    slots: dict[str, Slot] = {}
    for rule, aggregates in planned.items():
        rule_where = raw_condition(rule.where)
        scope = ROWS
        if rule_where is not None:
            scope = len(selected)
            selected.append(_filtered(Aggregate(COUNT_ROWS), rule_where))
        start = len(selected)
        before = prior.get(rule.id, [None] * len(aggregates))
        for aggregate, value in zip(aggregates, before, strict=True):
            call = _filtered(aggregate, rule_where)
            if aggregate.merge == "max" and value is not None:
                call = sql.SQL("greatest({}, {})").format(call, sql.Literal(value))
            selected.append(call)
        slots[rule.id] = Slot(scope, start, len(selected))
    position = None
    if watermark is not None:
        position = len(selected)
        selected.append(sql.SQL("max({})").format(ident(watermark)))
    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(selected), source)
    if where is not None:
        query += sql.SQL(" WHERE {}").format(where)
    return FusedQuery(query, slots, position)


def compile_table(
    table: Table,
    rules: Sequence[Rule],
    info: TableInfo,
    plans: Mapping[str, list[Aggregate]] | None = None,
) -> FusedQuery:
    """The fused SELECT; `plans` replaces the aggregates of the rules it names (by rule id)."""
    plans = plans or {}
    planned = {rule: plans.get(rule.id) or rule.aggregates(info) for rule in rules}
    return _fused(table.identifier, raw_condition(table.where), planned, table.incremental, {})


def beyond(table: Table, watermark: str) -> sql.Composable:
    """The rows loaded after the watermark (its column greater than the stored value)."""
    return sql.SQL("{} > {}").format(ident(table.incremental or ""), sql.Literal(watermark))


def compile_since(
    table: Table,
    planned: Mapping[Rule, Sequence[Aggregate]],
    watermark: str,
    prior: Mapping[str, Sequence[Any]],
) -> FusedQuery:
    """The fused SELECT of the rows beyond `watermark` only (aliased NEW_ROWS for rules that
    compare them with the old rows); `prior` holds each rule's stored values."""
    source = sql.SQL("{} AS {}").format(table.identifier, NEW_ROWS)
    where = conjunction(raw_condition(table.where), beyond(table, watermark))
    return _fused(source, where, planned, table.incremental, prior)


def compile_custom(check: CustomCheck, limit: int) -> sql.Composed:
    """The check's query as given, counted in full and cut to a sample in the same statement."""
    return sql.SQL(
        "SELECT count(*) OVER () AS {count}, v.* FROM ({body}) AS v LIMIT {limit}"
    ).format(count=sql.Identifier(VIOLATIONS), body=sql.SQL(check.body), limit=sql.Literal(limit))
