"""The one record a failure becomes: a `Problem`, from the check to the ticket and the doctor.

A problem says what is wrong (`code`, a stable enum-like string), about what (`object`: a
database object schema-qualified and quoted as PostgreSQL's `quote_ident` quotes it, or the
thing a non-database check is about), how bad (`severity`), what proves it (`evidence`) and what
fixes it (`remediation`). Its identity is `(code, object)`: a ticket is one problem on one target,
and the doctor picks a remedy by `code`. Neither depends on a check's name, its node id or its
message, so renaming a check or a rule keeps its tickets and its heals.

Every code belongs to a family (the part before the first dot); the families and the fixed codes
are declared here, the codes of a family with a variable part by the helpers below.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

FAMILIES = {
    "preflight": "an item of preflight: a variable, the server, a migration file, the ledger",
    "schema": "the live database lacks, or differs from, an object the migrations create",
    "rls": "a row-level security lint, or an access probe that saw too much",
    "dq": "a data-quality rule (`dq.<rule kind>`, or `dq.custom` for a custom SQL check)",
    "health": "a check of the system health audit (`health.<check>`)",
    "migrations": "applying the pending migrations",
    "etl": "an ETL job (a source, or the metrics built from them)",
    "doctor": "a remedy the doctor applied that did not heal its problem",
    "setup": "a shared fixture that failed before its checks ran (`setup.<fixture>`)",
    "collect": "a check file that could not be collected",
    "check": "a check that failed without naming its problem (the object is the check)",
}

SCHEMA_MISSING = "schema.missing"
RLS_ACCESS = "rls.access_exceeds_declaration"
RLS_CLAIMS = "rls.claims_grant_access"
RLS_WRITE = "rls.write_not_refused"
RLS_PROBE_UNAVAILABLE = "rls.probe_unavailable"
DQ_CUSTOM = "dq.custom"
DQ_RULE_FILE = "dq.rule_file"  # a rule file (or custom SQL file) that cannot be read
MIGRATIONS_PENDING = "migrations.still_pending"
ETL_SOURCE_FAILED = "etl.source_failed"
ETL_ROWS_QUARANTINED = "etl.rows_quarantined"
DOCTOR_HEAL_FAILED = "doctor.heal_failed"
COLLECT_ERROR = "collect.error"
CHECK_FAILED = "check.failed"

_CODE = re.compile(r"[a-z]+(\.[A-Za-z0-9_]+)+")


def schema_code(kind: str) -> str:
    """A difference between expected and live: `schema.<object kind>_<field>`, or a named one
    such as `schema.rls_disabled` (see selfheal.schema.diff.Difference.kind)."""
    return f"schema.{kind}"


def rls_lint_code(lint: str) -> str:
    return f"rls.{lint}"


def dq_code(rule_kind: str) -> str:
    return f"dq.{rule_kind}"


def health_code(check: str) -> str:
    return f"health.{check}"


def preflight_code(item: str) -> str:
    return f"preflight.{item}"


def setup_code(fixture: str) -> str:
    return f"setup.{fixture}"


def fingerprint_of(code: str, obj: str) -> str:
    """The identity of a problem as a short stable hash: the only place one is computed."""
    return hashlib.sha256(f"{code}\x00{obj}".encode()).hexdigest()[:16]


class Severity(StrEnum):
    ERROR = "error"  # fails the check, opens a ticket
    WARN = "warn"  # the check passes; shown and counted
    INFO = "info"


@dataclass(frozen=True)
class Query:
    """A query the check ran to find the problem."""

    sql: str
    seconds: float
    rows: int
    error: str = ""


@dataclass(frozen=True)
class Evidence:
    """What proves a problem. Sample values are JSON-safe (text for dates, decimals, UUIDs)."""

    offending: int | None = None  # offending rows (or findings) counted
    samples: tuple[dict[str, Any], ...] = ()  # a few offending rows
    queries: tuple[Query, ...] = ()
    expected: str = ""  # what should be there ...
    found: str = ""  # ... and what is
    seconds: float | None = None  # how long the work behind the finding took


@dataclass(frozen=True)
class Problem:
    code: str
    object: str
    message: str  # for people: what is wrong, on which object
    severity: Severity = Severity.ERROR
    remediation: str = ""
    evidence: Evidence = field(default_factory=Evidence)

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code) or self.code.split(".", 1)[0] not in FAMILIES:
            known = ", ".join(FAMILIES)
            raise ValueError(f"problem code {self.code!r} is not <family>.<name> ({known})")
        object.__setattr__(self, "severity", Severity(self.severity))

    @property
    def family(self) -> str:
        return self.code.split(".", 1)[0]

    @property
    def identity(self) -> tuple[str, str]:
        return (self.code, self.object)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.code, self.object)

    @property
    def failing(self) -> bool:
        return self.severity == Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only: it travels in user_properties (xdist) and run files."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Problem:
        evidence = dict(record.get("evidence") or {})
        evidence["samples"] = tuple(evidence.get("samples", ()))
        evidence["queries"] = tuple(Query(**q) for q in evidence.get("queries", ()))
        return cls(**{**record, "evidence": Evidence(**evidence)})


# What the doctor may say it did about a problem (`Heal.outcome`): applied, then healed or failed;
# or why nothing was applied.
PLANNED, HEALED, FAILED = "planned", "healed", "failed"
NEEDS_PERSON, NO_REMEDY, NOTHING_TO_DO = "needs a person", "no remedy", "nothing to change"
BLOCKED, DOCTOR_ERROR = "blocked", "doctor error"
UNREACHABLE = "database unreachable"
HEAL_OUTCOMES = (
    PLANNED,
    HEALED,
    FAILED,
    NEEDS_PERSON,
    NO_REMEDY,
    NOTHING_TO_DO,
    BLOCKED,
    DOCTOR_ERROR,
    UNREACHABLE,
)


@dataclass(frozen=True)
class Heal:
    """What the doctor did about one problem."""

    code: str
    object: str
    node_id: str  # the check that reported the problem (re-checked after a heal)
    stage: str
    remedy: str
    outcome: str  # one of HEAL_OUTCOMES
    detail: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.code, self.object)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Heal:
        return cls(**record)
