"""Runs the suite against a read-only session: one fused scan per table, cached for the session.

Each checked table's selected rules are validated against the catalog, those a constraint proves
pass unscanned, and the rest run as one SELECT. If that SELECT fails (a statement timeout, a type
error in one rule), each rule runs alone so only the culprit fails. Failing rules then fetch a
sample of offending rows. Every query goes through the read-only executor (selfheal.core.readonly): its
own READ ONLY transaction, rolled back, as the reader role when one is in force, with the
configured statement timeout and time zone (so dates and now() read in that zone).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from selfheal.core.readonly import Reader, ReadRefused
from selfheal.core.text import first_line
from selfheal.dq import incremental, watermarks
from selfheal.dq.compiler import (
    NOW,
    ROWS,
    FusedQuery,
    Slot,
    compile_custom,
    compile_since,
    compile_split,
    compile_table,
)
from selfheal.dq.config import Suite
from selfheal.dq.rules import CustomCheck, Rule, Scope, Status, Table, Verdict
from selfheal.dq.sampling import follow_up_query, sample_query
from selfheal.dq.session import FEW_ROWS, DqSession
from selfheal.dq.tables import Catalog, TableInfo
from selfheal.dq.vetting import checked_schemas
from selfheal.dq.watermarks import RuleCounts, TableState

SAMPLE_LIMIT = 5
# Tables from this size on may be scanned in two halves at once (`Runner._full_scan`); below
# it, starting workers and asking the planner cost more than a second core saves.
SPLIT_FROM_BYTES = 64 * 1024 * 1024
# The work_mem of each half's sort of distinct hashes, unless the session's is larger. Measured
# on 10M rows (a half's CPU time, median of 9): 2.17 s with 4MB, 2.04 s with 64MB; 128MB and
# more saved 0.1 s more at twice the memory.
SORT_MEMORY = 64 * 1024 * 1024


@dataclass(frozen=True)
class QueryRecord:
    sql: str
    seconds: float
    rows: int
    shared_by: int = 1  # checks answered by this one query
    error: str | None = None


@dataclass
class CheckResult:
    id: str
    status: Status
    message: str
    offending: int | None = None  # offending rows counted (declared counting rules, custom SQL)
    proven_by: str | None = None
    queries: list[QueryRecord] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Measured:
    """A rule's verdict and the values behind it: its in-scope rows and its aggregates."""

    rule: Rule
    verdict: Verdict
    queries: list[QueryRecord]
    scope: int
    values: list[Any]


def parallel_halves(plan: Any) -> bool:
    """Whether an EXPLAIN (FORMAT JSON) plan of a split scan runs its halves in parallel workers:
    the merging Aggregate over a Gather over a parallel-aware Append of the halves."""
    node = plan[0]["Plan"]
    for expected in ("Aggregate", "Gather"):
        if node.get("Node Type") != expected:
            return False
        children = node.get("Plans", [])
        node = next((c for c in children if c.get("Parent Relationship") == "Outer"), {})
    return node.get("Node Type") == "Append" and bool(node.get("Parallel Aware"))


def _key(table: Table) -> str:
    return f"{table.schema}.{table.name}"


def _noted(verdict: Verdict, note: str) -> Verdict:
    return Verdict(verdict.status, verdict.message + note, verdict.offending) if note else verdict


class QueryFailed(Exception):
    def __init__(self, record: QueryRecord):
        super().__init__(record.error)
        self.record = record


def plain(value: Any) -> Any:
    """A value that survives JSON and pytest-xdist (datetimes, decimals, UUIDs as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value) if not isinstance(value, Decimal) else format(value, "f")


def as_dicts(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [{n: plain(v) for n, v in zip(names, row, strict=True)} for row in rows]


class Runner:
    """Answers `result(check_id)`; a table's scan runs on the first question about it.

    `conn` is an autocommit connection (the `db` fixture's read-only session): every query opens
    its own short transaction. `role` is the role rule SQL runs as (selfheal_reader where the
    target has it, see `selfheal.core.readonly.boundary`); None keeps the session's own.
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        suite: Suite,
        *,
        zone: str,
        statement_timeout_ms: int,
        selected: Iterable[str] | None = None,
        role: str | None = None,
    ):
        wanted = set(suite.ids()) if selected is None else set(selected)
        self._conn = conn
        self._zone = ZoneInfo(zone)
        self._session = DqSession(
            Reader(conn),
            self._zone,
            statement_timeout_ms,
            checked_schemas(suite.rules, suite.custom),
            role,
        )
        self._catalog = Catalog(self._session)
        self._tables = {
            table: [rule for rule in rules if rule.id in wanted]
            for table, rules in suite.tables().items()
        }
        self._table_of = {rule.id: table for table, rules in self._tables.items() for rule in rules}
        self._custom = {check.id: check for check in suite.custom if check.id in wanted}
        self._results: dict[str, CheckResult] = {}
        self._verified: dict[str, TableState] = {}

    def result(self, check_id: str) -> CheckResult:
        if check_id not in self._results:
            if check_id in self._custom:
                self._results[check_id] = self._run_custom(self._custom[check_id])
            elif check_id in self._table_of:
                table = self._table_of[check_id]
                self._results.update(self._scan(table, self._tables[table]))
            else:
                raise KeyError(f"no selected data-quality check {check_id!r}")
        return self._results[check_id]

    # Queries

    def execute(
        self,
        query: sql.Composable,
        table: Table,
        timeout_ms: int | None = None,
        *,
        settings: Mapping[str, str] | None = None,
    ) -> tuple[list[str], list[tuple], QueryRecord]:
        """Run one query in its own transaction; QueryFailed carries the record of a failure."""
        timeout = timeout_ms or self._session.timeout_ms
        text = query.as_string(self._conn)
        start = perf_counter()
        try:
            result = self._session.fetch(query, table, timeout, settings)
        except psycopg.errors.QueryCanceled:
            error = f"timed out after {timeout} ms (statement_timeout)"
            raise QueryFailed(QueryRecord(text, perf_counter() - start, 0, error=error)) from None
        except (psycopg.Error, ReadRefused) as failure:
            error = f"query failed: {first_line(failure)}"
            raise QueryFailed(QueryRecord(text, perf_counter() - start, 0, error=error)) from None
        record = QueryRecord(text, perf_counter() - start, len(result.rows))
        return result.names, result.rows, record

    # Declared rules

    def _scan(self, table: Table, rules: list[Rule]) -> dict[str, CheckResult]:
        problem = self._catalog.table_problem(table)
        if problem:
            return {rule.id: CheckResult(rule.id, "error", problem) for rule in rules}
        info = self._catalog.table(table.schema, table.name)
        assert info is not None
        results: dict[str, CheckResult] = {}
        pending: list[Rule] = []
        for rule in rules:
            problem = self._catalog.rule_problem(rule)
            proof = None if problem else rule.proof(info)
            if problem:
                results[rule.id] = CheckResult(rule.id, "error", problem)
            elif proof:
                message = f"proven by the {proof}: passes without scanning"
                results[rule.id] = CheckResult(rule.id, "pass", message, proven_by=proof)
            else:
                pending.append(rule)
        for rule, verdict, queries in self._measure(table, pending, info):
            results[rule.id] = self._with_sample(rule, verdict, queries, info)
        return results

    def _measure(
        self, table: Table, rules: Sequence[Rule], info: TableInfo
    ) -> Iterable[tuple[Rule, Verdict, list[QueryRecord]]]:
        """Verdicts from one fused query (of the new rows only, when the table is incremental and
        its stored state allows); if it fails, from one query per rule."""
        if not rules:
            return
        state = self._state(table)
        plan = (
            incremental.plan(table, rules, info, state, datetime.now(UTC))
            if table.incremental
            else None
        )
        if plan is not None and plan.since is not None and state is not None:
            measured = self._measure_since(table, plan, state)
            if measured is not None:
                yield from measured
                return
        fused = self._full_scan(table, rules, info)
        try:
            _, rows, record = self.execute(
                fused.query, table, table.statement_timeout_ms, settings=fused.settings
            )
        except QueryFailed as failed:
            if len(rules) == 1:
                yield rules[0], Verdict("error", failed.record.error or ""), [failed.record]
                return
            for rule in rules:
                for rule_alone, verdict, queries in self._measure(table, [rule], info):
                    yield rule_alone, verdict, [failed.record, *queries]
            return
        record = QueryRecord(record.sql, record.seconds, record.rows, shared_by=len(rules))
        measured = [
            self._settled(rule, fused.slots[rule.id], rows[0], record, info) for rule in rules
        ]
        note = ""
        if plan is not None and fused.watermark is not None:
            note = f" [full scan: {plan.reason}]"
            self._remember(table, rows[0][fused.watermark], rows[0][NOW], measured)
        for item in measured:
            yield item.rule, _noted(item.verdict, note), item.queries

    def _full_scan(self, table: Table, rules: Sequence[Rule], info: TableInfo) -> FusedQuery:
        """The fused SELECT, split in halves (`compile_split`) when the table is large and the
        planner runs the halves in parallel workers; run one after the other, they would read
        the table twice."""
        split = compile_split(table, rules, info) if info.size >= SPLIT_FROM_BYTES else None
        if split is not None and self._runs_in_parallel(split, table):
            memory = max(info.work_mem, SORT_MEMORY)
            return replace(split, settings={"work_mem": f"{memory // 1024}kB"})
        return compile_table(table, rules, info)

    def _runs_in_parallel(self, split: FusedQuery, table: Table) -> bool:
        """Whether the planner runs a split scan's halves in parallel workers (asked by EXPLAIN)."""
        try:
            _, rows, _ = self.execute(
                sql.SQL("EXPLAIN (FORMAT JSON) {}").format(split.query), table
            )
        except QueryFailed:
            return False
        return parallel_halves(rows[0][0])

    def _state(self, table: Table) -> TableState | None:
        if not table.incremental:
            return None
        return watermarks.load(self._session.reader, _key(table))

    def _measure_since(
        self, table: Table, plan: incremental.Plan, state: TableState
    ) -> list[tuple[Rule, Verdict, list[QueryRecord]]] | None:
        """Verdicts from the rows beyond the watermark merged with the stored values; None when
        that query fails (the caller then scans the whole table)."""
        planned = plan.planned or {}
        prior = {rule.id: state.counts[rule.id].values for rule in planned}
        fused = compile_since(table, planned, plan.since or "", prior)
        try:
            # FEW_ROWS: JIT compiled for 40 ms of a 240 ms query of 20k new rows; the probes of
            # old keys run as nested loops (see Unique.since).
            _, rows, record = self.execute(
                fused.query, table, table.statement_timeout_ms, settings=FEW_ROWS
            )
        except QueryFailed:
            return None
        values = rows[0]
        record = QueryRecord(record.sql, record.seconds, record.rows, shared_by=len(planned))
        note = f" [incremental: {values[ROWS]} new rows beyond {table.incremental} {plan.since}]"
        measured = []
        for rule, aggregates in planned.items():
            slot = fused.slots[rule.id]
            scope, whole = incremental.merged(
                state.counts[rule.id],
                values[slot.scope],
                values[slot.start : slot.stop],
                aggregates,
            )
            verdict = rule.judge(whole, Scope(rows=scope, now=values[NOW], zone=self._zone))
            measured.append(Measured(rule, verdict, [record], scope, whole))
        newest = values[fused.watermark] if fused.watermark is not None else None
        self._remember(table, newest, state.full_at, measured, since=state.watermark)
        return [(item.rule, _noted(item.verdict, note), item.queries) for item in measured]

    def _remember(
        self,
        table: Table,
        newest: Any,
        full_at: datetime,
        measured: Sequence[Measured],
        since: str | None = None,
    ) -> None:
        """The table's state after this scan, for the caller to store (see `verified`); none
        when a rule erred (its values are unknown: the next run scans in full)."""
        if any(item.verdict.status == "error" for item in measured):
            self._verified.pop(_key(table), None)
            return
        watermark = since if newest is None else str(plain(newest))
        counts = {
            item.rule.id: RuleCounts(item.scope, [plain(value) for value in item.values])
            for item in measured
        }
        self._verified[_key(table)] = TableState(
            _key(table), table.digest, watermark, full_at, counts
        )

    def verified(self) -> list[TableState]:
        """The new state of every incremental table scanned in full or incrementally; the caller
        stores it with `selfheal.dq.watermarks.save` on a connection of its own that may write."""
        return list(self._verified.values())

    def _settled(
        self, rule: Rule, slot: Slot, values: Sequence, record: QueryRecord, info: TableInfo
    ) -> Measured:
        """The rule's verdict from the fused row, or from a second scan when that row left it
        open (a unique key with fewer distinct hashes than keys)."""
        queries = [record]
        exact = rule.settle(values[slot.start : slot.stop], info)
        if exact is not None:
            settling = compile_table(rule.table, [rule], info, plans={rule.id: exact})
            timeout = rule.table.statement_timeout_ms
            try:
                _, rows, second = self.execute(settling.query, rule.table, timeout)
            except QueryFailed as failed:
                error = Verdict("error", failed.record.error or "")
                return Measured(rule, error, [record, failed.record], 0, [])
            queries.append(second)
            values, slot = rows[0], settling.slots[rule.id]
        own = list(values[slot.start : slot.stop])
        scope = Scope(rows=values[slot.scope], now=values[NOW], zone=self._zone)
        return Measured(rule, rule.judge(own, scope), queries, scope.rows, own)

    def _with_sample(
        self, rule: Rule, verdict: Verdict, queries: list[QueryRecord], info: TableInfo
    ) -> CheckResult:
        result = CheckResult(
            rule.id, verdict.status, verdict.message, verdict.offending, queries=queries
        )
        if verdict.status not in ("fail", "warn"):
            return result
        follow_up = follow_up_query(rule)
        if follow_up is not None:
            self._add_facts(result, follow_up, rule.table)
        sample = sample_query(rule, info, SAMPLE_LIMIT)
        if sample is not None:
            self._add_sample(result, sample, rule.table)
        return result

    def _add_facts(self, result: CheckResult, query: sql.Composable, table: Table) -> None:
        try:
            names, rows, record = self.execute(query, table, table.statement_timeout_ms)
        except QueryFailed as failed:
            result.queries.append(failed.record)
            return
        result.queries.append(record)
        facts = ", ".join(
            f"{value} {name.replace('_', ' ')}" for name, value in as_dicts(names, rows)[0].items()
        )
        result.message += f" [{facts}]"

    def _add_sample(self, result: CheckResult, query: sql.Composable, table: Table) -> None:
        try:
            names, rows, record = self.execute(query, table, table.statement_timeout_ms)
        except QueryFailed as failed:
            result.queries.append(failed.record)
            result.message += f" (sample unavailable: {failed.record.error})"
            return
        result.queries.append(record)
        result.columns = names
        result.sample = as_dicts(names, rows)

    # Custom SQL

    def _run_custom(self, check: CustomCheck) -> CheckResult:
        problem = self._catalog.custom_problem(check)
        if problem:
            return CheckResult(check.id, "error", problem)
        try:
            names, rows, record = self.execute(compile_custom(check, SAMPLE_LIMIT), check.table)
        except QueryFailed as failed:
            return CheckResult(
                check.id,
                "error",
                f"{check.table.source}: {failed.record.error}",
                queries=[failed.record],
            )
        violations = rows[0][0] if rows else 0
        what = f"{check.description}: " if check.description else ""
        message = f"{what}{violations} violating rows from {check.table.source.name}"
        status: Status = (
            "pass" if not violations else "warn" if check.severity == "warn" else "fail"
        )
        columns = names[1:]
        sample = as_dicts(columns, [row[1:] for row in rows])
        return CheckResult(
            check.id, status, message, violations, queries=[record], columns=columns, sample=sample
        )
