"""Backlog tickets: one Markdown file per distinct problem, updated run after run.

A problem is identified by its fingerprint: the failing node id plus the kind of failure (the
exception type or the evidence's kind), never the message, whose numbers change between runs.
Each ticket file starts with its machine-readable record (JSON in an HTML comment) followed by
the same facts written for people. Open tickets live in `backlog/READY_system_fix_<slug>.md`;
a problem that passes again moves to `backlog/resolved/RESOLVED_system_fix_<slug>.md` with its
history, and moves back (reopened) if it fails again.

Every change happens under an exclusive lock on `backlog/.lock` and every file is written to a
temporary name then renamed, so two sessions finishing at once neither lose updates nor leave
half a file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from selfheal.core.files import write_atomic
from selfheal.core.text import markdown_cell

OPEN_PREFIX = "READY_system_fix_"
RESOLVED_PREFIX = "RESOLVED_system_fix_"
RESOLVED_DIR = "resolved"
LOCK_NAME = ".lock"
MAX_HISTORY = 100
MAX_SAMPLE_ROWS = 10
SLUG_TEXT_LENGTH = 60
MAX_FAILED_HEALS = 2
# What a ticket's "doctor tried" list keeps; the first two say what was done, the others what
# would be (a repeat of the same line run after run is kept once).
APPLIED = ("healed", "failed")
HEAL_OUTCOMES = (*APPLIED, "planned", "no remedy", "needs a person")

_RECORD_START = "<!-- selfheal-ticket\n"
_RECORD_END = "\n-->\n"


class TicketFileError(ValueError):
    """A ticket file whose record cannot be read; the message names the file."""


def fingerprint_of(node_id: str, kind: str) -> str:
    return hashlib.sha256(f"{node_id}\x00{kind}".encode()).hexdigest()[:16]


def slug_of(node_id: str, fingerprint: str) -> str:
    """Readable, filesystem-safe, bounded: the node id's words plus a short hash."""
    words = re.sub(r"[^a-z0-9]+", "_", node_id.lower().removesuffix(".py")).strip("_")
    words = words.replace("_py_", "_")[:SLUG_TEXT_LENGTH].strip("_") or "check"
    return f"{words}_{fingerprint[:8]}"


@dataclass(frozen=True)
class Observation:
    """What one run saw of one check: the input of `Backlog.record_run`."""

    node_id: str
    stage: str
    outcome: str  # failed, passed, healed
    kind: str = ""
    message: str = ""
    sample_rows: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""  # what identifies the problem when not the node id alone (see Outcome)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.problem or self.node_id, self.kind)


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
    node_id: str
    stage: str
    kind: str
    status: str  # open, resolved
    first_seen: datetime
    last_seen: datetime
    occurrences: int = 1
    reopened: int = 0
    history: list[tuple[datetime, str]] = field(default_factory=list)
    message: str = ""
    sample_rows: list[dict[str, Any]] = field(default_factory=list)
    heals: list[HealAttempt] = field(default_factory=list)
    resolved_at: datetime | None = None

    @property
    def reproduce(self) -> str:
        return f"pytest '{self.node_id}'"

    @property
    def failed_heals(self) -> int:
        return sum(1 for heal in self.heals if heal.outcome == "failed")

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
    record = dict(record)
    record["first_seen"] = parse(record["first_seen"])
    record["last_seen"] = parse(record["last_seen"])
    record["resolved_at"] = parse(record["resolved_at"]) if record.get("resolved_at") else None
    record["history"] = [(parse(at), outcome) for at, outcome in record.get("history", [])]
    record["heals"] = [
        HealAttempt(**{**heal, "at": parse(heal["at"])}) for heal in record.get("heals", [])
    ]
    return Ticket(**record)


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
    state = "resolved" if ticket.status == "resolved" else "open"
    if ticket.needs_person:
        state += " - healing failed twice: needs a person"
    elif ticket.heals and ticket.heals[-1].outcome == "no remedy":
        state += " - no automatic remedy: needs a person"
    lines = [
        _RECORD_START + record.replace("-->", "--\\u003e") + _RECORD_END,
        f"# {ticket.title}",
        "",
        f"- status: **{state}**",
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


def parse(text: str, path: Path | None = None) -> Ticket:
    if not text.startswith(_RECORD_START) or _RECORD_END not in text:
        raise TicketFileError(f"{path or 'ticket'}: no selfheal-ticket record at the top")
    body = text[len(_RECORD_START) : text.index(_RECORD_END)]
    try:
        return _from_record(json.loads(body))
    except (ValueError, KeyError, TypeError) as error:
        raise TicketFileError(f"{path or 'ticket'}: unreadable record ({error})") from None


def _ticket_files(backlog_dir: Path) -> list[Path]:
    open_files = sorted(backlog_dir.glob(f"{OPEN_PREFIX}*.md"))
    resolved = sorted((backlog_dir / RESOLVED_DIR).glob(f"{RESOLVED_PREFIX}*.md"))
    return open_files + resolved


def load_tickets(backlog_dir: Path) -> list[Ticket]:
    """Every ticket of the backlog, open and resolved (an absent backlog has none)."""
    return [parse(path.read_text(encoding="utf-8"), path) for path in _ticket_files(backlog_dir)]


@dataclass
class RunChanges:
    """What one run did to the backlog."""

    opened: list[Ticket] = field(default_factory=list)
    updated: list[Ticket] = field(default_factory=list)
    reopened: list[Ticket] = field(default_factory=list)
    resolved: list[Ticket] = field(default_factory=list)


def _title(observation: Observation) -> str:
    test = observation.node_id.split("::", 1)[-1]
    return f"[{observation.stage}] {test} fails ({observation.kind or 'failure'})"


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
                yield {ticket.fingerprint: ticket for ticket in load_tickets(self.directory)}
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

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

    def record_run(self, observations: list[Observation], at: datetime) -> RunChanges:
        """Open, update, reopen and resolve tickets from one run's observations."""
        changes = RunChanges()
        failures: dict[str, Observation] = {}  # one per problem: its first failing check
        for observation in observations:
            if observation.outcome == "failed":
                failures.setdefault(observation.fingerprint, observation)
        with self.locked() as tickets:
            for failure in failures.values():
                self._record_failure(tickets, failure, at, changes)
            for passing in (o for o in observations if o.outcome in ("passed", "healed")):
                still_failing = {f for f in failures if tickets[f].node_id == passing.node_id}
                self._record_pass(tickets.values(), passing, at, changes, skip=still_failing)
        return changes

    def _record_failure(
        self, tickets: dict[str, Ticket], failure: Observation, at: datetime, changes: RunChanges
    ) -> None:
        message = self.redact(failure.message)
        rows = json.loads(
            self.redact(json.dumps(failure.sample_rows[:MAX_SAMPLE_ROWS], default=str))
        )
        ticket = tickets.get(failure.fingerprint)
        if ticket is None:
            ticket = Ticket(
                fingerprint=failure.fingerprint,
                slug=slug_of(failure.node_id, failure.fingerprint),
                title=self.redact(_title(failure)),
                node_id=failure.node_id,
                stage=failure.stage,
                kind=failure.kind,
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
        ticket.observe(at, "failed")
        self.save(ticket)

    def _record_pass(
        self,
        tickets: Any,
        passing: Observation,
        at: datetime,
        changes: RunChanges,
        skip: set[str],
    ) -> None:
        for ticket in tickets:
            if ticket.node_id != passing.node_id or ticket.fingerprint in skip:
                continue
            ticket.observe(at, passing.outcome)
            if ticket.status == "open":
                ticket.status, ticket.resolved_at = "resolved", at
                changes.resolved.append(ticket)
            self.save(ticket)

    def record_heals(self, heals: list[dict[str, str]], at: datetime) -> list[Ticket]:
        """Record what the doctor did (`HealResult` dicts); returns the tickets a heal resolved."""
        healed = [
            Observation(h["node_id"], h["stage"], "healed")
            for h in heals
            if h["outcome"] == "healed"
        ]
        resolved = self.record_run(healed, at).resolved
        for h in heals:
            if h["outcome"] in HEAL_OUTCOMES:
                attempt = HealAttempt(at, h["remedy"], h["outcome"], h.get("detail", ""))
                self.record_heal(h["fingerprint"], attempt)
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
