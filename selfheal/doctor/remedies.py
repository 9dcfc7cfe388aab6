"""The remedies the doctor knows. Each is idempotent and additive, and checks its own work.

A remedy declares the problem codes it treats (`codes`: exact codes, or `family.*` for every
code of a family no other remedy names); `REGISTRY` maps a code to its remedy, so a check or a
rule can be renamed without losing its heal. A remedy finds what it would change with read-only
queries (`actions`), applies those changes over its own write connection (`apply`), and verifies
right after that nothing is left to change. None drops, truncates, deletes, rewrites data or
disables a check: the database remedies only create an index, enable row-level security or
rebuild an invalid index concurrently; the ETL remedies re-run a load, which upserts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import psycopg
from psycopg import sql

from selfheal.catalog import CatalogSnapshot, snapshot
from selfheal.core.db import connect, connect_target
from selfheal.core.identifiers import IdentifierSyntaxError, split_qualified
from selfheal.core.settings import Settings
from selfheal.rls.lints import run_lints, unindexed_foreign_key_constraints
from selfheal.run.problem import (
    ETL_SOURCE_FAILED,
    Problem,
    dq_code,
    health_code,
    rls_lint_code,
    schema_code,
)
from selfheal.schema import diff
from selfheal.schema.delta import build_delta
from selfheal.schema.expected import locked_or_built

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

    def write(self) -> psycopg.Connection:
        return connect(
            self.dsn,
            autocommit=True,
            connect_timeout=self.settings.connect_timeout,
            pooler=self.settings.pooler,
            settings={"lock_timeout": LOCK_TIMEOUT},
        )


@dataclass(frozen=True)
class Action:
    """One change a remedy would make, described for people."""

    description: str
    statement: sql.Composed | None = None
    job: tuple[str, datetime | None, datetime | None] | None = None


class Remedy:
    """Base: subclasses say which codes they treat and what they would change."""

    name = ""
    codes: frozenset[str] = frozenset()
    rechecks_itself = False  # True when applying it re-runs what failed (an ETL retry)

    def treats(self, problem: Problem) -> bool:
        """Whether this remedy can act on this particular problem (default: every one)."""
        return True

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        raise NotImplementedError

    def apply(self, ctx: Context, actions: list[Action]) -> None:
        with ctx.write() as conn:
            for action in actions:
                if action.statement is not None:
                    conn.execute(action.statement)

    def verify(self, ctx: Context, problems: list[Problem]) -> bool:
        return not self.actions(ctx, problems)


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
    codes = frozenset(
        {
            schema_code("rls_disabled"),
            rls_lint_code("rls_disabled_in_public"),
            rls_lint_code("policy_exists_rls_disabled"),
        }
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
        return Action(f"CREATE INDEX CONCURRENTLY {name} ON {schema}.{table} {columns}", statement)


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
            )
            for index in invalid
        ]


class ApplyDelta(Remedy):
    """Objects the migrations create are missing (or lack an additive property): apply the
    delta, i.e. only what the live database lacks, in guarded idempotent statements."""

    name = "apply the delta migration"
    codes = frozenset({"schema.*"})  # every schema code another remedy does not name

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        # As `selfheal delta` does: the committed lock when fresh, else a scratch build.
        expected = locked_or_built(ctx.settings.migrations_dir, ctx.settings.schema_lock)
        delta = build_delta(diff(expected, _catalog(ctx)))
        # The delta module composed each statement from identifiers; here they are only run.
        return [Action(text.rstrip(";"), sql.SQL(text)) for text in delta.statements]

    def apply(self, ctx: Context, actions: list[Action]) -> None:
        with ctx.write() as conn:
            conn.execute("SET check_function_bodies = off")  # as the delta file itself says
            for action in actions:
                conn.execute(action.statement)


class _EtlRemedy(Remedy):
    def apply(self, ctx: Context, actions: list[Action]) -> None:
        if ctx.etl is None:
            raise NotApplicable("no ETL runner in this context")
        for action in actions:
            if action.job is not None:
                ctx.etl.run(*action.job)

    def verify(self, ctx: Context, problems: list[Problem]) -> bool:
        return True  # `apply` raised if a job failed; the failing check's re-run decides

    @staticmethod
    def _in_order(ctx: Context, jobs: Iterable[str | None]) -> list[str]:
        wanted = set(jobs)
        return [job for job in (ctx.etl.jobs if ctx.etl else ()) if job in wanted]


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
        return [
            Action(
                f"re-run ETL {job} for {until - STALE_WINDOW:%Y-%m-%d}..{until:%Y-%m-%d}",
                job=(job, until - STALE_WINDOW, until),
            )
            for job in jobs
        ]


class RetryEtl(_EtlRemedy):
    """An ETL job failed: run it again (the runner retries with backoff)."""

    name = "retry the failed ETL job with backoff"
    codes = frozenset({ETL_SOURCE_FAILED})
    rechecks_itself = True

    def actions(self, ctx: Context, problems: list[Problem]) -> list[Action]:
        jobs = self._in_order(ctx, (p.object for p in problems))
        return [Action(f"retry ETL job {job}", job=(job, None, None)) for job in jobs]


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


# Treatment follows this order: the delta restores a dropped index under its own name before
# foreign keys are re-indexed.
REMEDIES: tuple[Remedy, ...] = (
    RebuildInvalidIndexes(),
    EnableRowLevelSecurity(),
    ApplyDelta(),
    IndexForeignKeys(),
    RerunStaleSource(),
    RetryEtl(),
)
REGISTRY = Registry(REMEDIES)
