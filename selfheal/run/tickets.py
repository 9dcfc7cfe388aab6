"""Backlog tickets: one Markdown file per distinct problem, updated run after run.

A ticket is one `Problem` on one target, identified by the problem's `(code, object)` (its
fingerprint): never the node id, the message or where an exception was raised, so renaming a check
keeps its ticket. A check that passes resolves the tickets it reported last; a check that fails
resolves those of its problems it no longer finds. Each ticket file starts with its machine-readable
record (JSON in an HTML comment) followed by the same facts written for people. Open tickets live in
`backlog/READY_system_fix_<slug>.md`; a problem that passes again moves to
`backlog/resolved/RESOLVED_system_fix_<slug>.md` with its history, and moves back (reopened) if it
fails again.

Tickets written before problems had codes (identified by node id and exception type) are upgraded
when the backlog is read: such a ticket becomes the `check.failed` problem of its check, tickets of
one check are merged into one, and the first problem that check names takes it over.

Every change happens under an exclusive lock on `backlog/.lock` and every file is written to a
temporary name then renamed, so two sessions finishing at once neither lose updates nor leave half a
file.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from selfheal.core.files import write_atomic
from selfheal.core.text import markdown_cell
from selfheal.run.problem import (
    CHECK_FAILED,
    FAILED,
    HEAL_OUTCOMES,
    HEALED,
    NO_REMEDY,
    Heal,
    Problem,
    fingerprint_of,
)
from selfheal.run.reporting import Outcome

OPEN_PREFIX = "READY_system_fix_"
RESOLVED_PREFIX = "RESOLVED_system_fix_"
RESOLVED_DIR = "resolved"
LOCK_NAME = ".lock"
MAX_HISTORY = 100
MAX_SAMPLE_ROWS = 10
SLUG_TEXT_LENGTH = 60
MAX_FAILED_HEALS = 2
# A ticket's "doctor tried" list keeps every outcome of the doctor's (HEAL_OUTCOMES): these two
# say what was done, the others what would be or why nothing was (a repeat of the same line run
# after run is kept once).
APPLIED = (HEALED, FAILED)

STATUS_LABELS = {
    "open": "open",
    "resolved": "resolved",
    "retired": "retired - its check no longer exists (after a full run)",
}

_RECORD_START = "<!-- selfheal-ticket\n"
_RECORD_END = "\n-->\n"


def _healed_problem(heal: Heal) -> Problem:
    return Problem(heal.code, heal.object, f"healed by {heal.remedy}")


class TicketFileError(ValueError):
    """A ticket file whose record cannot be read; the message names the file."""


def slug_of(node_id: str, fingerprint: str) -> str:
    """Readable, filesystem-safe, bounded: the node id's words plus a short hash."""
    words = re.sub(r"[^a-z0-9]+", "_", node_id.lower().removesuffix(".py")).strip("_")
    words = words.replace("_py_", "_")[:SLUG_TEXT_LENGTH].strip("_") or "check"
    return f"{words}_{fingerprint[:8]}"


@dataclass(frozen=True)
class Observation:
    """What one run saw of one check: the input of `Backlog.record_run`.

    `failed`: the check found `problem`. `passed`: the check ran to its verdict and found none
    of its other problems. `healed`: the doctor healed `problem` and its check passed again.
    """

    node_id: str
    stage: str
    outcome: str  # failed, passed, healed
    problem: Problem | None = None
    error_type: str = ""  # the exception a failure raised, shown on the ticket

    @property
    def fingerprint(self) -> str:
        return self.problem.fingerprint if self.problem else ""


def observations(outcome: Outcome) -> list[Observation]:
    """What the backlog learns from one check's outcome (a skipped check teaches nothing)."""
    found = [
        Observation(outcome.nodeid, outcome.stage, "failed", problem, outcome.error_type)
        for problem in outcome.failing_problems
    ]
    if outcome.complete:
        found.append(Observation(outcome.nodeid, outcome.stage, "passed"))
    return found


@dataclass
class HealAttempt:
    at: datetime
    remedy: str
    outcome: str  # planned, healed, failed
    detail: str = ""


@dataclass
class Ticket:
    fingerprint: str
    slug: str
    title: str
    node_id: str  # the check that reported the problem last
    stage: str
    kind: str  # the exception the failure raised (AssertionError, DatabaseUnreachable)
    code: str
    object: str
    status: str  # open, resolved
    first_seen: datetime
    last_seen: datetime
    occurrences: int = 1
    reopened: int = 0
    history: list[tuple[datetime, str]] = field(default_factory=list)
    message: str = ""
    remediation: str = ""  # the one fix advised for the problem ("" when the check gave none)
    sample_rows: list[dict[str, Any]] = field(default_factory=list)
    heals: list[HealAttempt] = field(default_factory=list)
    resolved_at: datetime | None = None
    target: str = ""  # the database it is about (redacted); "" in tickets written before

    @property
    def reproduce(self) -> str:
        return f"pytest '{self.node_id}'"

    @property
    def failed_heals(self) -> int:
        return sum(1 for heal in self.heals if heal.outcome == FAILED)

    @property
    def needs_person(self) -> bool:
        """Healing failed often enough: the doctor leaves this one alone."""
        return self.failed_heals >= MAX_FAILED_HEALS

    @property
    def filename(self) -> str:
        prefix = OPEN_PREFIX if self.status == "open" else RESOLVED_PREFIX
        return f"{prefix}{self.slug}.md"

    def observe(self, at: datetime, outcome: str) -> None:
        self.history = [*self.history, (at, outcome)][-MAX_HISTORY:]


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _record(ticket: Ticket) -> dict[str, Any]:
    record = asdict(ticket)
    record["history"] = [[at.isoformat(), outcome] for at, outcome in ticket.history]
    return record


def _from_record(record: dict[str, Any]) -> Ticket:
    parse = datetime.fromisoformat
    record = _upgraded_record(record)
    record["first_seen"] = parse(record["first_seen"])
    record["last_seen"] = parse(record["last_seen"])
    record["resolved_at"] = parse(record["resolved_at"]) if record.get("resolved_at") else None
    record["history"] = [(parse(at), outcome) for at, outcome in record.get("history", [])]
    record["heals"] = [
        HealAttempt(**{**heal, "at": parse(heal["at"])}) for heal in record.get("heals", [])
    ]
    return Ticket(**record)


def _upgraded_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record written before problems had codes names no problem: it was the failure of its
    check, so it becomes that check's `check.failed` problem (the first problem the check
    names later takes it over, see `Backlog._record_failure`)."""
    if "code" in record:
        return dict(record)
    identity = {"code": CHECK_FAILED, "object": record["node_id"]}
    return {**record, **identity, "fingerprint": fingerprint_of(*identity.values())}


def _merged(tickets: list[Ticket]) -> Ticket:
    """Tickets of one problem as one (upgraded tickets of one check differing only in the
    exception type): the earliest keeps its file, the counts add up, the histories interleave."""
    first = min(tickets, key=lambda t: t.first_seen)
    latest = max(tickets, key=lambda t: t.last_seen)
    still_open = any(t.status == "open" for t in tickets)
    resolved = [t.resolved_at for t in tickets if t.resolved_at]
    return replace(
        first,
        kind=latest.kind,
        last_seen=latest.last_seen,
        occurrences=sum(t.occurrences for t in tickets),
        reopened=sum(t.reopened for t in tickets),
        history=sorted(h for t in tickets for h in t.history)[-MAX_HISTORY:],
        message=latest.message,
        remediation=latest.remediation,
        sample_rows=latest.sample_rows,
        heals=sorted((h for t in tickets for h in t.heals), key=lambda h: h.at),
        status="open" if still_open else "resolved",
        resolved_at=None if still_open else max(resolved, default=None),
    )


def _rows_table(rows: list[dict[str, Any]]) -> list[str]:
    columns = list(dict.fromkeys(name for row in rows for name in row))
    lines = ["| " + " | ".join(markdown_cell(c) for c in columns) + " |"]
    lines.append("|" + " --- |" * len(columns))
    for row in rows:
        lines.append("| " + " | ".join(markdown_cell(row.get(c, "")) for c in columns) + " |")
    return lines


def render(ticket: Ticket) -> str:
    """The ticket file: its JSON record in a comment, then the Markdown for people."""
    record = json.dumps(_record(ticket), default=_encode, indent=1, sort_keys=True)
    state = STATUS_LABELS.get(ticket.status, "open")
    if ticket.status == "open" and ticket.needs_person:
        state += " - healing failed twice: needs a person"
    elif ticket.status == "open" and ticket.heals and ticket.heals[-1].outcome == NO_REMEDY:
        state += " - no automatic remedy: needs a person"
    lines = [
        _RECORD_START + record.replace("-->", "--\\u003e") + _RECORD_END,
        f"# {ticket.title}",
        "",
        f"- status: **{state}**",
        f"- problem: `{ticket.code}` on `{ticket.object or 'the target'}`",
        f"- target: {ticket.target or 'not recorded'}",
        f"- node id: `{ticket.node_id}`",
        f"- stage: {ticket.stage}",
        f"- kind of failure: {ticket.kind or 'failure'}",
        f"- first seen: {ticket.first_seen.isoformat(timespec='seconds')}",
        f"- last seen: {ticket.last_seen.isoformat(timespec='seconds')}",
        f"- occurrences: {ticket.occurrences}",
        f"- reopened: {ticket.reopened}",
        "",
        "## Reproduce",
        "",
        "```sh",
        ticket.reproduce,
        "```",
        "",
        "## Latest failure",
        "",
        "```text",
        ticket.message.replace("```", "'''") or "(no message)",
        "```",
    ]
    if ticket.sample_rows:
        lines += ["", "## Offending rows (sample)", "", *_rows_table(ticket.sample_rows)]
    if ticket.remediation:
        lines += ["", "## Fix", "", ticket.remediation]
    lines += ["", "## What the doctor tried", ""]
    if not ticket.heals:
        lines.append("Nothing yet.")
    for heal in ticket.heals:
        at = heal.at.isoformat(timespec="seconds")
        lines.append(
            f"- {at}: {heal.remedy} -> **{heal.outcome}** {markdown_cell(heal.detail)}".rstrip()
        )
    lines += ["", "## History (latest runs)", ""]
    lines += [f"- {at.isoformat(timespec='seconds')}: {outcome}" for at, outcome in ticket.history]
    return "\n".join(lines) + "\n"


def _read_record(text: str, path: Path | None) -> dict[str, Any]:
    if not text.startswith(_RECORD_START) or _RECORD_END not in text:
        raise TicketFileError(f"{path or 'ticket'}: no selfheal-ticket record at the top")
    body = text[len(_RECORD_START) : text.index(_RECORD_END)]
    try:
        record = json.loads(body)
    except ValueError as error:
        raise TicketFileError(f"{path or 'ticket'}: unreadable record ({error})") from None
    if not isinstance(record, dict):
        raise TicketFileError(f"{path or 'ticket'}: the record is not a JSON object")
    return record


def _ticket_of(record: dict[str, Any], path: Path | None) -> Ticket:
    try:
        return _from_record(record)
    except (ValueError, KeyError, TypeError) as error:
        raise TicketFileError(f"{path or 'ticket'}: unreadable record ({error})") from None


def parse(text: str, path: Path | None = None) -> Ticket:
    return _ticket_of(_read_record(text, path), path)


def _ticket_files(backlog_dir: Path) -> list[Path]:
    open_files = sorted(backlog_dir.glob(f"{OPEN_PREFIX}*.md"))
    resolved = sorted((backlog_dir / RESOLVED_DIR).glob(f"{RESOLVED_PREFIX}*.md"))
    return open_files + resolved


@dataclass
class _Stored:
    """One problem's ticket as read, and the files it was read from (several before merging)."""

    ticket: Ticket
    paths: list[Path]
    upgraded: bool


def _read_backlog(backlog_dir: Path) -> dict[str, _Stored]:
    stored: dict[str, _Stored] = {}
    for path in _ticket_files(backlog_dir):
        record = _read_record(path.read_text(encoding="utf-8"), path)
        ticket, upgraded = _ticket_of(record, path), "code" not in record
        seen = stored.get(ticket.fingerprint)
        if seen is None:
            stored[ticket.fingerprint] = _Stored(ticket, [path], upgraded)
        else:
            seen.ticket = _merged([seen.ticket, ticket])
            seen.paths.append(path)
            seen.upgraded = True
    return stored


def load_tickets(backlog_dir: Path) -> list[Ticket]:
    """Every ticket of the backlog, open and resolved (an absent backlog has none); tickets of
    an older format are upgraded in memory (the next run rewrites their files)."""
    return [stored.ticket for stored in _read_backlog(backlog_dir).values()]


@dataclass
class RunChanges:
    """What one run did to the backlog."""

    opened: list[Ticket] = field(default_factory=list)
    updated: list[Ticket] = field(default_factory=list)
    reopened: list[Ticket] = field(default_factory=list)
    resolved: list[Ticket] = field(default_factory=list)


def _title(stage: str, problem: Problem) -> str:
    about = f" on {problem.object}" if problem.object else ""
    return f"[{stage}] {problem.code}{about}"


class Backlog:
    """The tickets folder. `redact` is applied to every text before it reaches a file."""

    def __init__(self, directory: Path, redact: Callable[[str], str] = lambda text: text):
        self.directory = directory
        self.redact = redact

    @contextmanager
    def locked(self) -> Iterator[dict[str, Ticket]]:
        """Hold the backlog lock; yields the tickets by fingerprint."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / LOCK_NAME, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self._upgraded()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _upgraded(self) -> dict[str, Ticket]:
        """The tickets by fingerprint, after rewriting those read in an older format (and
        removing the files merged into another ticket's)."""
        tickets = {}
        for fingerprint, stored in _read_backlog(self.directory).items():
            if stored.upgraded:
                kept = self.save(stored.ticket)
                for path in stored.paths:
                    if path != kept:
                        path.unlink(missing_ok=True)
            tickets[fingerprint] = stored.ticket
        return tickets

    def save(self, ticket: Ticket) -> Path:
        """Write the ticket where its status says, and remove it from the other place."""
        open_path = self.directory / f"{OPEN_PREFIX}{ticket.slug}.md"
        resolved_path = self.directory / RESOLVED_DIR / f"{RESOLVED_PREFIX}{ticket.slug}.md"
        path, stale = (
            (open_path, resolved_path) if ticket.status == "open" else (resolved_path, open_path)
        )
        write_atomic(path, self.redact(render(ticket)))
        stale.unlink(missing_ok=True)
        return path

    def record_run(
        self, observations: Iterable[Observation], at: datetime, *, untargeted_only: bool = False
    ) -> RunChanges:
        """Open, update, reopen and resolve tickets from one run's observations. With
        `untargeted_only` (the run was recorded in the history, which writes every ticket of its
        problems), only the tickets that name no target (written where no history was recorded)
        are touched: a pass resolves them."""
        changes = RunChanges()
        observations = list(observations)
        failures: dict[str, Observation] = {}  # one per problem: its first failing check
        for observation in observations:
            if observation.outcome == "failed":
                failures.setdefault(observation.fingerprint, observation)
        with self.locked() as tickets:
            for failure in failures.values() if not untargeted_only else ():
                self._record_failure(tickets, failure, at, changes)
            for seen in observations:
                if seen.outcome == "passed":
                    candidates = {
                        f: t for f, t in tickets.items() if not (untargeted_only and t.target)
                    }
                    self._record_pass(candidates, seen, at, changes, still_failing=set(failures))
                elif seen.outcome == "healed" and seen.fingerprint in tickets:
                    self._resolve(tickets[seen.fingerprint], at, seen.outcome, changes)
        return changes

    def _record_failure(
        self, tickets: dict[str, Ticket], failure: Observation, at: datetime, changes: RunChanges
    ) -> None:
        assert failure.problem is not None, "a failure names its problem"
        problem = failure.problem
        message = self.redact(problem.message)
        rows = json.loads(
            self.redact(json.dumps(problem.evidence.samples[:MAX_SAMPLE_ROWS], default=str))
        )
        ticket = tickets.get(failure.fingerprint) or self._taken_over(tickets, failure)
        if ticket is None:
            ticket = Ticket(
                fingerprint=failure.fingerprint,
                slug=slug_of(failure.node_id, failure.fingerprint),
                title=self.redact(_title(failure.stage, problem)),
                node_id=failure.node_id,
                stage=failure.stage,
                kind=failure.error_type,
                code=problem.code,
                object=problem.object,
                status="open",
                first_seen=at,
                last_seen=at,
            )
            tickets[ticket.fingerprint] = ticket
            changes.opened.append(ticket)
        else:
            ticket.occurrences += 1
            ticket.last_seen = at
            if ticket.status == "resolved":
                ticket.status, ticket.resolved_at = "open", None
                ticket.reopened += 1
                changes.reopened.append(ticket)
            else:
                changes.updated.append(ticket)
        ticket.message, ticket.sample_rows, ticket.stage = message, rows, failure.stage
        ticket.remediation = self.redact(problem.remediation)
        ticket.node_id, ticket.kind = failure.node_id, failure.error_type
        ticket.observe(at, "failed")
        self.save(ticket)

    @staticmethod
    def _taken_over(tickets: dict[str, Ticket], failure: Observation) -> Ticket | None:
        """The ticket of the same check failing without a named problem (an upgraded ticket,
        or a crash before this check named what it found): the named problem takes it over."""
        assert failure.problem is not None
        unnamed = tickets.get(fingerprint_of(CHECK_FAILED, failure.node_id))
        if unnamed is None or failure.problem.code == CHECK_FAILED:
            return None
        del tickets[unnamed.fingerprint]
        unnamed.fingerprint = failure.fingerprint
        unnamed.code, unnamed.object = failure.problem.code, failure.problem.object
        tickets[unnamed.fingerprint] = unnamed
        return unnamed

    def _record_pass(
        self,
        tickets: dict[str, Ticket],
        passing: Observation,
        at: datetime,
        changes: RunChanges,
        still_failing: set[str],
    ) -> None:
        for ticket in tickets.values():
            if ticket.node_id == passing.node_id and ticket.fingerprint not in still_failing:
                self._resolve(ticket, at, passing.outcome, changes)

    def _resolve(self, ticket: Ticket, at: datetime, outcome: str, changes: RunChanges) -> None:
        ticket.observe(at, outcome)
        if ticket.status == "open":
            ticket.status, ticket.resolved_at = "resolved", at
            changes.resolved.append(ticket)
        self.save(ticket)

    def record_heals(self, heals: list[Heal], at: datetime) -> list[Ticket]:
        """Record what the doctor did; returns the tickets a heal resolved."""
        healed = [
            Observation(h.node_id, h.stage, "healed", _healed_problem(h))
            for h in heals
            if h.outcome == HEALED
        ]
        resolved = self.record_run(healed, at).resolved
        for h in heals:
            if h.outcome in HEAL_OUTCOMES:
                self.record_heal(h.fingerprint, HealAttempt(at, h.remedy, h.outcome, h.detail))
        return resolved

    def record_heal(self, fingerprint: str, attempt: HealAttempt) -> Ticket | None:
        """Add what the doctor tried to a ticket; returns it (None if no such ticket)."""
        with self.locked() as tickets:
            ticket = tickets.get(fingerprint)
            if ticket is None:
                return None
            attempt = HealAttempt(
                attempt.at, attempt.remedy, attempt.outcome, self.redact(attempt.detail)
            )
            last = ticket.heals[-1] if ticket.heals else None
            repeated = last and (last.remedy, last.outcome) == (attempt.remedy, attempt.outcome)
            if repeated and attempt.outcome not in APPLIED:
                ticket.heals.pop()  # the same plan run after run is one line, not many
            ticket.heals.append(attempt)
            self.save(ticket)
            return ticket
