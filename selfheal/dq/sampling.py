"""Queries run only when a rule fails: up to a few offending rows, and the rule's follow-up."""

from __future__ import annotations

from psycopg import sql

from selfheal.dq.rules import Rule, ident
from selfheal.dq.tables import TableInfo


def shown_columns(rule: Rule, info: TableInfo) -> list[str]:
    """Primary key first, then the rule's columns (all columns if the table has neither)."""
    columns = list(dict.fromkeys((*info.primary_key, *rule.columns())))
    return columns or list(info.columns)


def sample_query(rule: Rule, info: TableInfo, limit: int) -> sql.Composed | None:
    scope = rule.scope()
    predicate = rule.offending(scope)
    if predicate is None:
        return None
    query = sql.SQL("SELECT {columns} FROM {table} WHERE ({scope}) AND ({predicate})").format(
        columns=sql.SQL(", ").join(ident(c) for c in shown_columns(rule, info)),
        table=rule.table.identifier,
        scope=scope,
        predicate=predicate,
    )
    order = rule.sample_order() or [ident(c) for c in info.primary_key]
    if order:
        query += sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(order))
    return query + sql.SQL(" LIMIT {}").format(sql.Literal(limit))


def follow_up_query(rule: Rule) -> sql.Composable | None:
    return rule.follow_up(rule.scope())
