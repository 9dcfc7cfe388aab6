"""The state of every problem on one target, as its history tells it: what tickets stand on.

A problem's events are, run by run on that target: `failed` (a check found it at error level),
`passed` (a check that reported it before reached its verdict without finding it) and `healed`
(the doctor healed it and its check passed again). Its status is that of its latest event: open
after a failure, resolved after a pass or a heal. A problem whose check is absent from a full
run later than its last failure is retired: the check no longer exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from selfheal.run.pipeline import stage_rank

_FAILURES = """
SELECT p.fingerprint, p.code, p.object, p.node_id, c.stage, p.error_type, p.message, p.samples,
       p.remediation, r.run_id, r.finished_at
FROM selfheal_history.problem_results p
JOIN selfheal_history.runs r USING (run_id)
JOIN selfheal_history.check_results c USING (run_id, node_id)
WHERE r.target = %s AND p.severity = 'error'
ORDER BY r.run_id, p.node_id
"""
_VERDICTS = """
SELECT c.node_id, r.run_id, r.finished_at
FROM selfheal_history.check_results c JOIN selfheal_history.runs r USING (run_id)
WHERE r.target = %s AND c.complete AND c.node_id = ANY(%s)
ORDER BY r.run_id
"""
_HEALS = """
SELECT h.fingerprint, h.remedy, h.outcome, h.detail, r.run_id, r.finished_at
FROM selfheal_history.heals h JOIN selfheal_history.runs r USING (run_id)
WHERE r.target = %s ORDER BY r.run_id
"""
_LAST_FULL_RUN = """
SELECT r.run_id, r.finished_at,
       array(SELECT c.node_id FROM selfheal_history.check_results c WHERE c.run_id = r.run_id)
FROM selfheal_history.runs r WHERE r.target = %s AND r.full_run
ORDER BY r.run_id DESC LIMIT 1
"""


@dataclass(frozen=True)
class Event:
    run_id: int
    at: datetime
    outcome: str  # failed, passed, healed


@dataclass(frozen=True)
class HealEvent:
    at: datetime
    remedy: str
    outcome: str
    detail: str


@dataclass
class ProblemState:
    fingerprint: str
    code: str
    object: str
    node_id: str  # the check that reported it last
    stage: str
    error_type: str
    message: str
    samples: list[dict[str, Any]]
    remediation: str
    reporters: set[str] = field(default_factory=set)  # every check that ever reported it
    events: list[Event] = field(default_factory=list)
    heals: list[HealEvent] = field(default_factory=list)
    retired_at: datetime | None = None

    @property
    def failures(self) -> list[Event]:
        return [e for e in self.events if e.outcome == "failed"]

    @property
    def status(self) -> str:
        if self.retired_at is not None:
            return "retired"
        return "open" if self.events[-1].outcome == "failed" else "resolved"

    @property
    def reopened(self) -> int:
        """Failures that followed a pass or a heal."""
        pairs = zip(self.events, self.events[1:], strict=False)
        return sum(1 for a, b in pairs if a.outcome != "failed" and b.outcome == "failed")

    @property
    def resolved_at(self) -> datetime | None:
        return self.retired_at or (None if self.status == "open" else self.events[-1].at)


def _failures(conn: psycopg.Connection, target: str) -> dict[str, ProblemState]:
    states: dict[str, ProblemState] = {}
    for row in conn.execute(_FAILURES, (target,)):
        fingerprint, code, obj, node_id, stage, error_type, message, samples, fix, run_id, at = row
        state = states.get(fingerprint)
        if state is None:
            state = states[fingerprint] = ProblemState(
                fingerprint, code, obj, node_id, stage, error_type, message, samples, fix
            )
        new_run = not state.events or state.events[-1].run_id != run_id
        # Several checks may report one problem: the earliest stage's check owns its ticket.
        if new_run or stage_rank(stage) < stage_rank(state.stage):
            state.node_id, state.stage, state.error_type = node_id, stage, error_type
            state.message, state.samples, state.remediation = message, samples, fix
        state.reporters.add(node_id)
        if new_run:
            state.events.append(Event(run_id, at, "failed"))
    return states


def _add_passes(conn: psycopg.Connection, target: str, states: dict[str, ProblemState]) -> None:
    reporters = sorted({n for s in states.values() for n in s.reporters})
    verdicts: dict[str, list[tuple[int, datetime]]] = {}
    for node_id, run_id, at in conn.execute(_VERDICTS, (target, reporters)):
        verdicts.setdefault(node_id, []).append((run_id, at))
    for state in states.values():
        failed_in = {e.run_id for e in state.events}
        passes = {
            (run_id, at)
            for node in state.reporters
            for run_id, at in verdicts.get(node, ())
            if run_id not in failed_in
        }
        state.events += [Event(run_id, at, "passed") for run_id, at in passes]
        state.events.sort(key=lambda e: e.run_id)


def _add_heals(conn: psycopg.Connection, target: str, states: dict[str, ProblemState]) -> None:
    for fingerprint, remedy, outcome, detail, run_id, at in conn.execute(_HEALS, (target,)):
        state = states.get(fingerprint)
        if state is None:
            continue
        state.heals.append(HealEvent(at, remedy, outcome, detail))
        if outcome == "healed":
            state.events.append(Event(run_id, at, "healed"))
            state.events.sort(key=lambda e: (e.run_id, e.outcome != "failed"))


def _retire(conn: psycopg.Connection, target: str, states: dict[str, ProblemState]) -> None:
    last_full = conn.execute(_LAST_FULL_RUN, (target,)).fetchone()
    if last_full is None:
        return
    run_id, at, present = last_full[0], last_full[1], set(last_full[2])
    for state in states.values():
        if state.failures[-1].run_id < run_id and state.node_id not in present:
            state.retired_at = at


def problem_states(conn: psycopg.Connection, target: str) -> list[ProblemState]:
    """Every error-level problem the history of `target` holds, with its events."""
    states = _failures(conn, target)
    if states:
        _add_passes(conn, target, states)
        _add_heals(conn, target, states)
        _retire(conn, target, states)
    return list(states.values())
