"""The HTML report's sections as markup: escaped, bounded, and honest when data is missing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from selfheal.health.config import TableName
from selfheal.health.overview import TableOverview
from selfheal.pytest_plugin.report_check import (
    MAX_ROWS,
    CheckView,
    render_evidence,
    render_rows,
    row_cells,
    skip_reason,
    table_of,
)
from selfheal.pytest_plugin.report_overview import Overview, render
from selfheal.run.evidence import PROBLEM, QUERIES
from selfheal.run.history.trends import Changes, HistoryView
from selfheal.run.problem import Evidence, Problem, Query
from selfheal.run.reporting import Outcome
from selfheal.run.summary import Run

from .dom import tables_in


def _report(outcome: str, properties: list, longrepr=None) -> pytest.TestReport:
    return pytest.TestReport(
        "checks/test_dq.py::test_dq[events.not_null.user_id]",
        ("checks/test_dq.py", 1, "test_dq"),
        {},
        outcome,
        longrepr,
        "call",
        user_properties=properties,
    )


def test_failing_rows_are_escaped_and_bounded():
    rows = [{"id": i, "note": "<script>alert(1)</script>"} for i in range(MAX_ROWS + 3)]
    html = render_rows(rows, offending=40)
    assert "<script>" not in html and "&lt;script&gt;" in html
    [table] = tables_in(html, "selfheal-rows")
    assert table[0] == ["id", "note"] and len(table) == MAX_ROWS + 1
    assert "30 more row(s) not shown" in html  # of the 40 the check counted


def test_rows_with_different_columns_share_one_header():
    [table] = tables_in(render_rows([{"a": 1}, {"b": 2}]), "selfheal-rows")
    assert table == [["a", "b"], ["1", ""], ["", "2"]]


def test_a_failure_is_rendered_once_with_its_sql_timing_and_fix():
    problem = Problem(
        "dq.not_null",
        "public.events.user_id",
        "events.not_null.user_id: 2 of 10 rows have user_id NULL",
        remediation="load user_id",
        evidence=Evidence(2, ({"event_id": 1}, {"event_id": 2}), seconds=0.25),
    )
    query = Query("SELECT count(*) FROM public.events", 0.25, 1)
    properties = [(PROBLEM, problem.to_dict()), (QUERIES, [query.__dict__])]
    view = CheckView.of(_report("failed", properties, "text"), "dq", 0.0002)
    html = render_evidence(view)
    assert len(tables_in(html, "selfheal-rows")) == 1
    assert html.count("SELECT count(*)") == 1 and "250 ms" in html
    assert "Fix: load user_id" in html and f'data-fingerprint="{problem.fingerprint}"' in html
    assert view.table == "public.events" and view.seconds == 0.25  # the shared scan's time
    cells = row_cells(view)
    assert ">250 ms</td>" in cells["duration"] and "2 of 10 rows" in cells["detail"]


def test_a_skip_says_why_in_words():
    report = _report("skipped", [], ("checks/test_x.py", 3, "Skipped: not run: preflight failed"))
    assert skip_reason(report) == "not run: preflight failed"
    html = render_evidence(CheckView.of(report, "dq", 0.0))
    assert html == '<p class="selfheal-skipped">Not run: not run: preflight failed</p>'


def test_table_of_reads_quoted_names():
    assert table_of('public."<b>Odd & Name</b>".id') == 'public."<b>Odd & Name</b>"'
    assert table_of("public.etl_quarantine.source -> public.etl_runs.source") == (
        "public.etl_quarantine"
    )
    assert table_of("TZ") == table_of("checks/dq/events.toml") == ""


def test_overview_statuses_sizes_and_failing_rules():
    newest = datetime(2026, 11, 25, 6, tzinfo=UTC)
    tables = [
        TableOverview(TableName("public", "events"), 3, 52428800, "loaded_at", newest, 30.0, 26),
        TableOverview(TableName("public", "notes"), 0, 8192),
    ]
    toronto = ZoneInfo("America/Toronto")
    [table] = tables_in(render(Overview(None, tables, zone=toronto)), "selfheal-tables")
    assert [row[3] for row in table[1:]] == ["stale", "not watched"]
    assert table[1][5] == "2026-11-25 01:00"  # in the zone the page's title names
    assert [row[2] for row in table[1:]] == ["50.0 MiB", "8.0 KiB"]


def test_overview_says_why_it_is_missing():
    html = render(Overview(None, None, "HealthConfigError: checks/health.toml: <bad>"))
    assert "not available: HealthConfigError: checks/health.toml: &lt;bad&gt;" in html
    assert "no check opened the target" in render(Overview(None, None))


def test_a_collection_error_row_gets_no_evidence_section():
    report = pytest.CollectReport("checks/test_broken.py", "failed", "ImportError", [])
    assert render_evidence(CheckView.of(report, "collect", 0.0)) == ""


def _failed(node: str, stage: str, problem: Problem) -> Outcome:
    return Outcome(node, stage, "failed", problem.message, 0.1, problems=(problem,))


def test_the_overview_lists_what_failed_where_why_and_whether_it_is_new():
    new = _failed(
        "n::a", "dq", Problem("dq.unique", "public.events.event_id", "2 duplicates\nrows")
    )
    old = _failed("n::b", "etl", Problem("etl.source_failed", "events", "events: 503"))
    history = HistoryView(Changes(new_failures=["n::a"], still_failing=["n::b"]), (), ())
    now = datetime(2026, 11, 25, 6, tzinfo=UTC)
    html = render(Overview(Run(now, now, [new, old], None, history=history), []))
    items = re.findall(r"<li>(.*?)</li>", html)
    assert items == [
        '<a href="#n::a">n::a</a> (dq › public.events) <span class="selfheal-news">new</span>:'
        " 2 duplicates",
        '<a href="#n::b">n::b</a> (etl) <span class="selfheal-news">still failing</span>:'
        " events: 503",
    ]
