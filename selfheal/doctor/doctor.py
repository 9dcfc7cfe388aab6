"""The doctor: from a run's failures to a plan, and with `heal=True` to checked repairs.

Failures are grouped by the remedy that answers them (one remedy per kind of failure). Without
`heal` the doctor only says what it would do. With `heal` it applies each remedy once, verifies
it, then (once every remedy is applied) re-runs the failing checks in one pytest run; a failure
counts as healed only when its check passes again. A problem whose healing already failed
`MAX_FAILED_HEALS` times is left to a person, so no heal loops from run to run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from selfheal.core.text import first_line
from selfheal.doctor.recheck import Recheck, rerun
from selfheal.doctor.remedies import REMEDIES, Action, Context, Remedy
from selfheal.reporting import Outcome
from selfheal.tickets import Ticket, fingerprint_of

PLANNED, HEALED, FAILED = "planned", "healed", "failed"
NEEDS_PERSON, NO_REMEDY, NOTHING_TO_DO = "needs a person", "no remedy", "nothing to change"
TO_RECHECK = "to re-check"  # applied, awaiting the re-run of its check; never returned


@dataclass(frozen=True)
class HealResult:
    """What the doctor did about one failure; travels to the plugin as a dict."""

    node_id: str
    stage: str
    kind: str
    fingerprint: str
    remedy: str
    outcome: str  # planned, healed, failed, needs a person, no remedy, nothing to change
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Doctor:
    ctx: Context
    rootdir: Path
    tickets: list[Ticket]
    remedies: tuple[Remedy, ...] = REMEDIES

    def recheck(self, node_ids: list[str]) -> dict[str, Recheck]:
        return rerun(node_ids, self.ctx.dsn, self.rootdir)

    def run(self, failures: list[Outcome], heal: bool) -> list[HealResult]:
        results: list[HealResult] = []
        groups: dict[str, list[Outcome]] = {}
        for failure in failures:
            remedy = self.remedy_for(failure)
            if remedy is None:
                results.append(_result(failure, "-", NO_REMEDY, "no automatic remedy known"))
            elif self._needs_person(failure):
                results.append(_result(failure, remedy.name, NEEDS_PERSON, "healing failed twice"))
            else:
                groups.setdefault(remedy.name, []).append(failure)
        for remedy in self.remedies:
            if remedy.name in groups:
                results += self._treat(remedy, groups[remedy.name], heal)
        return self._recheck(results)

    def remedy_for(self, failure: Outcome) -> Remedy | None:
        return next((r for r in self.remedies if r.matches(failure)), None)

    def _needs_person(self, failure: Outcome) -> bool:
        fingerprint = fingerprint_of(failure.problem, failure.kind)
        return any(t.fingerprint == fingerprint and t.needs_person for t in self.tickets)

    def _treat(self, remedy: Remedy, failures: list[Outcome], heal: bool) -> list[HealResult]:
        try:
            actions = remedy.actions(self.ctx, failures)
        except Exception as error:  # a remedy's bug must not stop the others
            return [_result(f, remedy.name, FAILED, _reason(error)) for f in failures]
        plan = "; ".join(action.description for action in actions)
        if not actions and heal:  # an earlier remedy may have fixed these: the re-check says
            return [_result(f, remedy.name, TO_RECHECK, "nothing left to change") for f in failures]
        if not actions:
            return [
                _result(f, remedy.name, NOTHING_TO_DO, "found nothing to change") for f in failures
            ]
        if not heal:
            return [_result(f, remedy.name, PLANNED, plan) for f in failures]
        return self._heal(remedy, failures, actions, plan)

    def _heal(
        self, remedy: Remedy, failures: list[Outcome], actions: list[Action], plan: str
    ) -> list[HealResult]:
        try:
            remedy.apply(self.ctx, actions)
            verified = remedy.verify(self.ctx, failures)
        except Exception as error:
            return [_result(f, remedy.name, FAILED, f"{plan}: {_reason(error)}") for f in failures]
        if not verified:
            return [
                _result(f, remedy.name, FAILED, f"{plan}: still needed after") for f in failures
            ]
        if remedy.rechecks_itself:
            return [_result(f, remedy.name, HEALED, f"{plan}: re-run succeeded") for f in failures]
        return [_result(f, remedy.name, TO_RECHECK, plan) for f in failures]

    def _recheck(self, results: list[HealResult]) -> list[HealResult]:
        """Re-run every check a heal was applied for, all in one run after every remedy:
        a failure is healed only if its check passes now."""
        pending = [r for r in results if r.outcome == TO_RECHECK]
        checks = self.recheck([r.node_id for r in pending]) if pending else {}
        return [
            replace(
                r,
                outcome=HEALED if checks[r.node_id].passed else FAILED,
                detail=f"{r.detail}; re-check: {checks[r.node_id].summary}",
            )
            if r.outcome == TO_RECHECK
            else r
            for r in results
        ]


def _result(failure: Outcome, remedy: str, outcome: str, detail: str) -> HealResult:
    return HealResult(
        node_id=failure.nodeid,
        stage=failure.stage,
        kind=failure.kind,
        fingerprint=fingerprint_of(failure.problem, failure.kind),
        remedy=remedy,
        outcome=outcome,
        detail=detail,
    )


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {first_line(error)}"


def render_plan(results: list[HealResult]) -> str:
    """The doctor's answer for people, one line per failure."""
    if not results:
        return "doctor: no failures to treat"
    lines = [f"doctor: {len(results)} failure(s)"]
    for r in results:
        lines.append(
            f"- {r.node_id}: {r.remedy} -> {r.outcome}" + (f" ({r.detail})" if r.detail else "")
        )
    return "\n".join(lines)
