"""The backlog regenerated from the history: each ticket is what the history of its problem on
its target says (`problems.problem_states`), written at the end of every session that recorded
its run. A problem is open while its latest result on the target fails, resolved when its check
passes on that target again (or the doctor healed it), and retired when a full run no longer has
its check. What the command-line doctor wrote on a ticket without a session is kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

from selfheal.run.history.problems import ProblemState
from selfheal.run.tickets import (
    MAX_HISTORY,
    MAX_SAMPLE_ROWS,
    Backlog,
    HealAttempt,
    RunChanges,
    Ticket,
    slug_of,
)

Redact = Callable[[str], str]


def ticket_of(state: ProblemState, target: str, redact: Redact, zone: tzinfo = UTC) -> Ticket:
    """The ticket the history of one problem makes, its times in `zone` (the run's TZ, as the
    tickets written without a history and the command-line doctor's heals are)."""
    failures = state.failures

    def local(at: datetime) -> datetime:
        return at.astimezone(zone)

    about = f" on {state.object}" if state.object else ""
    samples = json.loads(redact(json.dumps(state.samples[:MAX_SAMPLE_ROWS], default=str)))
    return Ticket(
        fingerprint=state.fingerprint,
        slug=slug_of(state.node_id, state.fingerprint),
        title=redact(f"[{state.stage}] {state.code}{about}"),
        node_id=state.node_id,
        stage=state.stage,
        kind=state.error_type,
        code=state.code,
        object=state.object,
        status=state.status,
        first_seen=local(failures[0].at),
        last_seen=local(failures[-1].at),
        occurrences=len(failures),
        reopened=state.reopened,
        history=[(local(e.at), e.outcome) for e in state.events][-MAX_HISTORY:],
        message=redact(state.message),
        remediation=redact(state.remediation),
        sample_rows=samples,
        heals=[
            HealAttempt(local(h.at), h.remedy, h.outcome, redact(h.detail)) for h in state.heals
        ],
        resolved_at=state.resolved_at and local(state.resolved_at),
        target=target,
    )


def _change(old: Ticket | None, new: Ticket, changes: RunChanges) -> None:
    was_open = old is not None and old.status == "open"
    if new.status == "open" and old is None:
        changes.opened.append(new)
    elif new.status == "open" and not was_open:
        changes.reopened.append(new)
    elif new.status == "open" and new.occurrences != old.occurrences:
        changes.updated.append(new)
    elif new.status != "open" and was_open:
        changes.resolved.append(new)


def _with_kept(old: Ticket | None, new: Ticket) -> Ticket:
    """The old file's name, and the heals only the command-line doctor recorded."""
    if old is None:
        return new
    known = {(h.at, h.remedy, h.outcome) for h in new.heals}
    kept = [h for h in old.heals if (h.at, h.remedy, h.outcome) not in known]
    heals = sorted([*new.heals, *kept], key=lambda h: h.at)
    return replace(new, slug=old.slug, heals=heals)


def regenerate(
    backlog: Backlog, states: list[ProblemState], target: str, zone: tzinfo = UTC
) -> RunChanges:
    """Rewrite the tickets of `target` from their problems' history; returns what changed."""
    changes = RunChanges()
    with backlog.locked() as tickets:
        for state in states:
            old = tickets.get(state.fingerprint)
            if old is not None and old.target not in ("", target):
                continue  # a ticket of another target: this folder keeps the first one's
            new = _with_kept(old, ticket_of(state, target, backlog.redact, zone))
            _change(old, new, changes)
            if new != old:  # an unchanged ticket's file is left as it is
                backlog.save(new)
    return changes
