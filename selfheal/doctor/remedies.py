"""The remedies the doctor knows. Each is idempotent and additive, and checks its own work.

A remedy declares the problem codes it treats (`codes`: exact codes, or `family.*` for every
code of a family no other remedy names); `REGISTRY` maps a code to its remedy, so a check or a
rule can be renamed without losing its heal. A remedy finds what it would change with read-only
queries (`actions`), applies those changes over its own write connection (`apply`), and verifies
right after that nothing is left to change.

Each action names its **root**: the table or function whose repair it is part of. `apply` runs
each root's actions in one transaction (only CONCURRENTLY and VALIDATE steps after its commit),
so a repair is applied whole or rolled back whole; it answers which roots failed and why.
None truncates, deletes or rewrites data or disables a check: the database remedies close
exposures and restore objects exactly as the expected schema (the lock) declares them; the ETL
remedies re-run a load, which upserts.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol

import psycopg
from psycopg import sql

from selfheal.catalog import CatalogSnapshot, snapshot
from selfheal.core.db import connect, connect_target, write_transaction
from selfheal.core.identifiers import IdentifierSyntaxError, qualified, split_qualified
from selfheal.core.readonly import Reader
from selfheal.core.settings import Settings
from selfheal.core.text import first_line
from selfheal.migrate.created import absent, from_rows
from selfheal.migrate.files import discover
from selfheal.migrate.ledger import ledger_for
from selfheal.rls.lints import run_lints, unindexed_foreign_key_constraints
from selfheal.run.findings import schema_problem
from selfheal.run.problem import (
    DQ_CUSTOM,
    ETL_SOURCE_FAILED,
    RLS_ACCESS,
    RLS_CLAIMS,
    RLS_WRITE,
    Problem,
    dq_code,
    health_code,
    preflight_code,
    rls_lint_code,
    schema_code,
)
from selfheal.schema import SchemaDiff, diff
from selfheal.schema.delta import build_delta
from selfheal.schema.diff import root_of
from selfheal.schema.expected import locked_or_built
from selfheal.schema.restore import Step, exposure_steps, rename_steps, restore_steps

UNVALIDATED = schema_code("constraint_validated")
log = logging.getLogger(__name__)
MAX_IDENTIFIER_BYTES = 63
LOCK_TIMEOUT = "10s"


class Etl(Protocol):
    """The ETL as the doctor sees it, handed in by the caller (etl.rerun.etl_runner)."""

    @property
    def run(self) -> Callable[[str, datetime | None, datetime | None], None]:
        """(job, since, until): None on success; raises on failure."""

    @property
    def jobs(self) -> tuple[str, ...]:
        """Every job, in the order they must run."""

    @property
    def job_of_table(self) -> Mapping[tuple[str, str], str]:
        """(schema, table) -> the job that loads it."""


class NotApplicable(RuntimeError):
    """The remedy cannot run here (e.g. no ETL runner in this context)."""


@dataclass(frozen=True)
class Context:
    """Where remedies act: the target database and, when available, the ETL."""

    dsn: str
    settings: Settings
    etl: Etl | None = None

    def read(self) -> psycopg.Connection:
        return connect_target(self.dsn, self.settings, read_only=True)

    def write(self, **settings: str) -> psycopg.Connection:
        """A write session; its settings hold in each `write_transaction` (behind a pooler too)."""
        return connect(
            self.dsn,
            autocommit=True,
            connect_timeout=self.settings.connect_timeout,
            pooler=self.settings.pooler,
            settings={"lock_timeout": LOCK_TIMEOUT, **settings},
        )


@dataclass(frozen=True)
class Action:
    """One change a remedy would make, described for people."""

    description: str
    statement: sql.Composable | None = None
    job: tuple[str, datetime | None, datetime | None] | None = None
    root: str = ""  # the repair it belongs to: its table or function (one transaction each)
    about: str = ""  # the object it changes, when it is not the root itself
    after_commit: bool = False  # CONCURRENTLY / VALIDATE: run once its root committed
    why: str = ""  # why it is safe
    depends_on: tuple[str, ...] = ()  # roots whose repair must succeed first

    @property
    def objects(self) -> tuple[str, ...]:
        return tuple(o for o in (self.root, self.about) if o)


def run_in_transactions(conn: psycopg.Connection, actions: list[Action]) -> dict[str, str]:
    """Each root's statements in one transaction, its after-commit steps after it, roots in
    dependency order (else in the order they first appear). A root whose dependency failed is
    not tried. Returns the roots that failed, with why (a failed root changed nothing, or only
    lacks its after-commit steps)."""
    failed: dict[str, str] = {}
    for root in in_dependency_order(actions):
        mine = [a for a in actions if a.root == root]
        broken = [d for a in mine for d in a.depends_on if d in failed and d != root]
        if broken:
            failed[root] = f"not applied: it depends on {broken[0]}, whose repair failed"
            continue
        why = _run_root(conn, [a for a in mine if a.statement is not None])
        if why:
            failed[root] = why
    return failed


def _run_root(conn: psycopg.Connection, mine: list[Action]) -> str:
    """One root's repair: its transaction, then its after-commit steps; why it failed, if so."""
    try:
        with write_transaction(conn):
            for action in (a for a in mine if not a.after_commit):
                conn.execute(action.statement)
    except psycopg.Error as error:
        return f"rolled back, nothing applied: {first_line(error)}"
    for action in (a for a in mine if a.after_commit):
        try:
            conn.execute(action.statement)
        except UNVALIDATED_ROWS as error:
            # The constraint is back and guards new rows: the repair stands. The rows written
            # before it are a problem of their own, which its check reports with samples.
            log.info("%s: %s", action.description, first_line(error))
        except psycopg.Error as error:
            return f"applied, but {action.description}: {first_line(error)}"
    return ""


# VALIDATE CONSTRAINT refused by rows the constraint never checked.
UNVALIDATED_ROWS = (psycopg.errors.CheckViolation, psycopg.errors.ForeignKeyViolation)


def in_dependency_order(actions: list[Action]) -> list[str]:
    """The roots, each after the roots it depends on (a stable order: else as they appear)."""
    pending = list(dict.fromkeys(a.root for a in actions))
    needs = {root: set() for root in pending}
    for action in actions:
        needs[action.root] |= {d for d in action.depends_on if d in needs and d != action.root}
    ordered: list[str] = []
    while pending:
        ready = next((r for r in pending if needs[r] <= set(ordered)), pending[0])  # a cycle
        ordered.append(ready)
        pending.remove(ready)
    return ordered


class Remedy:
    """Base: subclasses say which codes they treat and what they would change."""

    name = ""
    codes: frozenset[str] = frozenset()
    rechecks_itself = False  # True when applying it re-runs what failed (an ETL retry)
    closes_exposures = False  # if closing them fails, no later remedy runs (no ETL into them)

    def treats(self, problem: Problem) -> bool:
        """Whether this remedy can act on this particular problem (default: every one)."""
        return True

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        raise NotImplementedError

    def apply(self, ctx: Context, actions: list[Action]) -> dict[str, str]:
        """Apply the actions, root by root; the roots that failed, with why."""
        with ctx.write() as conn:
            return run_in_transactions(conn, actions)

    def remaining(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        """What is still to change once applied (nothing, when the remedy did its work)."""
        return self.actions(ctx, problems)


def bounded_identifier(*parts: str, suffix: str) -> str:
    """`parts_joined_suffix`, cut to PostgreSQL's 63 bytes without splitting a character."""
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:6]
    tail = f"_{digest}_{suffix}"
    head = "_".join(parts).encode()[: MAX_IDENTIFIER_BYTES - len(tail.encode())]
    return head.decode(errors="ignore") + tail


REINDEX_LEFTOVER = re.compile(r"_cc(new|old)[0-9]*$")


def _catalog(ctx: Context) -> CatalogSnapshot:
    """The target's catalog as the schema and RLS checks see it: one snapshot, read-only."""
    with ctx.read() as conn:
        return snapshot(conn)


class EnableRowLevelSecurity(Remedy):
    name = "enable RLS on tables that have policies"
    # schema.rls_disabled (a table the migrations create) is RestoreSchema's: an exposure.
    codes = frozenset(
        {rls_lint_code("rls_disabled_in_public"), rls_lint_code("policy_exists_rls_disabled")}
    )

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        """The tables the `policy_exists_rls_disabled` lint names, read from one snapshot."""
        findings = run_lints(_catalog(ctx), only=("policy_exists_rls_disabled",))
        return [
            Action(
                f"ALTER TABLE {table.label} ENABLE ROW LEVEL SECURITY",
                sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(
                    sql.Identifier(table.schema, table.name)
                ),
                root=table.label,
            )
            for table in (finding.obj for finding in findings)
        ]


class IndexForeignKeys(Remedy):
    name = "index foreign keys concurrently"
    codes = frozenset({rls_lint_code("unindexed_foreign_keys")})

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        unindexed = unindexed_foreign_key_constraints(_catalog(ctx))
        return [self._action(fk.schema, fk.table, list(fk.columns)) for fk in unindexed]

    @staticmethod
    def _action(schema: str, table: str, columns: list[str]) -> Action:
        name = bounded_identifier(table, *columns, suffix="fk_idx")
        statement = sql.SQL("CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {}.{} ({})").format(
            sql.Identifier(name),
            sql.Identifier(schema),
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
        )
        return Action(
            f"CREATE INDEX CONCURRENTLY {name} ON {schema}.{table} {columns}",
            statement,
            root=qualified(schema, table),
            after_commit=True,
        )


class RecordAppliedMigration(Remedy):
    """A migration file missing from the ledger while everything it creates exists (preflight's
    `ledger_unrecorded`): record it as applied. Nothing of the file runs again.

    The problem may be older than the database (`selfheal doctor --heal` reads the last run's):
    the objects it names are asked for again, and a file one of them has gone from since is not
    recorded (applying it is then the fix)."""

    name = "record the applied migration in the ledger"
    codes = frozenset({preflight_code("ledger_unrecorded")})

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        folder = ctx.settings.migrations_dir
        files = {m.filename: m for m in discover(folder)}
        with ctx.read() as conn:
            ledger = ledger_for(conn, folder)
            applied = ledger.read(conn)
            reader = Reader(conn)
            unrecorded = [
                files[p.object]
                for p in problems
                if p.object in files and _still_all_there(reader, p)
            ]
        return [
            Action(
                f"record {migration.filename} in {ledger.description} as applied",
                statement,
                root=f"ledger row of {migration.filename}",
                why="every object the file creates exists (preflight compared them); "
                "the row only records that, the file does not run again",
            )
            for migration in unrecorded
            if migration.version not in applied
            for statement in ledger.record_statements(migration)
        ]


def _still_all_there(reader: Reader, problem: Problem) -> bool:
    """Whether every object the problem says the file created is in the database now."""
    objects = from_rows(problem.evidence.samples)
    if not objects:
        log.info("%s: not recorded: the problem names no object the file creates", problem.object)
        return False
    gone = absent(reader, objects)
    if gone:
        log.info("%s: not recorded as applied: %s no longer exists", problem.object, gone[0])
    return not gone


class RebuildInvalidIndexes(Remedy):
    name = "rebuild invalid indexes concurrently"
    codes = frozenset({schema_code("index_valid"), health_code("invalid_index")})

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        # Leftovers of an interrupted REINDEX CONCURRENTLY (_ccnew/_ccold) can only be dropped,
        # which the doctor never does: they stay for a person.
        invalid = [
            index
            for index in _catalog(ctx).indexes.values()
            if not index.valid and not REINDEX_LEFTOVER.search(index.name)
        ]
        return [
            Action(
                f"REINDEX INDEX CONCURRENTLY {index.label}",
                sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(
                    sql.Identifier(index.schema, index.name)
                ),
                root=qualified(index.schema, index.table),
                about=index.label,
                after_commit=True,
            )
            for index in invalid
        ]


EXPOSURES = "exposures"  # the root of every exposure: closed together, before anything else


class RestoreSchema(Remedy):
    """The live schema differs from the expected one (the committed lock, else the migrations
    built on a scratch server): close every exposure first (one transaction), then repair
    each root cause (a table, a function, a type) in one transaction of its own: rename it
    back, create what it lacks (its statements of the additive delta), restore what differs
    exactly; a root after the roots it depends on (a foreign key's table), and not at all when
    one of them failed. If closing the exposures fails, nothing else is applied."""

    name = "restore the schema from the lock"
    codes = frozenset({"schema.*", RLS_ACCESS, RLS_WRITE, RLS_CLAIMS})
    closes_exposures = True

    def treats(self, problem: Problem) -> bool:
        """Not a constraint that rows violate: which rows to fix or delete is a person's call
        (once none violates it, validating it is the doctor's)."""
        return problem.code != UNVALIDATED or not problem.evidence.offending

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        expected = locked_or_built(ctx.settings.migrations_dir, ctx.settings.schema_lock)
        found = diff(expected, _catalog(ctx))
        closing = [_step_action(step, EXPOSURES) for step in exposure_steps(found)]
        # The delta module composed each statement from identifiers; here they are only run.
        creating = [
            Action(
                step.text.rstrip(";"),
                sql.SQL(step.text),
                root=step.root,
                after_commit=bool(AFTER_COMMIT.search(step.text)),
                depends_on=step.depends_on,
            )
            for step in build_delta(found).steps
        ]
        renaming = [_step_action(step, step.root) for step in rename_steps(found)]
        restoring = [_step_action(step, step.root) for step in restore_steps(found)]
        # Only the repairs of the problems given (a problem left to a person is not among them),
        # but every exposure: closing one is never left for later.
        roots = _roots(found, problems)
        repairs = [a for a in renaming + creating + restoring if {a.root, a.about} & roots]
        return closing + repairs

    def remaining(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        """What is left but validations: one that rows refused is a problem of its own (the
        constraint check reports the rows); the repair itself stands."""
        return [a for a in self.actions(ctx, problems) if not VALIDATION.search(a.description)]

    def apply(self, ctx: Context, actions: list[Action]) -> dict[str, str]:
        # check_function_bodies off, as the delta file itself says
        with ctx.write(check_function_bodies="off") as conn:
            failed = run_in_transactions(conn, [a for a in actions if a.root == EXPOSURES])
            if failed:
                why = f"not applied: closing the exposures failed first ({failed[EXPOSURES]})"
                return {**failed, **{a.root: why for a in actions if a.root != EXPOSURES}}
            return run_in_transactions(conn, [a for a in actions if a.root != EXPOSURES])


def _roots(found: SchemaDiff, problems: list[Problem]) -> set[str]:
    """The repairs (tables, functions, types) of these problems: of each difference the schema
    checks report as one of them, and the objects the RLS probes name (tables)."""
    given = {problem.identity for problem in problems}
    causes = [*found.missing, *found.differing, *found.renamed]
    roots = {root_of(c.obj) for c in causes if schema_problem(c).identity in given}
    return roots | {problem.object for problem in problems}


VALIDATION = re.compile(r"\bVALIDATE CONSTRAINT\b")
AFTER_COMMIT = re.compile(rf"\bCONCURRENTLY\b|{VALIDATION.pattern}")


def _step_action(step: Step, root: str) -> Action:
    return Action(
        step.text,
        step.statement,
        root=root,
        about=step.root,
        after_commit=step.after_commit,
        why=step.why,
    )


class _EtlRemedy(Remedy):
    def apply(self, ctx: Context, actions: list[Action]) -> dict[str, str]:
        if ctx.etl is None:
            raise NotApplicable("no ETL runner in this context")
        for action in actions:
            if action.job is not None:
                ctx.etl.run(*action.job)
        return {}

    def remaining(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        return []  # `apply` raised if a job failed; the failing check's re-run decides

    @staticmethod
    def _in_order(ctx: Context, jobs: Iterable[str | None]) -> list[str]:
        wanted = set(jobs)
        return [job for job in (ctx.etl.jobs if ctx.etl else ()) if job in wanted]

    @staticmethod
    def _run(
        ctx: Context, description: str, job: str, since: datetime | None, until: datetime | None
    ) -> Action:
        """An ETL run, rooted at the table its job loads (so a case finds its runs, and a run
        into a table whose repair failed is not made)."""
        tables = [t for t, j in (ctx.etl.job_of_table.items() if ctx.etl else ()) if j == job]
        return Action(
            description,
            job=(job, since, until),
            root=qualified(*tables[0]) if tables else "",
            about=job,
        )


STALE_WINDOW = timedelta(days=3)


def _table_of(problem: Problem) -> tuple[str, str] | None:
    """(schema, table) of a data-quality problem's object (`schema.table[.column]`)."""
    try:
        parts = split_qualified(problem.object)
    except IdentifierSyntaxError:
        return None
    return (parts[0], parts[1]) if len(parts) >= 2 else None


class RerunStaleSource(_EtlRemedy):
    """A freshness rule failed: re-load the table's source for the recent (stale) window."""

    name = "re-run the stale source's ETL"
    codes = frozenset({dq_code("freshness")})

    def treats(self, problem: Problem) -> bool:
        return _table_of(problem) is not None

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        job_of_table = ctx.etl.job_of_table if ctx.etl else {}
        until = datetime.now(ctx.settings.zone)
        jobs = self._in_order(ctx, (job_of_table.get(_table_of(p)) for p in problems))
        since = until - STALE_WINDOW
        return [
            self._run(
                ctx, f"re-run ETL {job} for {since:%Y-%m-%d}..{until:%Y-%m-%d}", job, since, until
            )
            for job in jobs
        ]


FIRST_DAY, LAST_DAY = "first_day", "last_day"


def _day_ranges(problem: Problem) -> list[tuple[date, date]]:
    """The runs of days a custom check's sample rows name (`first_day`, `last_day`)."""
    ranges = []
    for row in problem.evidence.samples:
        try:
            ranges.append((date.fromisoformat(row[FIRST_DAY]), date.fromisoformat(row[LAST_DAY])))
        except (KeyError, TypeError, ValueError):
            continue
    return ranges


class ReloadDays(_EtlRemedy):
    """A custom check on a table an ETL job loads (e.g. the metrics job's `daily_metrics`)
    names runs of days (`first_day`, `last_day`) missing from it: re-run that job for exactly
    those days (for the metrics job: recompute them)."""

    name = "re-run the table's ETL for the days it lacks"
    codes = frozenset({DQ_CUSTOM})

    def treats(self, problem: Problem) -> bool:
        return _table_of(problem) is not None and bool(_day_ranges(problem))

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        job_of_table = ctx.etl.job_of_table if ctx.etl else {}
        actions = []
        for problem in problems:
            job = job_of_table.get(_table_of(problem))
            if job is None:
                continue
            for first, last in sorted(_day_ranges(problem)):
                since = datetime.combine(first, time(), ctx.settings.zone)
                until = datetime.combine(last, time(), ctx.settings.zone)
                actions.append(
                    self._run(ctx, f"re-run ETL {job} for {first}..{last}", job, since, until)
                )
        return actions


class RetryEtl(_EtlRemedy):
    """An ETL job failed: run it again (the runner retries with backoff)."""

    name = "retry the failed ETL job with backoff"
    codes = frozenset({ETL_SOURCE_FAILED})
    rechecks_itself = True

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        jobs = self._in_order(ctx, (p.object for p in problems))
        return [self._run(ctx, f"retry ETL job {job}", job, None, None) for job in jobs]


class Registry:
    """Which remedy treats which code: an exact code first, else its family's (`family.*`)."""

    def __init__(self, remedies: Iterable[Remedy]) -> None:
        self.remedies = tuple(remedies)
        self._by_code: dict[str, Remedy] = {}
        for remedy in self.remedies:
            for code in remedy.codes:
                if code in self._by_code:
                    raise ValueError(
                        f"{code} is treated by both {self._by_code[code].name!r} and "
                        f"{remedy.name!r}: a code has one remedy"
                    )
                self._by_code[code] = remedy

    def remedy_for(self, problem: Problem) -> Remedy | None:
        remedy = self._by_code.get(problem.code) or self._by_code.get(f"{problem.family}.*")
        return remedy if remedy is not None and remedy.treats(problem) else None


# Treatment follows this order: exposures are closed before any other heal and any ETL retry;
# the delta restores a dropped index under its own name before foreign keys are re-indexed.
REMEDIES: tuple[Remedy, ...] = (
    RestoreSchema(),
    EnableRowLevelSecurity(),
    RebuildInvalidIndexes(),
    IndexForeignKeys(),
    RecordAppliedMigration(),
    RerunStaleSource(),
    ReloadDays(),
    RetryEtl(),
)
REGISTRY = Registry(REMEDIES)
