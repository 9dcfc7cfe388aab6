"""The HTML report's sections as markup: escaped, bounded, and honest when data is missing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from selfheal.health.config import TableName
from selfheal.health.overview import TableOverview
from selfheal.pytest_plugin.html import (
    MAX_ROWS,
    pytest_html_results_table_html,
    render_failing_rows,
    render_overview,
)

from .dom import tables_in


def test_failing_rows_are_escaped_and_bounded():
    rows = [{"id": i, "note": "<script>alert(1)</script>"} for i in range(MAX_ROWS + 3)]
    html = render_failing_rows(rows)
    assert "<script>" not in html and "&lt;script&gt;" in html
    [table] = tables_in(html, "selfheal-failing-rows")
    assert table[0] == ["id", "note"] and len(table) == MAX_ROWS + 1
    assert "3 more row(s) not shown" in html


def test_rows_with_different_columns_share_one_header():
    [table] = tables_in(render_failing_rows([{"a": 1}, {"b": 2}]), "selfheal-failing-rows")
    assert table == [["a", "b"], ["1", ""], ["", "2"]]


def test_overview_statuses():
    newest = datetime(2026, 11, 25, 6, tzinfo=UTC)
    tables = [
        TableOverview(TableName("public", "events"), 3, 8192, "loaded_at", newest, 30.0, 26),
        TableOverview(TableName("public", "notes"), 0, 8192),
    ]
    [table] = tables_in(render_overview(tables), "selfheal-tables")
    assert [row[3] for row in table[1:]] == ["stale", "not watched"]


def test_overview_says_why_it_is_missing():
    html = render_overview(None, "HealthConfigError: checks/health.toml: <bad>")
    assert "not available: HealthConfigError: checks/health.toml: &lt;bad&gt;" in html
    assert "no check opened the target" in render_overview(None)


def test_a_collection_error_row_gets_no_evidence_section():
    report = pytest.CollectReport("checks/test_broken.py", "failed", "ImportError", [])
    data: list[str] = []
    pytest_html_results_table_html(report, data)
    assert data == []
