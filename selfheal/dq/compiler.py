"""All aggregate rules of one table -> one SELECT, scanned once.

    SELECT count(*), now(), <rule 1 aggregates FILTER (WHERE ...)>, <rule 2 ...>
    FROM <table> WHERE <table where>

A rule with its own `where` also gets its own `count(*) FILTER (WHERE ...)` as the denominator of
its fraction. PostgreSQL computes identical aggregates once, so repeating `count(*)` costs nothing.
A table checked incrementally also selects max(<watermark column>) last; its incremental scan
reads only the rows beyond the stored watermark (`compile_since`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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
    settings: Mapping[str, str] = field(default_factory=dict)  # transaction-local, to run it


def _filtered(aggregate: Aggregate, rule_where: sql.Composable | None) -> sql.Composable:
    condition = conjunction(aggregate.condition, rule_where)
    if condition is None or aggregate.scalar:
        return aggregate.call
    return sql.SQL("{} FILTER (WHERE {})").format(aggregate.call, condition)


@dataclass(frozen=True)
class _Selection:
    """The fused row: each value's expression and its aggregate (None: now())."""

    values: list[tuple[sql.Composable, Aggregate | None]]
    slots: dict[str, Slot]
    watermark: int | None


def _selection(
    planned: Mapping[Rule, Sequence[Aggregate]],
    watermark: str | None,
    prior: Mapping[str, Sequence[Any]],
) -> _Selection:
    """Every planned aggregate; a "max" aggregate with a prior value (stored by an earlier scan)
    selects the greater of the two."""
    rows = Aggregate(COUNT_ROWS, merge="sum")
    values: list[tuple[sql.Composable, Aggregate | None]] = [
        (COUNT_ROWS, rows),
        (sql.SQL("now()"), None),
    ]
    slots: dict[str, Slot] = {}
    for rule, aggregates in planned.items():
        rule_where = raw_condition(rule.where)
        scope = ROWS
        if rule_where is not None:
            scope = len(values)
            values.append((_filtered(rows, rule_where), rows))
        start = len(values)
        before = prior.get(rule.id, [None] * len(aggregates))
        for aggregate, value in zip(aggregates, before, strict=True):
            call = _filtered(aggregate, rule_where)
            if aggregate.merge == "max" and value is not None:
                call = sql.SQL("greatest({}, {})").format(call, sql.Literal(value))
            values.append((call, aggregate))
        slots[rule.id] = Slot(scope, start, len(values))
    position = None
    if watermark is not None:
        position = len(values)
        newest = Aggregate(sql.SQL("max({})").format(ident(watermark)), merge="max")
        values.append((newest.call, newest))
    return _Selection(values, slots, position)


def _fused(
    source: sql.Composable,
    where: sql.Composable | None,
    planned: Mapping[Rule, Sequence[Aggregate]],
    watermark: str | None,
    prior: Mapping[str, Sequence[Any]],
) -> FusedQuery:
    """One SELECT of every planned aggregate."""
    selection = _selection(planned, watermark, prior)
    selected = sql.SQL(", ").join(call for call, _ in selection.values)
    query = sql.SQL("SELECT {} FROM {}").format(selected, source)
    if where is not None:
        query += sql.SQL(" WHERE {}").format(where)
    return FusedQuery(query, selection.slots, selection.watermark)


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


def _split_key(aggregates: Iterable[Aggregate]) -> sql.Composable | None:
    """The expression by which every aggregate that does not merge splits (a unique key's
    hash); None when there is none, or more than one."""
    keys = [aggregate.split_by for aggregate in aggregates if aggregate.merge is None]
    if not keys or any(key is None or key != keys[0] for key in keys):
        return None
    return keys[0]


_PART = sql.Identifier("selfheal_part")  # a half of a split scan, its values named by position


def _value(position: int) -> sql.Identifier:
    return sql.Identifier(f"v{position}")


def compile_split(table: Table, rules: Sequence[Rule], info: TableInfo) -> FusedQuery | None:
    """The fused SELECT as two halves of the table, split by the sign of a unique key's 64-bit
    hash: each half aggregates its rows (in a parallel worker of its own, when the planner runs
    the UNION ALL as a Parallel Append) and the outer SELECT merges them: counts add, maxima
    take the greater, and the distinct hashes add up because no hash is on both sides. Same
    positions as `compile_table`'s; None when some aggregate cannot merge that way (a second
    unique key, an anomaly rule). Each half reads the whole table, so this pays only on two
    cores that are free (see `Unique.aggregates` for figures).
    """
    planned = {rule: rule.aggregates(info) for rule in rules}
    key = _split_key(aggregate for aggregates in planned.values() for aggregate in aggregates)
    if key is None:
        return None
    selection = _selection(planned, table.incremental, {})
    inner = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(call, _value(position))
        for position, (call, aggregate) in enumerate(selection.values)
        if aggregate is not None
    )
    outer = sql.SQL(", ").join(
        _merged(_value(position), aggregate)
        for position, (_, aggregate) in enumerate(selection.values)
    )
    where = raw_condition(table.where)
    halves = [
        conjunction(where, sql.SQL("({} >= 0) IS NOT FALSE").format(key)),  # and NULL keys
        conjunction(where, sql.SQL("{} < 0").format(key)),
    ]
    query = sql.SQL("SELECT {} FROM ({}) AS {}").format(
        outer,
        sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {} FROM {} WHERE {}").format(inner, table.identifier, half)
            for half in halves
        ),
        _PART,
    )
    return FusedQuery(query, selection.slots, selection.watermark)


def _merged(value: sql.Identifier, aggregate: Aggregate | None) -> sql.Composable:
    """A value of the whole table from those of its halves."""
    if aggregate is None:
        return sql.SQL("now()")
    if aggregate.merge == "max":
        return sql.SQL("max({})").format(value)
    return sql.SQL("sum({})::bigint").format(value)  # counts, distinct ones included


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
