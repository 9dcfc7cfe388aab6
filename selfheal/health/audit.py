"""The audit: every check of the six parts in order, runnable without pytest."""

from __future__ import annotations

from selfheal.health import alignment, coherence, constraints, entropy, feedback, lineage
from selfheal.health.model import AuditContext, Check, CheckResult

CHECKS: tuple[Check, ...] = (
    *feedback.CHECKS,
    *lineage.CHECKS,
    *alignment.CHECKS,
    *constraints.CHECKS,
    *entropy.CHECKS,
    *coherence.CHECKS,
)


def check_by_id(check_id: str) -> Check:
    for check in CHECKS:
        if check.id == check_id:
            return check
    raise KeyError(f"no health check {check_id!r}")


def run_audit(ctx: AuditContext) -> dict[str, CheckResult]:
    return {check.id: check(ctx) for check in CHECKS}
