"""The audit: every check of the six parts in order, runnable without pytest."""

from __future__ import annotations

from pathlib import Path

from selfheal.health import alignment, coherence, constraints, entropy, feedback, lineage
from selfheal.health.config import HealthConfig, HealthConfigError, load_config
from selfheal.health.model import AuditContext, Check, HealthResult

CHECKS: tuple[Check, ...] = (
    *feedback.CHECKS,
    *lineage.CHECKS,
    *alignment.CHECKS,
    *constraints.CHECKS,
    *entropy.CHECKS,
    *coherence.CHECKS,
)


def configured(path: Path) -> HealthConfig:
    """The configuration at `path`, its `[levels]` checked against the checks that exist."""
    config = load_config(path)
    unknown = sorted(set(config.levels) - {check.name for check in CHECKS})
    if unknown:
        raise HealthConfigError(f"{path}: [levels] names no check: {', '.join(unknown)}")
    return config


def check_by_id(check_id: str) -> Check:
    for check in CHECKS:
        if check.id == check_id:
            return check
    raise KeyError(f"no health check {check_id!r}")


def run_audit(ctx: AuditContext) -> dict[str, HealthResult]:
    return {check.id: check(ctx) for check in CHECKS}
