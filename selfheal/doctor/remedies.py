"""The remedies the doctor knows. Each is idempotent and additive, and checks its own work.

A remedy says which failures it answers (`matches`), finds what it would change with read-only
queries (`actions`), applies those changes over its own write connection (`apply`), and verifies
right after that nothing is left to change. None drops, truncates, deletes, rewrites data or
disables a check: the database remedies only create an index, enable row-level security or
rebuild an invalid index concurrently; the ETL remedies re-run a load, which upserts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from selfheal.catalog import CatalogSnapshot, snapshot
from selfheal.core.db import connect
from selfheal.core.settings import Settings
from selfheal.reporting import Outcome
from selfheal.rls.lints import run_lints, unindexed_foreign_key_constraints
from selfheal.schema import diff
from selfheal.schema.delta import build_delta
from selfheal.schema.expected import locked_or_built

MAX_IDENTIFIER_BYTES = 63
LOCK_TIMEOUT = "10s"

# (job name, since, until) -> None on success; raises on failure. Bound by the caller to the ETL.
EtlRunner = Callable[[str, datetime | None, datetime | None], None]


class NotApplicable(RuntimeError):
    """The remedy cannot run here (e.g. no ETL runner in this context)."""


@dataclass(frozen=True)
class Context:
    """Where remedies act: the target database and, when available, the ETL."""

    dsn: str
    settings: Settings
    run_etl: EtlRunner | None = None

    def read(self) -> psycopg.Connection:
        return connect(
            self.dsn, read_only=True, autocommit=True, connect_timeout=self.settings.connect_timeout
        )

    def write(self) -> psycopg.Connection:
        conn = connect(self.dsn, autocommit=True, connect_timeout=self.settings.connect_timeout)
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (LOCK_TIMEOUT,))
        return conn


@dataclass(frozen=True)
class Action:
    """One change a remedy would make, described for people."""

    description: str
    statement: sql.Composed | None = None
    job: tuple[str, datetime | None, datetime | None] | None = None


class Remedy:
    """Base: subclasses say what they answer and what they would change."""

    name = ""
    rechecks_itself = False  # True when applying it re-runs what failed (an ETL retry)

    def matches(self, failure: Outcome) -> bool:
        raise NotImplementedError

    def actions(self, ctx: Context, failures: list[Outcome]) -> list[Action]:
        raise NotImplementedError

    def apply(self, ctx: Context, actions: list[Action]) -> None:
        with ctx.write() as conn:
            for action in actions:
                if action.statement is not None:
                    conn.execute(action.statement)

    def verify(self, ctx: Context, failures: list[Outcome]) -> bool:
        return not self.actions(ctx, failures)


def _text(failure: Outcome) -> str:
    return f"{failure.nodeid} {failure.kind} {failure.message}".lower()


def _names(failure: Outcome) -> set[str]:
    """The problems the check's evidence named (lint names, schema problem kinds)."""
    return set(failure.problems)


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


RLS_DISABLED = {"rls_disabled", "rls_disabled_in_public", "policy_exists_rls_disabled"}


class EnableRowLevelSecurity(Remedy):
    name = "enable RLS on tables that have policies"

    def matches(self, failure: Outcome) -> bool:
        return bool(_names(failure) & RLS_DISABLED) or "rls_disabled" in _text(failure)

    def actions(self, ctx: Context, failures: list[Outcome]) -> list[Action]:
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

    def matches(self, failure: Outcome) -> bool:
        return "unindexed_foreign_keys" in _names(failure)

    def actions(self, ctx: Context, failures: list[Outcome]) -> list[Action]:
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

    def matches(self, failure: Outcome) -> bool:
        text = _text(failure)
        return "index_valid" in _names(failure) or ("invalid" in text and "index" in text)

    def actions(self, ctx: Context, failures: list[Outcome]) -> list[Action]:
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

    def matches(self, failure: Outcome) -> bool:
        return failure.stage == "schema"

    def actions(self, ctx: Context, failures: list[Outcome]) -> list[Action]:
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


def _param(nodeid: str) -> str:
    match = re.search(r"\[(.*)\]$", nodeid)
    return match.group(1) if match else ""


class _EtlRemedy(Remedy):
    def apply(self, ctx: Context, actions: list[Action]) -> None:
        if ctx.run_etl is None:
            raise NotApplicable("no ETL runner in this context")
        for action in actions:
            if action.job is not None:
                ctx.run_etl(*action.job)

    def verify(self, ctx: Context, failures: list[Outcome]) -> bool:
        return True  # `apply` raised if a job failed; the failing check's re-run decides


# Which ETL job loads each table the data-quality rules watch.
JOB_OF_TABLE = {
    "events": "events",
    "ads_source_a": "source_a",
    "ads_source_b": "source_b",
    "daily_metrics": "metrics",
}
JOB_ORDER = ("events", "source_a", "source_b", "metrics")
STALE_WINDOW = timedelta(days=3)


class RerunStaleSource(_EtlRemedy):
    """A freshness rule failed: re-load the table's source for the recent (stale) window."""

    name = "re-run the stale source's ETL"

    def matches(self, failure: Outcome) -> bool:
        return "freshness" in failure.nodeid.lower() and self._job(failure) is not None

    @staticmethod
    def _job(failure: Outcome) -> str | None:
        table = _param(failure.nodeid).split(".", 1)[0]
        return JOB_OF_TABLE.get(table)

    def actions(self, ctx: Context, failures: list[Outcome]) -> list[Action]:
        until = datetime.now(ctx.settings.zone)
        wanted = {self._job(f) for f in failures}
        jobs = [job for job in JOB_ORDER if job in wanted]  # metrics last: it reads the others
        return [
            Action(
                f"re-run ETL {job} for {until - STALE_WINDOW:%Y-%m-%d}..{until:%Y-%m-%d}",
                job=(job, until - STALE_WINDOW, until),
            )
            for job in jobs
        ]


class RetryEtl(_EtlRemedy):
    """An ETL run failed: run the job again (the runner retries with backoff)."""

    name = "retry the failed ETL job with backoff"
    rechecks_itself = True

    def matches(self, failure: Outcome) -> bool:
        return "job_failed" in _names(failure) and bool(_param(failure.nodeid))

    def actions(self, ctx: Context, failures: list[Outcome]) -> list[Action]:
        jobs = dict.fromkeys(_param(f.nodeid) for f in failures)
        return [Action(f"retry ETL job {job}", job=(job, None, None)) for job in jobs]


# Matching takes the first remedy that answers a failure; treatment follows this order too, so
# the delta restores a dropped index under its own name before foreign keys are re-indexed.
REMEDIES: tuple[Remedy, ...] = (
    RebuildInvalidIndexes(),
    EnableRowLevelSecurity(),
    ApplyDelta(),
    IndexForeignKeys(),
    RerunStaleSource(),
    RetryEtl(),
)
