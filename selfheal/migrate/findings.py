"""What the guard reports: one finding per thing a migration would destroy, rewrite or expose."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from selfheal.migrate.created import CreatedObject

# Every kind of finding, with what it means (the README lists them for people).
KINDS = {
    "drop": "an object that existed is dropped (also by CASCADE, or in dynamic SQL)",
    "rename": "an object that existed is renamed",
    "narrow": "a column's type can no longer hold every value it held",
    "disable-rls": "row level security (or its forcing) is switched off",
    "truncate": "a table is truncated",
    "delete": "rows are deleted from a table",
    "data-loss": "rows that existed before the file are gone",
    "data-rewrite": "values of columns that existed before the file are changed",
    "writes-blocked": "an INSERT or UPDATE that landed before the file no longer lands",
    "exposure": "anon, authenticated or PUBLIC can do more than before",
    "access-loss": "a role loses a privilege or a policy it had",
    "security": "a function in auth, a SECURITY DEFINER function, or a function's search_path or "
    "owner changes",
    "loosen": "a guarantee is loosened: NOT NULL dropped, table made UNLOGGED, sequence lowered",
    "not-atomic": "a transactional file ends its transaction or changes the session",
    "not-idempotent": "applying the file a second time fails or changes something",
    "error": "the file does not apply",
}
WAIVER_PREFIX = "selfheal:allow-destructive"


@dataclass(frozen=True)
class Finding:
    migration: str
    kind: str
    object: str
    detail: str
    line: int | None = None
    waived_because: str | None = None
    # Other kinds whose waiver of the same object allows this finding too: a second run's
    # DELETE is allowed by the waiver that allows the first run's.
    covered_by: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return self.waived_because is None

    @property
    def waiver(self) -> str:
        """The comment line that would allow this finding, once reviewed."""
        kind = self.covered_by[0] if self.covered_by else self.kind
        return f"-- {WAIVER_PREFIX} {kind} {self.object}: <why this is intended>"

    def waived(self, reason: str) -> Finding:
        return replace(self, waived_because=reason)

    def __str__(self) -> str:
        where = f"{self.migration}:{self.line}" if self.line else self.migration
        if self.waived_because:
            return (
                f"{where}: {self.kind} {self.object}: {self.detail} (waived: {self.waived_because})"
            )
        allow = "" if self.kind in ("error", "not-atomic") else f" [to allow: {self.waiver}]"
        return f"{where}: {self.kind} {self.object}: {self.detail}{allow}"


@dataclass
class GuardReport:
    migrations: list[str]
    findings: list[Finding] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # after a file that failed to apply
    notes: list[str] = field(default_factory=list)  # what the guard could not do (e.g. seed)
    file_notes: dict[str, list[str]] = field(default_factory=dict)  # the notes by migration
    seconds: dict[str, float] = field(default_factory=dict)  # guard time per file
    created: dict[str, list[CreatedObject]] = field(default_factory=dict)  # what each file made

    def refused(self, migration: str | None = None) -> list[Finding]:
        return [
            f
            for f in self.findings
            if f.refused and (migration is None or f.migration == migration)
        ]

    @property
    def ok(self) -> bool:
        return not self.refused() and not self.unchecked
