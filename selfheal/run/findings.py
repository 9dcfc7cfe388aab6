"""Each engine's findings as `Problem`s: the one place a check's answer gets its code and object.

A new rule kind, lint or health check needs nothing here: its code follows from its own name
(`dq.<rule kind>`, `rls.<lint>`, `health.<check>`, `schema.<object kind>_<field>`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from selfheal.catalog import Relation
from selfheal.core.identifiers import qualified, quote_ident
from selfheal.dq.rules import CustomCheck, Rule
from selfheal.dq.runner import CheckResult
from selfheal.health.model import Check, HealthFinding, HealthResult
from selfheal.rls.lint_model import LintFinding
from selfheal.run.problem import (
    DQ_CUSTOM,
    DQ_RULE_FILE,
    SCHEMA_MISSING,
    Evidence,
    Problem,
    Query,
    Severity,
    dq_code,
    health_code,
    rls_lint_code,
    schema_code,
)
from selfheal.schema.diff import Difference, Drift, Missing, Renamed, SchemaDiff

DELTA = "run `selfheal delta` and apply the migration it writes (or `selfheal doctor --heal`)"
RESTORE = "`selfheal doctor --heal` restores it exactly as the lock declares it"
CLOSE = "`selfheal doctor --heal` closes it first, before any other heal"


def schema_problem(found: Missing | Difference | Renamed) -> Problem:
    """An expected object the live database lacks, holds differently or under another name."""
    if isinstance(found, Missing):
        return Problem(SCHEMA_MISSING, found.label, found.message, remediation=DELTA)
    if isinstance(found, Renamed):
        fix = f"`selfheal doctor --heal` renames {found.live.label} back to {found.label}"
        return Problem(schema_code(found.kind), found.label, found.message, remediation=fix)
    if found.exposure:
        message, fix = f"exposure: {found.message}", CLOSE
    elif found.additive:
        message, fix = found.message, DELTA
    else:
        message, fix = found.message, RESTORE
    return Problem(
        schema_code(found.kind),
        found.label,
        message,
        remediation=fix,
        evidence=Evidence(expected=str(found.expected_value), found=str(found.live_value)),
    )


UNDEFINED_RELATION = re.compile(r'relation "([^"]+)" does not exist')


def missing_table_cause(
    diff: SchemaDiff, tables: Iterable[tuple[str, str]] = (), error: str = ""
) -> Problem | None:
    """The missing or renamed expected table that explains an ETL or data-quality failure: one
    of the `tables` it reads, or the relation its `error` says does not exist. It is the
    problem the schema checks report, so the failure joins that table's ticket."""
    named = set(UNDEFINED_RELATION.findall(error))
    wanted = set(tables)
    for cause in [*diff.renamed, *diff.missing]:
        table = cause.obj
        if not isinstance(table, Relation):
            continue
        if table.key in wanted or {f"{table.schema}.{table.name}", table.name} & named:
            return schema_problem(cause)
    return None


def exposure_problem(found: Drift) -> Problem:
    """Access no migration declares (a permissive policy, an API role's grant): an error."""
    return Problem(
        schema_code(f"{found.kind}_unexpected"),
        found.label,
        f"exposure: {found.message}",
        remediation=CLOSE,
    )


def lint_problem(finding: LintFinding) -> Problem:
    """A lint finding; a waived one is a warning that names its reason."""
    if finding.waived_because:
        message = f"waived {finding.lint} {finding.label}: {finding.waived_because}"
        severity = Severity.WARN
    else:
        message, severity = finding.message, Severity(finding.level)
    return Problem(
        rls_lint_code(finding.lint),
        finding.label,
        message,
        severity,
        finding.remediation,
        Evidence(found=finding.detail),
    )


def dq_problem(checked: Rule | CustomCheck, result: CheckResult, text: str) -> Problem:
    """A data-quality rule that failed (or warned): `text` is its failure text."""
    if isinstance(checked, CustomCheck):
        code, about = DQ_CUSTOM, qualified(checked.table.schema, checked.table.name, checked.name)
    else:
        code, about = dq_code(checked.kind), _rule_object(checked)
    return Problem(
        code,
        about,
        text,
        Severity.WARN if result.status == "warn" else Severity.ERROR,
        evidence=Evidence(
            offending=result.offending,
            samples=tuple(result.sample),
            queries=tuple(queries_of(result)),
            seconds=sum(q.seconds for q in result.queries),
        ),
    )


def rule_file_problem(path: Path, problems: tuple[str, ...]) -> Problem:
    """A rule file (or custom SQL file) that cannot be read: its rules do not run, the other
    files' rules do. Each line names the file, the table and the key."""
    return Problem(
        DQ_RULE_FILE,
        str(path),
        f"{path.name} is not used: " + "; ".join(problems),
        remediation=f"fix the key(s) named in {path}; every other rule file ran",
    )


def _rule_object(rule: Rule) -> str:
    """The table, with the column a rule is about: `public.events.user_id`, or for a rule on
    several columns `public.ads(stat_date, ad_id)` (never the rule's id, which can be renamed)."""
    table = qualified(rule.table.schema, rule.table.name)
    columns = rule.columns()
    if len(columns) == 1:
        return f"{table}.{quote_ident(columns[0])}"
    return f"{table}({', '.join(map(quote_ident, columns))})" if columns else table


def queries_of(result: CheckResult) -> list[Query]:
    """The queries that answered a data-quality rule, with their durations."""
    return [Query(q.sql, round(q.seconds, 6), q.rows, q.error or "") for q in result.queries]


def health_problems(check: Check, result: HealthResult) -> list[Problem]:
    """One problem per error- or warn-level finding of a health check (info is only in the
    health report), about the finding's subject."""
    shown = [f for f in result.findings if f.level in (Severity.ERROR, Severity.WARN)]
    return [_health_problem(check, finding) for finding in shown]


def _health_problem(check: Check, finding: HealthFinding) -> Problem:
    """A failing finding is also its own sample row (the report's and the ticket's table)."""
    severity = Severity(finding.level)
    return Problem(
        health_code(check.name),
        finding.subject,
        f"{check.id}: {finding}",
        severity,
        finding.remediation,
        Evidence(samples=(asdict(finding),) if severity == Severity.ERROR else ()),
    )
