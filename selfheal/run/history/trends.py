"""What the history says about a run, for its summary: what changed, and the trends.

- `changes_since_previous`: of the checks this run judged, the new failures, the fixed ones and
  those still failing, each against that check's previous verdict on the same target (so a
  `pytest -k` run compares like with like);
- `check_trends`: per check, its last outcomes (oldest first) and its flake rate: the share of
  consecutive verdicts that flipped between passed and failed;
- `table_trends`: per checked table, its row counts and new rows run by run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

WINDOW = 30  # outcomes per check, figures per table

_CHANGES = """
WITH judged AS (
    SELECT node_id, outcome FROM selfheal_history.check_results
    WHERE run_id = %(run)s AND outcome IN ('passed', 'failed')
), previous AS (
    SELECT DISTINCT ON (c.node_id) c.node_id, c.outcome
    FROM selfheal_history.check_results c JOIN selfheal_history.runs r USING (run_id)
    WHERE r.target = %(target)s AND c.run_id < %(run)s AND c.outcome IN ('passed', 'failed')
      AND c.node_id IN (SELECT node_id FROM judged)
    ORDER BY c.node_id, c.run_id DESC
)
SELECT j.node_id, j.outcome, p.outcome FROM judged j LEFT JOIN previous p USING (node_id)
ORDER BY j.node_id
"""
_OUTCOMES = """
SELECT node_id, array_agg(outcome ORDER BY run_id) FROM (
    SELECT c.node_id, c.outcome, c.run_id,
           row_number() OVER (PARTITION BY c.node_id ORDER BY c.run_id DESC) AS recent
    FROM selfheal_history.check_results c JOIN selfheal_history.runs r USING (run_id)
    WHERE r.target = %(target)s AND c.outcome IN ('passed', 'failed')
) AS latest WHERE recent <= %(window)s GROUP BY node_id ORDER BY node_id
"""
_TABLES = """
SELECT schema_name, table_name, array_agg(row_count ORDER BY run_id),
       array_agg(new_rows ORDER BY run_id) FROM (
    SELECT s.*, row_number() OVER (PARTITION BY s.schema_name, s.table_name
                                   ORDER BY s.run_id DESC) AS recent
    FROM selfheal_history.table_stats s JOIN selfheal_history.runs r USING (run_id)
    WHERE r.target = %(target)s
) AS latest WHERE recent <= %(window)s GROUP BY 1, 2 ORDER BY 1, 2
"""


@dataclass
class Changes:
    new_failures: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    still_failing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CheckTrend:
    node_id: str
    outcomes: tuple[str, ...]  # oldest first

    @property
    def flake_rate(self) -> float:
        flips = sum(1 for a, b in zip(self.outcomes, self.outcomes[1:], strict=False) if a != b)
        return flips / (len(self.outcomes) - 1) if len(self.outcomes) > 1 else 0.0

    @property
    def failures(self) -> int:
        return self.outcomes.count("failed")


@dataclass(frozen=True)
class TableTrend:
    schema: str
    table: str
    rows: tuple[int | None, ...]
    new_rows: tuple[int | None, ...]


@dataclass(frozen=True)
class HistoryView:
    """What a run's summary shows from the history of its target."""

    changes: Changes
    checks: tuple[CheckTrend, ...]
    tables: tuple[TableTrend, ...]


def changes_since_previous(conn: psycopg.Connection, target: str, run_id: int) -> Changes:
    changes = Changes()
    for node_id, now, before in conn.execute(_CHANGES, {"run": run_id, "target": target}):
        if now == "failed":
            (changes.still_failing if before == "failed" else changes.new_failures).append(node_id)
        elif before == "failed":
            changes.fixed.append(node_id)
    return changes


def check_trends(conn: psycopg.Connection, target: str, window: int = WINDOW) -> list[CheckTrend]:
    rows = conn.execute(_OUTCOMES, {"target": target, "window": window})
    return [CheckTrend(node_id, tuple(outcomes)) for node_id, outcomes in rows]


def table_trends(conn: psycopg.Connection, target: str, window: int = WINDOW) -> list[TableTrend]:
    rows = conn.execute(_TABLES, {"target": target, "window": window})
    return [TableTrend(s, t, tuple(counts), tuple(new)) for s, t, counts, new in rows]


def history_view(conn: psycopg.Connection, target: str, run_id: int) -> HistoryView:
    return HistoryView(
        changes_since_previous(conn, target, run_id),
        tuple(check_trends(conn, target)),
        tuple(table_trends(conn, target)),
    )
