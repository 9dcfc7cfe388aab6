"""Part 2, second-order effects: a source table that is stale or failed to load names every table
downstream of it. The graph is the catalog's view dependencies plus the lineage declared in
checks/health.toml (tables filled by ETL have no catalog trace of their inputs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from psycopg import sql

from selfheal.core.text import human_seconds
from selfheal.health.config import FreshnessLimit, TableName
from selfheal.health.model import AuditContext, Check, HealthFinding, HealthResult

PART = "second_order_effects"

VIEW_DEPENDENCIES = """
SELECT DISTINCT vn.nspname AS down_schema, v.relname AS down_name,
                sn.nspname AS up_schema, s.relname AS up_name
FROM pg_depend d
JOIN pg_rewrite r ON r.oid = d.objid
JOIN pg_class v ON v.oid = r.ev_class
JOIN pg_namespace vn ON vn.oid = v.relnamespace
JOIN pg_class s ON s.oid = d.refobjid
JOIN pg_namespace sn ON sn.oid = s.relnamespace
WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
  AND v.oid <> s.oid AND v.relkind IN ('v', 'm') AND s.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND vn.nspname = ANY(%(schemas)s)
"""

LATEST_RUNS = """
SELECT DISTINCT ON (source) source, status, error, started_at
FROM {runs} ORDER BY source, started_at DESC, run_id DESC
"""


@dataclass(frozen=True)
class Failure:
    table: TableName
    reason: str


def lineage_graph(ctx: AuditContext) -> dict[TableName, set[TableName]]:
    """upstream -> the tables that read it directly."""
    downstream: dict[TableName, set[TableName]] = {}
    for r in ctx.rows(VIEW_DEPENDENCIES, {"schemas": list(ctx.config.schemas)}):
        up, down = (
            TableName(r["up_schema"], r["up_name"]),
            TableName(r["down_schema"], r["down_name"]),
        )
        downstream.setdefault(up, set()).add(down)
    for down, ups in ctx.config.lineage.items():
        for up in ups:
            downstream.setdefault(up, set()).add(down)
    return downstream


def reachable(graph: dict[TableName, set[TableName]], start: TableName) -> list[TableName]:
    """Every table downstream of `start`, transitively (cycles are tolerated)."""
    seen: set[TableName] = set()
    stack = list(graph.get(start, ()))
    while stack:
        table = stack.pop()
        if table not in seen and table != start:
            seen.add(table)
            stack.extend(graph.get(table, ()))
    return sorted(seen)


def failing_tables(ctx: AuditContext) -> list[Failure]:
    """Stale or failed-to-load tables; computed once per audit (both checks of the part use it)."""
    return ctx.once("failing_tables", lambda: _failing_tables(ctx))


def _failing_tables(ctx: AuditContext) -> list[Failure]:
    failures = [
        failure
        for table, rule in sorted(ctx.config.freshness.items())
        if (failure := _stale(ctx, table, rule))
    ]
    return failures + _failed_loads(ctx)


def _stale(ctx: AuditContext, table: TableName, rule: FreshnessLimit) -> Failure | None:
    if not ctx.table_exists(table):
        return Failure(table, "does not exist")
    query = sql.SQL(
        "SELECT max({col}) AS newest, extract(epoch FROM now() - max({col})) / 3600 AS hours FROM {tbl}"
    ).format(col=sql.Identifier(rule.column), tbl=sql.Identifier(table.schema, table.name))
    row = ctx.rows(query)[0]
    if row["newest"] is None:
        return Failure(table, "is empty (never loaded)")
    if row["hours"] > rule.max_age_hours:
        return Failure(
            table,
            f"is stale (newest {rule.column} {human_seconds(row['hours'] * 3600)} old, "
            f"limit {human_seconds(rule.max_age_hours * 3600)})",
        )
    return None


def _failed_loads(ctx: AuditContext) -> list[Failure]:
    query = ctx.ledger_query(LATEST_RUNS)
    if not ctx.config.etl_sources or query is None:
        return []
    latest = {r["source"]: r for r in ctx.rows(query)}
    return [
        Failure(
            table,
            f"failed to load (latest {source} run {ctx.at(latest[source]['started_at'])}: "
            f"{(latest[source]['error'] or 'no error recorded')[:120]})",
        )
        for source, table in sorted(ctx.config.etl_sources.items())
        if source in latest and latest[source]["status"] == "failed"
    ]


def _names(tables: Iterable[TableName]) -> str:
    return ", ".join(map(str, tables)) or "none"


def failing_upstream(ctx: AuditContext) -> HealthResult:
    graph = lineage_graph(ctx)
    findings = [
        HealthFinding(
            "failing_upstream",
            str(f.table),
            "warn",
            f"{f.table} {f.reason}; downstream affected: {_names(reachable(graph, f.table))}",
            f"fix the load of {f.table} first (`python -m etl` for its source), "
            "then recompute what depends on it",
        )
        for f in failing_tables(ctx)
    ]
    return HealthResult(
        f"freshness of {len(ctx.config.freshness)} table(s), the latest run of "
        f"{len(ctx.config.etl_sources)} ETL source(s), lineage of {len(graph)} upstream table(s)",
        findings,
    )


def affected_downstream(ctx: AuditContext) -> HealthResult:
    graph = lineage_graph(ctx)
    causes: dict[TableName, list[Failure]] = {}
    for failure in failing_tables(ctx):
        for table in reachable(graph, failure.table):
            causes.setdefault(table, []).append(failure)
    findings = [
        HealthFinding(
            "affected_downstream",
            str(table),
            "warn",
            "computed from failing input(s): "
            + "; ".join(f"{f.table} {f.reason}" for f in failures),
            f"recompute {table} once its inputs are healthy (`python -m etl metrics`); "
            "treat its recent values as provisional until then",
        )
        for table, failures in sorted(causes.items())
    ]
    return HealthResult("tables downstream of a failing source", findings)


CHECKS = (
    Check(PART, "failing_upstream", failing_upstream, reads_rows=True),
    Check(PART, "affected_downstream", affected_downstream, reads_rows=True),
)
