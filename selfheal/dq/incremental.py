"""Incremental gates: a table whose rule file names a watermark column (`incremental =
"loaded_at"`) is checked on the rows beyond the last verified watermark, and each rule's values
over them merge with the stored ones of the rows verified before.

That is exact for row-local rules (not null, accepted values, between, no future, references,
row count) and for freshness (a maximum), provided rows at or below the watermark do not change;
the unique key compares the new keys with the old rows through the key's index. What breaks the
provision (an update or delete of old rows, a row committed late with an older watermark value,
a referenced row deleted, a future date that is now past) is caught by the full scan, which runs
when there is no stored state, when the rule file changed, when a rule has no stored values or
cannot merge (custom kinds), and at least every `full_every` (7 days by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from selfheal.core.readonly import Reader
from selfheal.dq.compiler import beyond
from selfheal.dq.durations import format_duration
from selfheal.dq.rules import Aggregate, Rule, Table, ident
from selfheal.dq.tables import TableInfo
from selfheal.dq.watermarks import RuleCounts, TableState


@dataclass(frozen=True)
class Plan:
    """A full scan (with the reason) or the aggregates of each rule over the new rows."""

    reason: str
    since: str | None = None  # the stored watermark; None: a full scan
    planned: dict[Rule, list[Aggregate]] | None = None


def plan(
    table: Table, rules: Sequence[Rule], info: TableInfo, state: TableState | None, now: datetime
) -> Plan:
    reason = _full_reason(table, rules, state, now)
    if reason is not None or state is None:
        return Plan(reason or "no verified scan yet")
    if state.watermark is None:
        return Plan(f"no {table.incremental} value verified yet")
    fresh = beyond(table, state.watermark)
    verified = sql.SQL("NOT ({})").format(fresh)
    planned: dict[Rule, list[Aggregate]] = {}
    for rule in rules:
        old, new = (sql.SQL("{} AND {}").format(rule.scope(), rows) for rows in (verified, fresh))
        aggregates = rule.since(info, old, new)
        if aggregates is None:
            return Plan(f"rule {rule.id} is checked on the whole table only")
        if len(aggregates) != len(state.counts[rule.id].values):
            return Plan(f"the stored values of {rule.id} do not fit its plan")
        planned[rule] = aggregates
    return Plan(f"rows beyond {table.incremental} {state.watermark}", state.watermark, planned)


def _full_reason(
    table: Table, rules: Sequence[Rule], state: TableState | None, now: datetime
) -> str | None:
    if state is None:
        return "no verified scan yet"
    if state.digest != table.digest:
        return f"{table.source.name} changed since the last verified scan"
    age = now - state.full_at
    if table.full_every is not None and age >= table.full_every:
        return f"the last full scan is {format_duration(age)} old (full_every {format_duration(table.full_every)})"
    missing = [rule.id for rule in rules if rule.id not in state.counts]
    if missing:
        return f"no stored values of {missing[0]}"
    return None


def merged(
    stored: RuleCounts, scope: int, values: Sequence[Any], aggregates: Sequence[Aggregate]
) -> tuple[int, list[Any]]:
    """The whole table's scope and values: sums added; maxima already merged by the query."""
    whole = [
        (old or 0) + (new or 0) if aggregate.merge == "sum" else new
        for old, new, aggregate in zip(stored.values, values, aggregates, strict=True)
    ]
    return stored.scope + scope, whole


_LEADING_INDEX = """
SELECT to_regclass(%(table)s) IS NULL OR EXISTS (
    SELECT FROM pg_index x JOIN pg_attribute a
      ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
    WHERE x.indrelid = to_regclass(%(table)s) AND a.attname = %(column)s AND x.indisvalid)
"""


def unindexed(reader: Reader, tables: Iterable[Table]) -> list[Table]:
    """The incremental tables whose watermark column leads no index (B-tree or BRIN): reading
    their new rows would scan the whole table. A missing table is the rules' own error."""
    return [
        table
        for table in tables
        if table.incremental
        and not reader.value(
            _LEADING_INDEX,
            {"table": table.identifier.as_string(), "column": table.incremental},
        )
    ]


def index_advice(table: Table) -> str:
    column = table.incremental or ""
    return (
        f"{table.source.name}: table {table.label} is checked incrementally on {column}, which "
        f"leads no index: each run scans the whole table. Add one in a migration: CREATE INDEX "
        f"ON {table.identifier.as_string()} USING brin ({ident(column).as_string()})"
    )
