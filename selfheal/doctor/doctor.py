"""The doctor: from a run's problems to a plan, and with `heal=True` to checked repairs.

Each failing problem goes to the remedy the registry names for its code; problems are grouped by
remedy. Without `heal` the doctor only says what it would do. With `heal` it applies each remedy
once, verifies it, then (once every remedy is applied) re-runs the failing checks in one pytest run;
a problem counts as healed only when its check passes again. A problem whose healing already failed
`MAX_FAILED_HEALS` times is left to a person, so no heal loops from run to run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from selfheal.core.text import first_line
from selfheal.doctor.recheck import Recheck, rerun
from selfheal.doctor.remedies import REGISTRY, Action, Context, Registry, Remedy
from selfheal.run.problem import Heal, Problem
from selfheal.run.reporting import Outcome
from selfheal.run.tickets import Ticket

PLANNED, HEALED, FAILED = "planned", "healed", "failed"
NEEDS_PERSON, NO_REMEDY, NOTHING_TO_DO = "needs a person", "no remedy", "nothing to change"
TO_RECHECK = "to re-check"  # applied, awaiting the re-run of its check; never returned


@dataclass(frozen=True)
class Case:
    """One problem to treat, and the check that found it (re-run after a heal)."""

    problem: Problem
    node_id: str
    stage: str

    def result(self, remedy: str, outcome: str, detail: str) -> Heal:
        return Heal(
            self.problem.code,
            self.problem.object,
            self.node_id,
            self.stage,
            remedy,
            outcome,
            detail,
        )


def cases_of(failures: list[Outcome]) -> list[Case]:
    """Each failing problem once (a broken fixture fails many checks with one problem)."""
    cases: dict[tuple[str, str], Case] = {}
    for failure in failures:
        for problem in failure.failing_problems:
            cases.setdefault(problem.identity, Case(problem, failure.nodeid, failure.stage))
    return list(cases.values())


@dataclass
class Doctor:
    ctx: Context
    rootdir: Path
    tickets: list[Ticket]
    registry: Registry = REGISTRY

    def recheck(self, node_ids: list[str]) -> dict[str, Recheck]:
        return rerun(node_ids, self.ctx.dsn, self.rootdir)

    def run(self, failures: list[Outcome], heal: bool) -> list[Heal]:
        results: list[Heal] = []
        groups: dict[str, list[Case]] = {}
        for case in cases_of(failures):
            remedy = self.registry.remedy_for(case.problem)
            if remedy is None:
                results.append(case.result("-", NO_REMEDY, "no automatic remedy known"))
            elif self._needs_person(case.problem):
                results.append(case.result(remedy.name, NEEDS_PERSON, "healing failed twice"))
            else:
                groups.setdefault(remedy.name, []).append(case)
        for remedy in self.registry.remedies:
            if remedy.name in groups:
                results += self._treat(remedy, groups[remedy.name], heal)
        return self._recheck(results)

    def _needs_person(self, problem: Problem) -> bool:
        return any(t.fingerprint == problem.fingerprint and t.needs_person for t in self.tickets)

    def _treat(self, remedy: Remedy, cases: list[Case], heal: bool) -> list[Heal]:
        problems = [case.problem for case in cases]
        try:
            actions = remedy.actions(self.ctx, problems)
        except Exception as error:  # a remedy's bug must not stop the others
            return [c.result(remedy.name, FAILED, _reason(error)) for c in cases]
        plan = "; ".join(action.description for action in actions)
        if not actions and heal:  # an earlier remedy may have fixed these: the re-check says
            return [c.result(remedy.name, TO_RECHECK, "nothing left to change") for c in cases]
        if not actions:
            return [c.result(remedy.name, NOTHING_TO_DO, "found nothing to change") for c in cases]
        if not heal:
            return [c.result(remedy.name, PLANNED, plan) for c in cases]
        return self._heal(remedy, cases, actions, plan)

    def _heal(
        self, remedy: Remedy, cases: list[Case], actions: list[Action], plan: str
    ) -> list[Heal]:
        try:
            remedy.apply(self.ctx, actions)
            verified = remedy.verify(self.ctx, [case.problem for case in cases])
        except Exception as error:
            return [c.result(remedy.name, FAILED, f"{plan}: {_reason(error)}") for c in cases]
        if not verified:
            return [c.result(remedy.name, FAILED, f"{plan}: still needed after") for c in cases]
        if remedy.rechecks_itself:
            return [c.result(remedy.name, HEALED, f"{plan}: re-run succeeded") for c in cases]
        return [c.result(remedy.name, TO_RECHECK, plan) for c in cases]

    def _recheck(self, results: list[Heal]) -> list[Heal]:
        """Re-run every check a heal was applied for, all in one run after every remedy:
        a problem is healed only if its check passes now."""
        pending = list(dict.fromkeys(r.node_id for r in results if r.outcome == TO_RECHECK))
        checks = self.recheck(pending) if pending else {}
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


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {first_line(error)}"


def render_plan(results: list[Heal]) -> str:
    """The doctor's answer for people, one line per problem."""
    if not results:
        return "doctor: no failures to treat"
    lines = [f"doctor: {len(results)} problem(s)"]
    for r in results:
        about = f" on {r.object}" if r.object else ""
        lines.append(
            f"- {r.code}{about} ({r.node_id}): {r.remedy} -> {r.outcome}"
            + (f" ({r.detail})" if r.detail else "")
        )
    return "\n".join(lines)
