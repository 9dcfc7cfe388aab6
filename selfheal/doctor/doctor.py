"""The doctor: from a run's problems to a plan, and with `heal=True` to checked repairs.

Each failing problem goes to the remedy the registry names for its code; problems are grouped by
remedy. Without `heal` the doctor only says what it would do. With `heal` it applies each remedy
once (each repair in its own transaction: see `remedies.run_in_transactions`), verifies it, then
(once every remedy is applied) re-runs the failing checks in one pytest run; a problem counts as
healed only when its check passes again. A problem whose healing already failed
`MAX_FAILED_HEALS` times is left to a person, so no heal loops from run to run.

Accounting is honest: a remedy that finds nothing to change did not fail (if the check still
fails, the problem is left to a person: "nothing to change"); a repair whose transaction rolled
back failed; when closing exposures failed, no later remedy runs ("blocked": no ETL retry into
a table left open); only a remedy that crashed is the doctor's own error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from selfheal.core.db import DatabaseUnreachable
from selfheal.core.identifiers import qualified
from selfheal.core.settings import VARIABLES
from selfheal.core.text import first_line
from selfheal.doctor.recheck import Recheck, rerun
from selfheal.doctor.remedies import EXPOSURES, REGISTRY, Action, Context, Registry, Remedy
from selfheal.run.problem import (
    BLOCKED,
    DOCTOR_ERROR,
    FAILED,
    HEALED,
    NEEDS_PERSON,
    NO_REMEDY,
    NOTHING_TO_DO,
    PLANNED,
    UNREACHABLE,
    Heal,
    Problem,
)
from selfheal.run.reporting import Outcome
from selfheal.run.tickets import Ticket

DSN_VARIABLE = next(v.name for v in VARIABLES if v.attribute == "db_url")
TO_RECHECK = "to re-check"  # applied, awaiting the re-run of its check; never returned


ETL_STAGE = "etl"


@dataclass(frozen=True)
class Case:
    """One problem to treat, the check that found it first, and every check that reported it
    (re-run after a heal; an ETL check is re-run as its job, by the doctor)."""

    problem: Problem
    reporters: tuple[tuple[str, str], ...]  # (node id, stage) of each check reporting it

    @property
    def node_id(self) -> str:
        return self.reporters[0][0]

    @property
    def stage(self) -> str:
        return self.reporters[0][1]

    @property
    def rechecks(self) -> list[str]:
        return [node for node, stage in self.reporters if stage != ETL_STAGE]

    @property
    def failed_in_etl(self) -> bool:
        return any(stage == ETL_STAGE for _, stage in self.reporters)

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


def still_failing(outcomes: list[Outcome], tickets: list[Ticket]) -> list[Outcome]:
    """The failures of a past run whose problems are not healed since: a problem whose ticket
    was resolved after that run (by a heal and its passing re-check) is not treated again."""
    resolved = {t.fingerprint for t in tickets if t.status != "open"}
    failing = []
    for outcome in outcomes:
        left = tuple(p for p in outcome.problems if p.fingerprint not in resolved)
        if outcome.outcome == "failed" and any(p.failing for p in left):
            failing.append(replace(outcome, problems=left))
    return failing


def cases_of(failures: list[Outcome]) -> list[Case]:
    """Each failing problem once (a broken fixture fails many checks with one problem)."""
    cases: dict[tuple[str, str], Case] = {}
    for failure in failures:
        for problem in failure.failing_problems:
            reporter = (failure.nodeid, failure.stage)
            case = cases.setdefault(problem.identity, Case(problem, (reporter,)))
            if reporter not in case.reporters:
                cases[problem.identity] = replace(case, reporters=(*case.reporters, reporter))
    return list(cases.values())


@dataclass
class Doctor:
    ctx: Context
    rootdir: Path
    tickets: list[Ticket]
    registry: Registry = REGISTRY
    blocked: str = ""  # why later remedies must not run (an exposure left open)
    failed_roots: dict[str, str] = field(default_factory=dict)  # repairs that failed, why
    cases: dict[tuple[str, str], Case] = field(default_factory=dict)
    # Problems the re-checks found that the run had not (a constraint back but violated by old
    # rows): the doctor stage reports them, so each gets its ticket now, not next run.
    surfaced: list[Problem] = field(default_factory=list)

    def recheck(self, node_ids: list[str]) -> dict[str, Recheck]:
        return rerun(node_ids, self.ctx.dsn, self.rootdir)

    def run(self, failures: list[Outcome], heal: bool) -> list[Heal]:
        cases = cases_of(failures)
        self.cases = {case.problem.identity: case for case in cases}
        if cases and not self._reachable():
            hint = f"check {DSN_VARIABLE}"
            return [case.result("-", UNREACHABLE, hint) for case in cases]
        results: list[Heal] = []
        groups: dict[str, list[Case]] = {}
        for case in cases:
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

    def _reachable(self) -> bool:
        try:
            self.ctx.read().close()
        except DatabaseUnreachable:
            return False
        return True

    def _needs_person(self, problem: Problem) -> bool:
        return any(t.fingerprint == problem.fingerprint and t.needs_person for t in self.tickets)

    def _treat(self, remedy: Remedy, cases: list[Case], heal: bool) -> list[Heal]:
        if self.blocked and heal:
            return [c.result(remedy.name, BLOCKED, self.blocked) for c in cases]
        problems = [case.problem for case in cases]
        try:
            actions = remedy.actions(self.ctx, problems)
        except Exception as error:  # a remedy's bug must not stop the others
            return [c.result(remedy.name, DOCTOR_ERROR, _reason(error)) for c in cases]
        if not actions and heal:  # an earlier remedy may have fixed these: the re-check says
            return [c.result(remedy.name, TO_RECHECK, NOTHING_LEFT) for c in cases]
        if not actions:
            return [c.result(remedy.name, NOTHING_TO_DO, "found nothing to change") for c in cases]
        if not heal:
            return [c.result(remedy.name, PLANNED, _plan(_mine(c, actions))) for c in cases]
        cases, actions, stopped = self._unblocked(cases, actions)
        results = [case.result(remedy.name, BLOCKED, why) for case, why in stopped]
        return results + (self._heal(remedy, cases, actions) if cases else [])

    def _unblocked(
        self, cases: list[Case], actions: list[Action]
    ) -> tuple[list[Case], list[Action], list[tuple[Case, str]]]:
        """No ETL run into a table whose repair failed: the cases and actions left, and the
        cases blocked with why."""
        blocked = self._blocked_jobs()
        kept = [a for a in actions if a.job is None or a.job[0] not in blocked]
        stopped = [
            (case, blocked[mine[0].job[0]])
            for case in cases
            if (mine := _mine(case, actions)) and all(a not in kept for a in mine)
        ]
        left = [case for case in cases if all(case is not c for c, _ in stopped)]
        return left, kept, stopped

    def _blocked_jobs(self) -> dict[str, str]:
        """Each ETL job that loads a table whose repair failed, and every job after it (a later
        job may read it: the metrics job reads the sources' tables), with why."""
        etl, blocked = self.ctx.etl, {}
        for (schema, table), job in etl.job_of_table.items() if etl else ():
            why = self.failed_roots.get(qualified(schema, table))
            for later in _from(etl.jobs, job) if why else ():
                blocked.setdefault(
                    later, f"not run: the repair of {qualified(schema, table)} failed ({why})"
                )
        return blocked

    def _heal(self, remedy: Remedy, cases: list[Case], actions: list[Action]) -> list[Heal]:
        try:
            failed = remedy.apply(self.ctx, actions)
            left = remedy.remaining(self.ctx, [case.problem for case in cases])
        except Exception as error:
            failed, left = {"": _reason(error)}, []
        if remedy.closes_exposures and EXPOSURES in failed:
            self.blocked = f"not applied: {remedy.name} failed ({'; '.join(failed.values())})"
        if remedy.closes_exposures:
            self.failed_roots |= {root: why for root, why in failed.items() if root}
        results = [_healed(remedy, case, actions, failed, left) for case in cases]
        return [self._reload(case, r) for case, r in zip(cases, results, strict=True)]

    def _reload(self, case: Case, result: Heal) -> Heal:
        """A repaired table whose load failed in this run is loaded again: its job and every
        job after it (a later job may read it) but those into a table whose repair failed,
        before the checks are re-run."""
        etl = self.ctx.etl
        if result.outcome != TO_RECHECK or not case.failed_in_etl or etl is None:
            return result
        about = case.problem.object
        loads = [
            job
            for (schema, table), job in etl.job_of_table.items()
            if qualified(schema, table) == about or _within(about, (qualified(schema, table),))
        ]
        blocked = self._blocked_jobs()
        jobs = [job for job in _from(etl.jobs, loads[0]) if job not in blocked] if loads else []
        try:
            for job in jobs:
                etl.run(job, None, None)
        except Exception as error:  # the job's own failure, told on the ticket
            return replace(
                result, outcome=FAILED, detail=f"{result.detail}; reload: {_reason(error)}"
            )
        done = f"; then re-ran ETL {', '.join(jobs)}" if jobs else ""
        return replace(result, detail=f"{result.detail}{done}")

    def _recheck(self, results: list[Heal]) -> list[Heal]:
        """Re-run every check a heal was applied for, all in one run after every remedy:
        a problem is healed only if its check passes now."""
        nodes = {(r.code, r.object): self._rechecks(r) for r in results if r.outcome == TO_RECHECK}
        pending = list(dict.fromkeys(node for each in nodes.values() for node in each))
        checks = self.recheck(pending) if pending else {}
        found = {p.identity: p for check in checks.values() for p in check.problems}
        self.surfaced = [p for identity, p in found.items() if identity not in self.cases]
        return [
            _rechecked(r, [checks[node] for node in nodes[r.code, r.object]])
            if r.outcome == TO_RECHECK
            else r
            for r in results
        ]

    def _rechecks(self, result: Heal) -> list[str]:
        """The checks that reported the problem (its ETL checks were re-run as jobs)."""
        case = self.cases.get((result.code, result.object))
        return case.rechecks if case else [result.node_id]


NOTHING_LEFT = "nothing left to change"


def _rechecked(result: Heal, checks: list[Recheck]) -> Heal:
    """A heal's outcome once the checks that reported it ran again: healed when none of them
    reports the problem any more (one may report another: its own ticket). A remedy that
    changed nothing did not fail: if the problem is still reported, it is left to a person as
    "nothing to change"."""
    unchanged = NOTHING_TO_DO if result.detail == NOTHING_LEFT else FAILED
    failing = [check for check in checks if not check.clears((result.code, result.object))]
    outcome = unchanged if failing else HEALED
    return replace(
        result, outcome=outcome, detail=f"{result.detail}; re-check: {_told(checks, failing)}"
    )


def _told(checks: list[Recheck], failing: list[Recheck]) -> str:
    if failing:
        return failing[0].summary
    others = [check.summary for check in checks if not check.passed]
    return f"passed for this problem; the check now reports {others[0]}" if others else "passed"


def _healed(
    remedy: Remedy, case: Case, actions: list[Action], failed: dict[str, str], left: list[Action]
) -> Heal:
    """One case's outcome once its remedy was applied: failed if its repair rolled back (or the
    remedy broke) or is still needed; else healed if the remedy re-ran what failed, or to be
    re-checked."""
    mine = _mine(case, actions)
    plan = _plan(mine)
    why = [failed[root] for root in dict.fromkeys(a.root for a in mine) if root in failed]
    why += [failed[""]] if "" in failed else []
    # The reason first: a schema repair's plan is its whole delta.
    if why:
        return case.result(remedy.name, FAILED, f"{why[0]}; the repair: {plan}")
    still = _about(case, left)
    if still:
        return case.result(
            remedy.name, FAILED, f"still needed: {_plan(still)}; after the repair: {plan}"
        )
    if remedy.rechecks_itself:
        return case.result(remedy.name, HEALED, f"{plan}: re-run succeeded")
    return case.result(remedy.name, TO_RECHECK, plan)


def _about(case: Case, actions: list[Action]) -> list[Action]:
    """The actions that change this case's object, by their root or the object they change."""
    about = case.problem.object
    return [a for a in actions if about in a.objects or _within(about, a.objects)]


def _mine(case: Case, actions: list[Action]) -> list[Action]:
    """The actions this case's heal depends on: those about its object, else every one."""
    return _about(case, actions) or actions


def _within(about: str, objects: tuple[str, ...]) -> bool:
    """`public.events.user_id` is within `public.events` (a column, a policy of a table)."""
    return any(about.startswith(f"{o}.") or about.startswith(f"{o} ") for o in objects)


def _from(jobs: tuple[str, ...], job: str) -> tuple[str, ...]:
    """`job` and every job after it in the ETL's order."""
    return jobs[jobs.index(job) :] if job in jobs else ()


def _plan(actions: list[Action]) -> str:
    return "; ".join(action.description for action in actions)


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {first_line(error)}"


def render_plan(results: list[Heal]) -> str:
    """The doctor's answer for people: one step per repair (problems sharing a plan share a
    step, so a delta is printed once), each with the problems it treats."""
    if not results:
        return "doctor: no failures to treat"
    if all(r.outcome == UNREACHABLE for r in results):
        return f"doctor: the database does not answer; {results[0].detail} (nothing planned)"
    steps: dict[tuple[str, str, str], list[Heal]] = {}
    for r in results:
        steps.setdefault((r.remedy, r.outcome, r.detail), []).append(r)
    lines = [f"doctor: {len(results)} problem(s) in {len(steps)} step(s)"]
    for number, ((remedy, outcome, detail), treated) in enumerate(steps.items(), 1):
        lines.append(f"{number}. {remedy} -> {outcome}" + (f": {detail}" if detail else ""))
        for r in treated:
            about = f" on {r.object}" if r.object else ""
            lines.append(f"   - {r.code}{about} ({r.node_id})")
    return "\n".join(lines)
