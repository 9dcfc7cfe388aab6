"""Part 1, feedback loops: problems that keep coming back. Tickets that were resolved and then
reopened, checks that flap between runs (from the tickets' history), ETL sources that fail
again and again (from the `etl_runs` ledger)."""

from __future__ import annotations

from collections.abc import Sequence

from selfheal.health.model import AuditContext, Check, HealthFinding, HealthResult

PART = "feedback_loops"

REPEATED_FAILURES = """
SELECT source, count(*) AS runs, count(*) FILTER (WHERE status = 'failed') AS failed,
       (array_agg(error ORDER BY started_at DESC) FILTER (WHERE status = 'failed'))[1] AS last_error
FROM (SELECT source, status, error, started_at,
             row_number() OVER (PARTITION BY source ORDER BY started_at DESC, run_id DESC) AS n
      FROM {runs}) recent
WHERE n <= %(window)s
GROUP BY source
HAVING count(*) FILTER (WHERE status = 'failed') > %(allowed)s
ORDER BY source
"""


def transitions(outcomes: Sequence[str]) -> int:
    """How often the outcome switched between failing and passing ('healed' counts as passing)."""
    failing = [outcome == "failed" for outcome in outcomes]
    return sum(1 for before, after in zip(failing, failing[1:], strict=False) if before != after)


def reopened_tickets(ctx: AuditContext) -> HealthResult:
    allowed = ctx.config.threshold("ticket_reopened_max")
    tickets = ctx.tickets
    findings = [
        HealthFinding(
            "reopened_ticket",
            t.node_id,
            "warn",
            f"ticket {t.slug} was resolved and came back {t.reopened} time(s) "
            f"({t.occurrences} occurrences since {ctx.at(t.first_seen)}): the fix does not hold",
            f"find the root cause behind `pytest '{t.node_id}'` instead of healing the symptom",
        )
        for t in tickets
        if t.reopened > allowed
    ]
    return HealthResult(f"{len(tickets)} ticket(s) in {ctx.backlog_dir}", findings)


def flapping_checks(ctx: AuditContext) -> HealthResult:
    window = int(ctx.config.threshold("flap_window"))
    limit = ctx.config.threshold("flap_transitions")
    tickets = ctx.tickets
    findings = []
    for t in tickets:
        recent = [outcome for _, outcome in t.history[-window:]]
        changes = transitions(recent)
        if changes < limit:
            continue
        findings.append(
            HealthFinding(
                "flapping_check",
                t.node_id,
                "warn",
                f"switched between failing and passing {changes} times in its last "
                f"{len(recent)} runs ({' '.join(recent)})",
                "make the check deterministic or fix the intermittent cause "
                "(late data, a race between jobs, a timeout)",
            )
        )
    return HealthResult(
        f"the last {window} outcomes of {len(tickets)} ticket(s) in {ctx.backlog_dir}", findings
    )


def repeated_etl_failures(ctx: AuditContext) -> HealthResult:
    runs = ctx.config.etl_runs
    window = int(ctx.config.threshold("etl_failures_window"))
    allowed = int(ctx.config.threshold("etl_failures_max"))
    query = ctx.ledger_query(REPEATED_FAILURES)
    if query is None:
        return HealthResult(f"no ETL ledger: {runs} does not exist")
    findings = [
        HealthFinding(
            "repeated_etl_failures",
            r["source"],
            "error" if r["failed"] == r["runs"] else "warn",
            f"{r['failed']} of its last {r['runs']} runs failed (allowed {allowed}); "
            f"latest error: {(r['last_error'] or 'none recorded')[:160]}",
            f"read the failed runs in {runs}, fix the cause, then `python -m etl {r['source']}`",
        )
        for r in ctx.rows(query, {"window": window, "allowed": allowed})
    ]
    return HealthResult(f"the last {window} runs of each source in {runs}", findings)


CHECKS = (
    Check(PART, "reopened_ticket", reopened_tickets),
    Check(PART, "flapping_check", flapping_checks),
    Check(PART, "repeated_etl_failures", repeated_etl_failures, reads_rows=True),
)
