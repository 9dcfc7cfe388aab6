"""The audit's records: a check, what it found, and the context it reads from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from selfheal.catalog import CatalogSnapshot, snapshot
from selfheal.core.readonly import Reader
from selfheal.health.config import HealthConfig

PARTS = (
    "feedback_loops",
    "second_order_effects",
    "socio_technical_alignment",
    "constraint_propagation",
    "entropy_robustness",
    "multi_agent_coherence",
)

LEVEL_RANK = {"error": 0, "warn": 1, "info": 2}


@dataclass(frozen=True)
class HealthFinding:
    check: str
    subject: str
    level: str  # error, warn, info
    message: str
    remediation: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.subject}: {self.message} (remedy: {self.remediation})"


@dataclass(frozen=True)
class HealthResult:
    examined: str  # what was looked at, shown even when nothing was found
    findings: list[HealthFinding] = field(default_factory=list)

    def at_level(self, level: str) -> list[HealthFinding]:
        return [f for f in self.findings if f.level == level]

    @property
    def worst(self) -> HealthFinding | None:
        ranked = sorted(self.findings, key=lambda f: LEVEL_RANK[f.level])
        return ranked[0] if ranked else None


@dataclass
class AuditContext:
    """What every check reads: one read-only session, the configuration, the backlog folder.

    One context serves a whole audit, so what several checks need is computed once (`once`).
    Tickets belong to a higher layer (the run's records): the caller hands in their reader.
    """

    conn: psycopg.Connection
    config: HealthConfig
    backlog_dir: Path
    read_tickets: Callable[[Path], list[Any]]
    zone: tzinfo = UTC  # the zone every time a finding shows is written in (the report's)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def catalog(self) -> CatalogSnapshot:
        """One catalog snapshot for the whole audit (the schema and RLS checks' own reader)."""
        return self.once("catalog", lambda: snapshot(self.conn))

    def at(self, moment: datetime) -> str:
        """A moment as findings show it: in the audit's zone, to the minute."""
        return f"{moment.astimezone(self.zone):%Y-%m-%d %H:%M}"

    def rows(self, query: Any, params: Any = None) -> list[dict[str, Any]]:
        return Reader(self.conn).rows(query, params, row_factory=dict_row)

    def value(self, query: Any, params: Any = None) -> Any:
        return Reader(self.conn).value(query, params)

    def table_exists(self, table: Any) -> bool:
        return bool(
            self.value(
                "SELECT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relname = %s)",
                (table.schema, table.name),
            )
        )

    def ledger_query(self, template: str) -> sql.Composed | None:
        """`template` with `{runs}` naming the ETL ledger; None when the ledger does not exist."""
        runs = self.config.etl_runs
        if not self.table_exists(runs):
            return None
        return sql.SQL(template).format(runs=sql.Identifier(runs.schema, runs.name))

    @property
    def tickets(self) -> list[Any]:
        return self.once("tickets", lambda: self.read_tickets(self.backlog_dir))


Runner = Callable[[AuditContext], HealthResult]


@dataclass(frozen=True)
class Check:
    part: str
    name: str
    run: Runner
    reads_rows: bool = False  # its verdict depends on the rows of tables, which a load changes

    @property
    def id(self) -> str:
        return f"{self.part}:{self.name}"

    def __call__(self, ctx: AuditContext) -> HealthResult:
        """Run the check; a level configured for it in `[levels]` replaces each finding's own."""
        result = self.run(ctx)
        level = ctx.config.levels.get(self.name)
        if level is None:
            return result
        findings = [
            HealthFinding(f.check, f.subject, level, f.message, f.remediation)
            for f in result.findings
        ]
        return HealthResult(result.examined, findings)
