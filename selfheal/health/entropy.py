"""Part 5, entropy and robustness: what decays as a database lives (dead rows, bloat, unused or
duplicate indexes, sequences running out, stale statistics, tables without a primary key)."""

from __future__ import annotations

import math

from selfheal.core.text import human_bytes
from selfheal.health.model import AuditContext, Check, HealthFinding, HealthResult
from selfheal.rls.lints import run_lints

PART = "entropy_robustness"
TUPLE_OVERHEAD = 28  # heap tuple header (23, aligned to 24) plus its 4-byte line pointer
PAGE_HEADER = 24

TABLE_STATS = """
SELECT format('%%I.%%I', s.schemaname, s.relname) AS tbl, s.n_live_tup, s.n_dead_tup,
       s.n_mod_since_analyze, coalesce(s.last_analyze, s.last_autoanalyze) AS analyzed,
       c.reltuples, c.relpages::bigint * current_setting('block_size')::bigint AS bytes,
       current_setting('block_size')::int AS block_size,
       (SELECT sum(st.avg_width) FROM pg_stats st
        WHERE st.schemaname = s.schemaname AND st.tablename = s.relname) AS row_width
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = ANY(%(schemas)s)
ORDER BY 1
"""

UNUSED_INDEXES = """
SELECT format('%%I.%%I', s.schemaname, s.indexrelname) AS idx,
       format('%%I.%%I', s.schemaname, s.relname) AS tbl,
       pg_relation_size(s.indexrelid) AS bytes,
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS since
FROM pg_stat_user_indexes s
JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE s.schemaname = ANY(%(schemas)s) AND s.idx_scan = 0
  AND NOT i.indisunique AND NOT i.indisprimary AND i.indisvalid
  AND NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conindid = s.indexrelid)
  AND pg_relation_size(s.indexrelid) >= %(min_bytes)s
ORDER BY 1
"""

DUPLICATE_INDEXES = """
SELECT format('%%I.%%I', n.nspname, c.relname) AS tbl,
       array_agg(format('%%I.%%I', n.nspname, ic.relname) ORDER BY i.indisprimary DESC,
                 i.indisunique DESC, ic.relname) AS indexes
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND i.indisvalid
GROUP BY n.nspname, c.relname, i.indrelid, i.indkey::text, i.indclass::text,
         i.indcollation::text, coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
         coalesce(pg_get_expr(i.indpred, i.indrelid), ''), ic.relam
HAVING count(*) > 1
ORDER BY 1
"""

# A sequence's capacity is bounded by its own limits and by the column it feeds.
SEQUENCES = """
SELECT format('%%I.%%I', s.schemaname, s.sequencename) AS seq, s.last_value, s.min_value,
       s.max_value, s.increment_by,
       CASE WHEN a.attname IS NOT NULL
            THEN format('%%I.%%I.%%I', cn.nspname, col_table.relname, a.attname) END AS feeds,
       a.atttypid::regtype::text AS column_type
FROM pg_sequences s
JOIN pg_class sc ON sc.relname = s.sequencename
JOIN pg_namespace sn ON sn.oid = sc.relnamespace AND sn.nspname = s.schemaname
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = sc.oid
     AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class col_table ON col_table.oid = d.refobjid
LEFT JOIN pg_namespace cn ON cn.oid = col_table.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE s.schemaname = ANY(%(schemas)s) AND s.last_value IS NOT NULL
ORDER BY 1
"""

COLUMN_MAX = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}
COLUMN_MIN = {"smallint": -(2**15), "integer": -(2**31), "bigint": -(2**63)}


def _schemas(ctx: AuditContext, **extra: object) -> dict[str, object]:
    return {"schemas": list(ctx.config.schemas), **extra}


def dead_tuples(ctx: AuditContext) -> HealthResult:
    limit = ctx.config.threshold("dead_tuple_ratio")
    min_rows = ctx.config.threshold("dead_tuple_min_rows")
    findings = []
    for r in ctx.rows(TABLE_STATS, _schemas(ctx)):
        total = r["n_live_tup"] + r["n_dead_tup"]
        if total < min_rows or total == 0 or r["n_dead_tup"] / total < limit:
            continue
        findings.append(
            HealthFinding(
                "dead_tuples",
                r["tbl"],
                "warn",
                f"{r['n_dead_tup']} dead of {total} row versions "
                f"({r['n_dead_tup'] / total:.0%}, limit {limit:.0%}): autovacuum is not keeping up",
                f"VACUUM (ANALYZE) {r['tbl']}; then tune autovacuum_vacuum_scale_factor for it",
            )
        )
    return HealthResult(
        f"dead-tuple ratio of every table with at least {min_rows:,.0f} rows", findings
    )


def estimated_bloat(ctx: AuditContext) -> HealthResult:
    limit = ctx.config.threshold("bloat_ratio")
    min_bytes = ctx.config.threshold("bloat_min_bytes")
    findings = []
    for r in ctx.rows(TABLE_STATS, _schemas(ctx)):
        if r["bytes"] < min_bytes or r["reltuples"] < 0 or r["row_width"] is None:
            continue  # too small to matter, or never analyzed: no estimate
        ratio = 1 - _expected_bytes(r) / r["bytes"]
        if ratio < limit:
            continue
        findings.append(
            HealthFinding(
                "bloat",
                r["tbl"],
                "warn",
                f"estimated {ratio:.0%} of its {human_bytes(r['bytes'])} is free space (limit {limit:.0%})",
                f"VACUUM FULL {r['tbl']} in a maintenance window, or pg_repack it online",
            )
        )
    return HealthResult(
        f"estimated bloat of every analyzed table of at least {human_bytes(min_bytes)}", findings
    )


def _expected_bytes(r: dict) -> float:
    per_page = r["block_size"] - PAGE_HEADER
    row_bytes = float(r["row_width"]) + TUPLE_OVERHEAD
    return math.ceil(r["reltuples"] * row_bytes / per_page) * r["block_size"]


def unused_indexes(ctx: AuditContext) -> HealthResult:
    min_bytes = ctx.config.threshold("unused_index_min_bytes")
    rows = ctx.rows(UNUSED_INDEXES, _schemas(ctx, min_bytes=min_bytes))
    findings = [
        HealthFinding(
            "unused_index",
            r["idx"],
            "warn",
            f"never scanned since statistics were reset ({r['since'] or 'never reset'}); "
            f"{human_bytes(r['bytes'])} kept up to date on every write to {r['tbl']}",
            f"confirm on every replica, then DROP INDEX CONCURRENTLY {r['idx']};",
        )
        for r in rows
    ]
    return HealthResult(
        f"scans of every non-unique index of at least {human_bytes(min_bytes)}", findings
    )


def duplicate_indexes(ctx: AuditContext) -> HealthResult:
    findings = [
        HealthFinding(
            "duplicate_index",
            ", ".join(r["indexes"]),
            "warn",
            f"indexes on {r['tbl']} with the same columns, operator classes and predicate",
            f"keep {r['indexes'][0]}; DROP INDEX CONCURRENTLY " + ", ".join(r["indexes"][1:]) + ";",
        )
        for r in ctx.rows(DUPLICATE_INDEXES, _schemas(ctx))
    ]
    return HealthResult("index definitions compared per table", findings)


def sequences(ctx: AuditContext) -> HealthResult:
    warn_at = ctx.config.threshold("sequence_used_warn")
    error_at = ctx.config.threshold("sequence_used_error")
    findings = []
    rows = ctx.rows(SEQUENCES, _schemas(ctx))
    for r in rows:
        used = used_fraction(r)
        if used < warn_at:
            continue
        feeds = f" feeding {r['feeds']} ({r['column_type']})" if r["feeds"] else ""
        findings.append(
            HealthFinding(
                "sequence_exhaustion",
                r["seq"],
                "error" if used >= error_at else "warn",
                f"{used:.0%} of its range used (last value {r['last_value']}){feeds}",
                "widen the column and the sequence to bigint "
                f"(ALTER SEQUENCE {r['seq']} AS bigint MAXVALUE ...) before it runs out",
            )
        )
    return HealthResult(f"{len(rows)} sequence(s) and identity column(s) in use", findings)


def used_fraction(r: dict) -> float:
    """How much of the usable range (sequence limits within the column type's) is consumed."""
    low, high = r["min_value"], r["max_value"]
    if r["column_type"] in COLUMN_MAX:
        high = min(high, COLUMN_MAX[r["column_type"]])
        low = max(low, COLUMN_MIN[r["column_type"]])
    if high <= low:
        return 1.0
    if r["increment_by"] > 0:
        return (r["last_value"] - low) / (high - low)
    return (high - r["last_value"]) / (high - low)


def stale_statistics(ctx: AuditContext) -> HealthResult:
    ratio = ctx.config.threshold("stale_stats_ratio")
    min_rows = ctx.config.threshold("stale_stats_min_rows")
    findings = []
    for r in ctx.rows(TABLE_STATS, _schemas(ctx)):
        changed = r["n_mod_since_analyze"]
        if changed < max(min_rows, ratio * max(r["reltuples"], 0)):
            continue
        when = (
            f"last analyzed {r['analyzed']:%Y-%m-%d %H:%M}" if r["analyzed"] else "never analyzed"
        )
        findings.append(
            HealthFinding(
                "stale_statistics",
                r["tbl"],
                "warn",
                f"{changed} rows changed since statistics were gathered ({when}): "
                "the planner works from an outdated picture",
                f"ANALYZE {r['tbl']}; and check autovacuum_analyze_scale_factor",
            )
        )
    return HealthResult(f"rows changed since the last ANALYZE (at least {min_rows:,.0f})", findings)


def without_primary_key(ctx: AuditContext) -> HealthResult:
    """The RLS lint `no_primary_key` (partitions judged with their parent), in the audit's schemas."""
    keyless = [
        finding.obj
        for finding in run_lints(ctx.catalog(), only=("no_primary_key",))
        if finding.obj.schema in ctx.config.schemas
    ]
    findings = [
        HealthFinding(
            "without_primary_key",
            table.label,
            "warn",
            "no primary key: duplicates cannot be ruled out and logical replication cannot update it",
            f"ALTER TABLE {table.label} ADD PRIMARY KEY (...); on the natural key",
        )
        for table in keyless
    ]
    return HealthResult("primary keys of every table", findings)


CHECKS = (
    Check(PART, "dead_tuples", dead_tuples, reads_rows=True),
    Check(PART, "bloat", estimated_bloat, reads_rows=True),
    Check(PART, "unused_index", unused_indexes),
    Check(PART, "duplicate_index", duplicate_indexes),
    Check(PART, "sequence_exhaustion", sequences, reads_rows=True),
    Check(PART, "stale_statistics", stale_statistics, reads_rows=True),
    Check(PART, "without_primary_key", without_primary_key),
)
