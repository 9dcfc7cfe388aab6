"""One check in report.html: the cells of its row (stage, table, duration, a one-line detail) and,
under it, its evidence rendered once: each problem's message, offending rows, remediation and
ticket link, then the SQL its verdict came from with the time it took. A skipped check says why
in words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any

import pytest

from selfheal.core.text import human_seconds
from selfheal.run.evidence import QUERIES, SAMPLE_ROWS, TABLE, from_report, problems_of
from selfheal.run.pipeline import OTHER, stage_rank
from selfheal.run.problem import Problem, Query
from selfheal.run.reporting import CRASH

MAX_ROWS = 10
_NAME = r'(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)'
_TABLE = re.compile(rf"{_NAME}\.{_NAME}")
_SKIPPED = "Skipped: "


def text(value: Any) -> str:
    """Escaped text whose line breaks survive pytest-html's line-by-line log markup."""
    return escape(str(value)).replace("\n", "&#10;")


def table_of(about: str) -> str:
    """The schema-qualified table a problem's object starts with (`public.events.user_id`), or ''."""
    found = _TABLE.match(about)
    return found.group(0) if found else ""


@dataclass(frozen=True)
class CheckView:
    """What report.html shows of one check, read from its pytest report."""

    outcome: str
    stage: str
    table: str
    seconds: float
    detail: str
    problems: tuple[Problem, ...]
    samples: tuple[dict[str, Any], ...]  # rows the check attached outside its problems
    queries: tuple[Query, ...]

    @classmethod
    def of(
        cls, report: pytest.TestReport | pytest.CollectReport, stage: str, seconds: float
    ) -> CheckView:
        problems = tuple(problems_of(report))
        about = [*from_report(report, TABLE), *(table_of(p.object) for p in problems)]
        queries = [Query(**q) for listed in from_report(report, QUERIES) for q in listed]
        queries += [q for p in problems for q in p.evidence.queries]
        # A check whose work happened in a shared fixture (one scan per table) took the time of
        # the queries its verdict came from, not the microseconds of its own call.
        work = max(sum(q.seconds for q in _distinct(queries)), *(_seconds(p) for p in problems), 0)
        return cls(
            outcome=report.outcome,
            stage=stage,
            table=next((t for t in about if t), ""),
            seconds=max(seconds, work),
            detail=_detail(report, problems),
            problems=problems,
            samples=tuple(row for rows in from_report(report, SAMPLE_ROWS) for row in rows),
            queries=tuple(_distinct(queries)),
        )


def _seconds(problem: Problem) -> float:
    return problem.evidence.seconds or 0.0


def _distinct(queries: list[Query]) -> list[Query]:
    return list({q.sql: q for q in queries}.values())


def _detail(report: pytest.TestReport | pytest.CollectReport, problems: tuple[Problem, ...]) -> str:
    """One line: why a check was skipped, or what its first failing problem (or crash) says."""
    if report.skipped:
        return skip_reason(report)
    failing = [p.message for p in problems if p.failing]
    crash = dict(getattr(report, "user_properties", ())).get(CRASH, {}).get("message", "")
    first = failing[0] if failing else crash if report.failed else ""
    return first.splitlines()[0] if first else ""


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """pytest keeps a skip as (file, line, 'Skipped: reason'): the reason is what people read."""
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr or "")
    return reason.removeprefix(_SKIPPED) or "skipped"


def row_cells(view: CheckView) -> dict[str, str]:
    """The cells selfheal adds to (or replaces in) pytest-html's results row, by column."""
    rank = stage_rank(view.stage) if view.stage not in ("", OTHER) else 99
    return {
        "stage": f'<td class="col-stage" data-rank="{rank}">{text(view.stage or OTHER)}</td>',
        "table": f'<td class="col-table">{text(view.table)}</td>',
        # pytest-html sorts a column by the cell's markup: the comment makes that order numeric.
        "duration": f'<td class="col-elapsed"><!--{view.seconds:015.6f}-->'
        f"{human_seconds(view.seconds)}</td>",
        "detail": f'<td class="col-detail" title="{text(view.detail)}">{text(view.detail)}</td>',
    }


def render_evidence(view: CheckView) -> str:
    """The check's evidence, each part once; '' when there is nothing to show."""
    if view.outcome == "skipped":
        return f'<p class="selfheal-skipped">Not run: {text(view.detail)}</p>'
    parts = [render_problem(p) for p in view.problems]
    if view.samples:
        parts.append(render_rows(list(view.samples)))
    if view.queries:
        parts.append(render_queries(view.queries))
    return f'<div class="selfheal-evidence">{"".join(parts)}</div>' if parts else ""


def render_problem(problem: Problem) -> str:
    about = f" on <b>{text(problem.object)}</b>" if problem.object else ""
    parts = [
        f'<p class="selfheal-about"><code>{text(problem.code)}</code>{about}'
        f' <span class="selfheal-level">{text(problem.severity)}</span></p>',
        f'<pre class="selfheal-message">{text(problem.message)}</pre>',
    ]
    if problem.evidence.samples:
        parts.append(render_rows(list(problem.evidence.samples), problem.evidence.offending))
    if problem.remediation:
        parts.append(f'<p class="selfheal-remediation">Fix: {text(problem.remediation)}</p>')
    if problem.failing:
        parts.append(
            f'<p><a class="selfheal-ticket" data-fingerprint="{problem.fingerprint}" hidden>'
            "ticket</a></p>"
        )
    return f'<section class="selfheal-problem {text(problem.severity)}">{"".join(parts)}</section>'


def render_rows(rows: list[dict[str, Any]], offending: int | None = None) -> str:
    """Offending rows as one table, at most MAX_ROWS of them, saying how many were left out."""
    shown = rows[:MAX_ROWS]
    columns = list(dict.fromkeys(key for row in shown for key in row))
    head = "".join(f"<th>{text(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{text(row.get(c, ''))}</td>" for c in columns) + "</tr>"
        for row in shown
    )
    total = max(offending or 0, len(rows))
    more = f"<p>{total - len(shown):,} more row(s) not shown</p>" if total > len(shown) else ""
    return (
        f'<div class="selfheal-rows"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>{more}</div>"
    )


def render_queries(queries: tuple[Query, ...]) -> str:
    total = human_seconds(sum(q.seconds for q in queries))
    listed = "".join(
        f"<pre>{text(q.sql)}</pre><p>{human_seconds(q.seconds)}, {q.rows:,} row(s)"
        + (f", error: {text(q.error)}" if q.error else "")
        + "</p>"
        for q in queries
    )
    return (
        f'<details class="selfheal-sql"><summary>SQL: {len(queries)} query(ies), {total}'
        f"</summary>{listed}</details>"
    )
