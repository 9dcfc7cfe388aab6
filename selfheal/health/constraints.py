"""Part 4, constraint propagation: what the schema promises but does not enforce, or enforces badly."""

from __future__ import annotations

from psycopg import sql

from selfheal.core.identifiers import qualified, quote_ident
from selfheal.health.config import Reference
from selfheal.health.model import AuditContext, Check, HealthFinding, HealthResult
from selfheal.rls.lints import covering_index_statement, unindexed_foreign_key_constraints

PART = "constraint_propagation"
ORPHAN_SAMPLE = 5

NOT_VALID = """
SELECT format('%%I.%%I', n.nspname, c.relname) AS tbl, con.conname,
       quote_ident(con.conname) AS quoted, pg_get_constraintdef(con.oid) AS definition
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT con.convalidated AND n.nspname = ANY(%(schemas)s)
ORDER BY 1, 2
"""

# Is the declared reference enforced by a single-column foreign key?
REFERENCE_HAS_FK = """
SELECT EXISTS (
  SELECT FROM pg_constraint con
  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
  JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = con.confkey[1]
  WHERE con.contype = 'f' AND cardinality(con.conkey) = 1
    AND con.conrelid = to_regclass(format('%%I.%%I', %(cs)s::text, %(ct)s::text))
    AND con.confrelid = to_regclass(format('%%I.%%I', %(ps)s::text, %(pt)s::text))
    AND a.attname = %(cc)s AND pa.attname = %(pc)s
)
"""

COLUMN_EXISTS = """
SELECT EXISTS (SELECT FROM pg_attribute
               WHERE attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))
                 AND attname = %s AND attnum > 0 AND NOT attisdropped)
"""


def _schemas(ctx: AuditContext) -> dict[str, list[str]]:
    return {"schemas": list(ctx.config.schemas)}


def fk_without_index(ctx: AuditContext) -> HealthResult:
    """The RLS lint's definition of a covering index, so health and the doctor agree with it."""
    unindexed = unindexed_foreign_key_constraints(ctx.catalog())
    findings = [
        HealthFinding(
            "fk_without_index",
            qualified(fk.schema, fk.table) + f"({', '.join(map(quote_ident, fk.columns))})",
            "warn",
            f"foreign key {quote_ident(fk.name)} to {qualified(*fk.referenced_table)} has no index on its "
            "columns: deletes and updates of the referenced rows scan the whole table",
            covering_index_statement(fk) + ";",
        )
        for fk in unindexed
        if fk.schema in ctx.config.schemas
    ]
    return HealthResult("foreign keys and the indexes leading with their columns", findings)


def not_valid_constraints(ctx: AuditContext) -> HealthResult:
    rows = ctx.rows(NOT_VALID, _schemas(ctx))
    findings = [
        HealthFinding(
            "not_valid_constraint",
            f"{r['tbl']}.{r['quoted']}",
            "warn",
            f"constraint was added NOT VALID and never validated: {r['definition']}",
            f"ALTER TABLE {r['tbl']} VALIDATE CONSTRAINT {r['quoted']};",
        )
        for r in rows
    ]
    return HealthResult("constraints added NOT VALID (pg_constraint.convalidated)", findings)


def invalid_indexes(ctx: AuditContext) -> HealthResult:
    invalid = [
        index
        for index in ctx.catalog().indexes.values()
        if not index.valid and index.schema in ctx.config.schemas
    ]
    findings = [
        HealthFinding(
            "invalid_index",
            index.label,
            "error",
            f"index on {qualified(index.schema, index.table)} is invalid (a failed CREATE INDEX "
            "CONCURRENTLY): it is maintained on every write but never used",
            f"REINDEX INDEX CONCURRENTLY {index.label}; (or DROP INDEX CONCURRENTLY and recreate it)",
        )
        for index in sorted(invalid, key=lambda index: index.label)
    ]
    return HealthResult("indexes marked invalid (pg_index.indisvalid)", findings)


def orphan_rows(ctx: AuditContext) -> HealthResult:
    findings = [f for ref in ctx.config.references for f in _orphans(ctx, ref)]
    declared = len(ctx.config.references)
    return HealthResult(f"{declared} declared reference(s) without a foreign key", findings)


def _orphans(ctx: AuditContext, ref: Reference) -> list[HealthFinding]:
    subject = f"{ref.child}.{ref.child_column} -> {ref.parent}.{ref.parent_column}"
    missing = [
        f"{table}.{column}"
        for table, column in ((ref.child, ref.child_column), (ref.parent, ref.parent_column))
        if not ctx.value(COLUMN_EXISTS, (table.schema, table.name, column))
    ]
    if missing:
        return [
            HealthFinding(
                "orphan_rows",
                subject,
                "warn",
                f"the declared reference names missing column(s): {', '.join(missing)}",
                "fix or remove the entry under [references] in checks/health.toml",
            )
        ]
    params = {
        "cs": ref.child.schema,
        "ct": ref.child.name,
        "ps": ref.parent.schema,
        "pt": ref.parent.name,
        "cc": ref.child_column,
        "pc": ref.parent_column,
    }
    if ctx.value(REFERENCE_HAS_FK, params):
        return []
    rows = ctx.rows(_orphan_query(ref), (ORPHAN_SAMPLE,))
    if not rows or rows[0]["orphans"] == 0:
        return []
    sample = ", ".join(repr(r["value"]) for r in rows)
    return [
        HealthFinding(
            "orphan_rows",
            subject,
            "error",
            f"{rows[0]['orphans']} row(s) reference no {ref.parent} row (e.g. {sample})",
            f"repair or quarantine the orphans, then ALTER TABLE {ref.child} ADD FOREIGN KEY "
            f"({ref.child_column}) REFERENCES {ref.parent} ({ref.parent_column}) NOT VALID; "
            "and VALIDATE it",
        )
    ]


def _orphan_query(ref: Reference) -> sql.Composed:
    """Distinct orphan values (a sample) with the total number of orphan rows."""
    return sql.SQL(
        "SELECT c.{cc}::text AS value, sum(count(*)) OVER () AS orphans FROM {child} c"
        " WHERE c.{cc} IS NOT NULL"
        " AND NOT EXISTS (SELECT FROM {parent} p WHERE p.{pc} = c.{cc})"
        " GROUP BY c.{cc} ORDER BY count(*) DESC LIMIT %s"
    ).format(
        cc=sql.Identifier(ref.child_column),
        pc=sql.Identifier(ref.parent_column),
        child=sql.Identifier(ref.child.schema, ref.child.name),
        parent=sql.Identifier(ref.parent.schema, ref.parent.name),
    )


CHECKS = (
    Check(PART, "fk_without_index", fk_without_index),
    Check(PART, "not_valid_constraint", not_valid_constraints),
    Check(PART, "orphan_rows", orphan_rows, reads_rows=True),
    Check(PART, "invalid_index", invalid_indexes),
)
