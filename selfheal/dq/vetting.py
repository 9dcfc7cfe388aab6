"""The suite's SQL, vetted: every `where` and custom query is replaced by its rendered, safe form.

The checked schemas are those of the suite's tables (and the tables its `references` rules
name): rule SQL may read them and nothing else. A text that may not run is a problem naming the
file, the table and the key, so the whole suite fails at collection, before any query.
"""

from __future__ import annotations

from dataclasses import replace

from selfheal.dq.rules import CustomCheck, References, Rule, Table


def checked_schemas(rules: tuple[Rule, ...], custom: tuple[CustomCheck, ...]) -> frozenset[str]:
    schemas = {item.table.schema for item in (*rules, *custom)}
    schemas |= {rule.to_schema for rule in rules if isinstance(rule, References)}
    return frozenset(schemas)


def _vet_table(table: Table, schemas: frozenset[str], problems: list[str]) -> Table | None:
    if not table.where:
        return table
    from selfheal.core.usersql import UnsafeSql, vet_condition

    try:
        return replace(table, where=vet_condition(table.where, schemas))
    except UnsafeSql as unsafe:
        problems.append(table.problem("where", str(unsafe)))
        return None


def vet_rules(
    rules: tuple[Rule, ...], schemas: frozenset[str], problems: list[str]
) -> tuple[Rule, ...]:
    """Rules whose table and rule `where` are the vetted renderings (unsafe ones dropped)."""
    if not any(rule.where or rule.table.where for rule in rules):
        return rules  # nothing to parse: sqlglot (a tenth of a second to load) stays unloaded
    from selfheal.core.usersql import UnsafeSql, vet_condition

    tables: dict[Table, Table | None] = {}
    vetted = []
    for rule in rules:
        if rule.table not in tables:
            tables[rule.table] = _vet_table(rule.table, schemas, problems)
        try:
            where = vet_condition(rule.where, schemas) if rule.where else rule.where
        except UnsafeSql as unsafe:
            problems.append(rule.table.problem(f"{rule.origin}.where", str(unsafe)))
            continue
        table = tables[rule.table]
        if table is not None:
            vetted.append(replace(rule, table=table, where=where))
    return tuple(vetted)


def vet_custom(
    custom: tuple[CustomCheck, ...], schemas: frozenset[str], problems: list[str]
) -> tuple[CustomCheck, ...]:
    if not custom:
        return custom
    from selfheal.core.usersql import UnsafeSql, vet_query

    vetted = []
    for check in custom:
        try:
            vetted.append(replace(check, body=vet_query(check.body, schemas)))
        except UnsafeSql as unsafe:
            problems.append(check.table.problem("query", str(unsafe)))
    return tuple(vetted)
