"""The first screen of report.html: links to the run's other reports, per stage what passed,
failed, warned and was healed, what failed (where, why, whether it is new), per table its
freshness, rows and failing rules, and the search box and stage filter of the results below."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from selfheal.core.text import human_bytes
from selfheal.health.overview import TableOverview
from selfheal.pytest_plugin.report_check import table_of, text
from selfheal.run.reporting import Outcome
from selfheal.run.summary import Run

MAX_FAILURES = 8  # listed on the first screen; the rest are in the results below


@dataclass(frozen=True)
class Overview:
    run: Run | None  # None: no check of a stage ran
    tables: list[TableOverview] | None  # None: the target could not be read (`problem` says why)
    problem: str = ""
    links: Mapping[str, str] = field(default_factory=dict)  # label -> path relative to the page
    tickets: Mapping[str, str] = field(default_factory=dict)  # fingerprint -> relative path
    zone: tzinfo = UTC  # the page's times are in the zone its title names


def render(overview: Overview) -> str:
    parts = [
        _links(overview.links),
        _stages(overview.run),
        _failures(overview.run),
        _tables(overview, _failing_by_table(overview.run)),
        _controls(overview.run),
        _tickets(overview.tickets),
    ]
    return f'<div id="selfheal-overview">{"".join(parts)}</div>'


def _links(links: Mapping[str, str]) -> str:
    if not links:
        return ""
    items = " · ".join(f'<a href="{text(path)}">{text(label)}</a>' for label, path in links.items())
    return f'<nav class="selfheal-links">{items}</nav>'


def _stages(run: Run | None) -> str:
    if run is None:
        return ""
    healed = run.healed_nodes()
    rows = []
    for stage in run.stages():
        mine = [o for o in run.outcomes if o.stage == stage]
        counts = [
            run.count(stage, "passed"),
            run.count(stage, "failed"),
            sum(1 for o in mine if o.warnings),
            sum(1 for o in mine if o.nodeid in healed),
            run.count(stage, "skipped"),
        ]
        failed = ' class="selfheal-failed"' if counts[1] else ""
        cells = "".join(f"<td>{count}</td>" for count in counts)
        rows.append(f"<tr{failed}><th>{text(stage)}</th>{cells}</tr>")
    return (
        '<h2>Stages</h2><table id="selfheal-stages" class="selfheal-overview"><thead><tr>'
        "<th>stage</th><th>passed</th><th>failed</th><th>warned</th><th>healed</th>"
        f"<th>not run</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _failures(run: Run | None) -> str:
    failures = run.failures() if run else []
    if run is None or not failures:
        return ""
    items = "".join(_failure(o, _news(run, o.nodeid)) for o in failures[:MAX_FAILURES])
    more = len(failures) - MAX_FAILURES
    rest = f"<li>and {more} more below</li>" if more > 0 else ""
    return f'<h2>Failures</h2><ul id="selfheal-failures">{items}{rest}</ul>'


def _news(run: Run, node_id: str) -> str:
    """Whether the check also failed in the target's previous run (known from its history)."""
    if run.history is None:
        return ""
    changes = run.history.changes
    if node_id in changes.new_failures:
        return "new"
    return "still failing" if node_id in changes.still_failing else ""


def _failure(outcome: Outcome, news: str) -> str:
    problems = outcome.failing_problems
    table = next((table_of(p.object) for p in problems if table_of(p.object)), "")
    why = problems[0].message if problems else outcome.message
    where = " › ".join(part for part in (outcome.stage, table) if part)
    tag = f' <span class="selfheal-news">{text(news)}</span>' if news else ""
    return (
        f'<li><a href="#{text(outcome.nodeid)}">{text(outcome.nodeid)}</a> ({text(where)}){tag}: '
        f"{text(why.splitlines()[0] if why else '')}</li>"
    )


def _failing_by_table(run: Run | None) -> dict[str, list[str]]:
    failing: dict[str, list[str]] = {}
    for outcome in run.outcomes if run else ():
        for problem in outcome.failing_problems:
            table = table_of(problem.object)
            if table:
                failing.setdefault(table, []).append(problem.code)
    return {table: sorted(set(codes)) for table, codes in failing.items()}


def _tables(overview: Overview, failing: dict[str, list[str]]) -> str:
    heading = "<h2>Tables: freshness, rows and failing rules</h2>"
    if overview.tables is None:
        reason = overview.problem or "no check opened the target database in this session"
        return f'{heading}<p class="selfheal-overview">not available: {text(reason)}</p>'
    rows = "".join(
        _table_row(t, failing.get(str(t.table), []), overview.zone) for t in overview.tables
    )
    return (
        f'{heading}<table id="selfheal-tables" class="selfheal-overview">'
        "<thead><tr><th>table</th><th>rows</th><th>size</th><th>freshness</th>"
        "<th>column</th><th>newest</th><th>age (h)</th><th>limit (h)</th>"
        f"<th>failing rules</th></tr></thead><tbody>{rows}</tbody></table>"
    )


ESTIMATED = "estimated from the table's statistics: a large table is not counted again"


def _table_row(t: TableOverview, failing: list[str], zone: tzinfo) -> str:
    cells = [
        text(t.table),
        f'<span title="{ESTIMATED}">≈ {t.rows:,}</span>' if t.rows_estimated else f"{t.rows:,}",
        human_bytes(t.bytes),
        text(t.status),
        text(t.freshness_column or ""),
        "" if t.newest is None else f"{t.newest.astimezone(zone):%Y-%m-%d %H:%M}",
        "" if t.age_hours is None else f"{t.age_hours:.1f}",
        "" if t.max_age_hours is None else f"{t.max_age_hours:g}",
        text(", ".join(failing)),
    ]
    status = t.status.replace(" ", "-")
    tds = "".join(
        f'<td class="{status}">{cell}</td>' if i == 3 else f"<td>{cell}</td>"
        for i, cell in enumerate(cells)
    )
    failed = ' class="selfheal-failed"' if failing else ""
    return f"<tr{failed}>{tds}</tr>"


def _controls(run: Run | None) -> str:
    stages = run.stages() if run else []
    options = "".join(f'<option value="{text(s)}">{text(s)}</option>' for s in stages)
    return (
        '<div class="selfheal-controls">'
        '<input id="selfheal-search" type="search" placeholder="search checks, tables, messages"'
        ' aria-label="search the results">'
        '<select id="selfheal-stage-filter" aria-label="show one stage">'
        f'<option value="">every stage</option>{options}</select></div>'
    )


def _tickets(tickets: Mapping[str, str]) -> str:
    data = json.dumps(dict(tickets)).replace("</", "<\\/")
    return f'<script type="application/json" id="selfheal-tickets">{data}</script>'
