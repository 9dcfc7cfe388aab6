"""Part 3, socio-technical alignment: every table has a named owner and a stated purpose, and
every table is covered by data-quality rules. The result reports the coverage of both."""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfheal.dq.config import ConfigError, load_suite
from selfheal.health.config import TableName
from selfheal.health.model import AuditContext, Check, HealthFinding, HealthResult

PART = "socio_technical_alignment"

TABLES = """
SELECT n.nspname AS schema, c.relname AS name, obj_description(c.oid, 'pg_class') AS comment,
       CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS comment_keyword
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname = ANY(%(schemas)s)
ORDER BY 1, 2
"""

_OWNER = re.compile(r"owner:\s*([^;]+)", re.IGNORECASE)
_PURPOSE = re.compile(r"purpose:\s*([^;]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Stewardship:
    table: TableName
    owner: str | None
    purpose: str | None
    comment_keyword: str = "TABLE"  # COMMENT ON TABLE is refused for a view: VIEW, ...


def stewardship(ctx: AuditContext) -> list[Stewardship]:
    """Owner and purpose of each table: `owner: ...; purpose: ...` in its comment, or declared.

    A comment without the `owner:` form is taken as the purpose itself.
    """
    result = []
    for r in ctx.rows(TABLES, {"schemas": list(ctx.config.schemas)}):
        table = TableName(r["schema"], r["name"])
        comment = (r["comment"] or "").strip()
        owner = _OWNER.search(comment)
        purpose = _PURPOSE.search(comment)
        result.append(
            Stewardship(
                table,
                ctx.config.owners.get(table) or (owner.group(1).strip() if owner else None),
                purpose.group(1).strip()
                if purpose
                else (comment if comment and not owner else None),
                r["comment_keyword"],
            )
        )
    return result


def owners(ctx: AuditContext) -> HealthResult:
    tables = stewardship(ctx)
    findings = [
        HealthFinding(
            "owner_and_purpose",
            str(t.table),
            "warn",
            "no "
            + " and no ".join(m for m, v in (("owner", t.owner), ("purpose", t.purpose)) if not v),
            f"COMMENT ON {t.comment_keyword} {t.table} IS 'owner: <team>; purpose: <what it holds>'; "
            "or declare the owner under [owners] in checks/health.toml",
        )
        for t in tables
        if not (t.owner and t.purpose)
    ]
    covered = len(tables) - len(findings)
    return HealthResult(f"owner and purpose coverage: {covered}/{len(tables)} tables", findings)


def dq_coverage(ctx: AuditContext) -> HealthResult:
    rules_dir = ctx.config.dq_rules_dir
    try:
        covered = {TableName(t.schema, t.name) for t in load_suite(rules_dir).tables()}
    except ConfigError as error:
        return HealthResult(
            f"data-quality rules in {rules_dir}",
            [
                HealthFinding(
                    "dq_coverage", str(rules_dir), "error", str(error), "fix the rule files"
                )
            ],
        )
    tables = [s.table for s in stewardship(ctx)]
    findings = [
        HealthFinding(
            "dq_coverage",
            str(table),
            "warn",
            "no data-quality rules: bad rows in it would go unnoticed",
            f"add {rules_dir}/{table.name}.toml with at least not_null, unique and freshness rules",
        )
        for table in tables
        if table not in covered
    ]
    return HealthResult(
        f"data-quality rule coverage: {len(tables) - len(findings)}/{len(tables)} tables "
        f"(rules in {rules_dir})",
        findings,
    )


CHECKS = (
    Check(PART, "owner_and_purpose", owners),
    Check(PART, "dq_coverage", dq_coverage),
)
