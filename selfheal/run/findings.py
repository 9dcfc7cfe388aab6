"""Each engine's findings as `Problem`s: the one place a check's answer gets its code and object.

A new rule kind, lint or health check needs nothing here: its code follows from its own name
(`dq.<rule kind>`, `rls.<lint>`, `health.<check>`, `schema.<object kind>_<field>`).
"""

from __future__ import annotations

from dataclasses import asdict

from selfheal.core.identifiers import qualified, quote_ident
from selfheal.dq.rules import CustomCheck, Rule
from selfheal.dq.runner import CheckResult
from selfheal.health.model import Check, HealthFinding, HealthResult
from selfheal.rls.lints import LintFinding
from selfheal.run.problem import (
    DQ_CUSTOM,
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
from selfheal.schema.diff import Difference, Missing

DELTA = "run `selfheal delta` and apply the migration it writes (or `selfheal doctor --heal`)"
BY_HAND = "write a migration that changes it (the delta never drops, narrows or replaces)"


def schema_problem(found: Missing | Difference) -> Problem:
    """An expected object the live database lacks, or holds differently."""
    if isinstance(found, Missing):
        return Problem(SCHEMA_MISSING, found.label, found.message, remediation=DELTA)
    return Problem(
        schema_code(found.kind),
        found.label,
        found.message + ("" if found.additive else " (needs a human)"),
        remediation=DELTA if found.additive else BY_HAND,
        evidence=Evidence(expected=str(found.expected_value), found=str(found.live_value)),
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
