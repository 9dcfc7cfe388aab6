"""A real `pytest -m health` session against a test database, and the reports it leaves:
the HTML report rendered in headless Chromium (loads, no console output, failing rows and the
per-table overview shown), the health report linking it, and the executive KPI page."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from selfheal.core.db import connect, create_database, drop_database
from selfheal.run.tickets import load_tickets

from .dom import tables_in
from .sessions import Finished, selfheal_session

ODD_TABLE = "<b>Odd & Name</b>"
CHECKS = "orphan_rows or invalid_index or owner_and_purpose"


def _seed(conn: psycopg.Connection) -> None:
    """Ten days of metrics, and three problems: orphan rows, an invalid index, an unowned table."""
    conn.execute(
        "INSERT INTO public.daily_metrics (metric_date, source, campaign, spend, conversions)"
        " SELECT current_date - g, 'source_a', 'c1', 100 + g, g % 4"
        " FROM generate_series(0, 9) g"
    )
    conn.execute(
        "INSERT INTO public.etl_quarantine (source, raw_payload, reason)"
        " VALUES ('ghost', '{}', 'no such run')"
    )
    conn.execute("CREATE TABLE public.dupes (v int)")
    conn.execute("INSERT INTO public.dupes VALUES (1), (1)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY dupes_v_key ON public.dupes (v)")
    conn.execute(
        sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(sql.Identifier("public", ODD_TABLE))
    )


def _health_session(dsn: str, reports: Path, *args: str) -> Finished:
    """`pytest -m health` against `dsn` in live mode."""
    return selfheal_session(reports, "-m", "health", *args, SUPABASE_DB_URL=dsn)


@pytest.fixture(scope="module")
def run(admin_dsn: str, migrated_template: str, tmp_path_factory) -> Finished:
    """One health session (a subprocess, as a user runs it) against a seeded clone."""
    reports = tmp_path_factory.mktemp("reports")
    name = f"report_browser_{uuid.uuid4().hex[:8]}"  # unique: xdist workers may each build one
    dsn = create_database(admin_dsn, name, template=migrated_template)
    try:
        with connect(dsn, autocommit=True) as conn:
            _seed(conn)
        return _health_session(dsn, reports, "-k", CHECKS)
    finally:
        drop_database(admin_dsn, name)


def test_the_session_fails_on_error_findings(run):
    assert run.returncode == 1, run.output[-3000:]
    assert "constraint_propagation:orphan_rows" in run.output


def test_html_report_loads_without_console_output(run, render):
    rendered = render(run.reports / "report.html")
    assert rendered.console == []
    assert "test_health[constraint_propagation:invalid_index]" in rendered.dom  # rows built by JS


def test_failing_rows_table_renders(run, render):
    dom = render(run.reports / "report.html").dom
    tables = tables_in(dom, "selfheal-rows")
    assert len(tables) == 2  # the two failing checks
    rows = [row for table in tables for row in table]
    assert rows[0] == ["check", "subject", "level", "message", "remediation"]
    subjects = {row[1] for table in tables for row in table[1:]}
    assert subjects == {
        "public.etl_quarantine.source -> public.etl_runs.source",
        "public.dupes_v_key",
    }


def test_tables_overview_shows_freshness_and_row_counts(run, render):
    [table] = tables_in(render(run.reports / "report.html").dom, "selfheal-tables")
    header, *rows = table
    assert header[:4] == ["table", "rows", "size", "freshness"]
    by_name = {row[0]: row for row in rows}
    assert by_name["public.etl_quarantine"][8] == "health.orphan_rows"  # its failing rule
    assert by_name["public.daily_metrics"][1] == "10"
    assert by_name["public.daily_metrics"][3] == "fresh"
    assert by_name["public.events"][3] == "empty"
    assert by_name['public."<b>Odd & Name</b>"'][3] == "not watched"  # escaped, shown as text


def test_health_report_links_the_html_report(run):
    [report] = run.reports.glob("system_health_*.md")
    text = report.read_text()
    assert "[report.html](report.html)" in text
    assert "## 4. Constraint propagation" in text and "## 3. Socio-technical alignment" in text
    assert (
        "| orphan_rows | error | public.etl_quarantine.source -> public.etl_runs.source |" in text
    )
    assert "| invalid_index | error | public.dupes_v_key |" in text


def test_executive_page_has_the_30_day_chart(run, render):
    [page] = (run.reports / "exec").glob("kpi_*.md")
    text = page.read_text()
    chart = page.with_suffix(".svg")
    assert f"]({chart.name})" in text
    assert text.count("\n| 20") == 30  # one row per day
    svg = ET.parse(chart).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    labels = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert {"Spend", "Conversions", "CPA"} <= set(labels)
    drawn = {
        group.get("id")
        for group in svg.iter("{http://www.w3.org/2000/svg}g")
        if group.find("{http://www.w3.org/2000/svg}path") is not None
    }
    assert {"series-Spend", "series-Conversions", "series-CPA"} <= drawn  # a line per measure
    assert render(chart).console == []


def test_error_findings_become_tickets_with_their_findings_as_rows(run):
    found = {t.node_id: t for t in load_tickets(run.reports.parent / "backlog")}
    orphan = found["checks/test_health.py::test_health[constraint_propagation:orphan_rows]"]
    assert orphan.status == "open" and orphan.stage == "health"
    assert (
        orphan.sample_rows[0]["subject"] == "public.etl_quarantine.source -> public.etl_runs.source"
    )
    assert "checks/test_health.py::test_health[constraint_propagation:invalid_index]" in found


def test_overview_under_xdist_is_taken_by_the_controller(migrated_db, tmp_path, render):
    reports = tmp_path / "reports"
    result = _health_session(migrated_db, reports, "-n", "2", "-k", "owner_and_purpose")
    assert result.returncode == 0, result.output[-3000:]
    [table] = tables_in(render(reports / "report.html").dom, "selfheal-tables")
    assert "public.events" in {row[0] for row in table[1:]}


def test_a_database_without_the_metrics_table_keeps_its_tables_overview(
    migrated_db, tmp_path, render
):
    """Another schema than the project's: no KPI page, and the overview is still there."""
    with connect(migrated_db, autocommit=True) as conn:
        conn.execute("DROP TABLE public.daily_metrics CASCADE")
    reports = tmp_path / "reports"
    logged = ("-o", "log_cli=true", "--log-cli-level=WARNING")  # the plugin's warnings shown
    result = _health_session(migrated_db, reports, "-k", "owner_and_purpose", *logged)
    assert result.returncode == 0, result.output[-3000:]
    assert "no table overview" not in result.output
    [table] = tables_in(render(reports / "report.html").dom, "selfheal-tables")
    assert "public.events" in {row[0] for row in table[1:]}
    assert not list(reports.glob("exec/kpi_*"))


def test_health_report_of_a_run_that_loads_after_it_says_so(migrated_db, tmp_path):
    """Stages run in order: health, then the ETL. The rows the health checks saw are the ones
    from before the load, and the report says so; sizes and times are written for people."""
    reports = tmp_path / "reports"
    checks = "failing_upstream or bloat or test_etl_job"
    unset = {name: "" for name in ("SOURCE_A_BASE_URL", "GENERIC_SOURCE_A_TOKEN")}
    session = ("-m", "health or etl", "-k", checks)
    selfheal_session(reports, *session, SUPABASE_DB_URL=migrated_db, TZ="America/Toronto", **unset)
    [report] = reports.glob("system_health_*.md")
    text = report.read_text()
    assert "- data: judged before today's load: this run's ETL stage came after" in text
    assert "| failing_upstream (before today's load) |" in text
    assert "examined estimated bloat of every analyzed table of at least 50.0 MiB" in text
    assert "e+0" not in text and "- times: every time in this report is in America/Toronto" in text
