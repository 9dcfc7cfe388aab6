"""The executive page: 30 days of spend, conversions and cpa, and its chart."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from selfheal.core.db import connect
from selfheal.kpi import DayKpi, chart, daily_trend, render_svg, write_kpi_page

TODAY = date(2026, 11, 25)


def _metrics(conn, rows):
    conn.cursor().executemany(
        "INSERT INTO public.daily_metrics (metric_date, source, campaign, spend, conversions)"
        " VALUES (%s, %s, 'c1', %s, %s)",
        rows,
    )


def test_trend_fills_every_day_and_sums_sources(migrated_db):
    with connect(migrated_db, autocommit=True) as conn:
        _metrics(
            conn,
            [
                (TODAY, "source_a", Decimal("10.50"), 2),
                (TODAY, "source_b", Decimal("4.50"), 1),
                (date(2026, 11, 20), "source_a", Decimal("7"), 0),
                (date(2026, 10, 1), "source_a", Decimal("99"), 9),  # older than 30 days
            ],
        )
        trend = daily_trend(conn, TODAY)
    assert len(trend) == 30 and trend[0].day == date(2026, 10, 27) and trend[-1].day == TODAY
    assert trend[-1] == DayKpi(TODAY, Decimal("15.00"), 3) and trend[-1].cpa == Decimal("5")
    assert trend[-6].cpa is None  # spend without conversions: no cpa
    assert sum(d.spend for d in trend) == Decimal("22.00")


def test_chart_has_labelled_axes_gridlines_and_one_point_per_day():
    trend = [
        DayKpi(date(2026, 11, d), Decimal(10), c)
        for d, c in [(1, 1), (2, 0), (3, 2), (4, 2)] + [(d, 1) for d in range(5, 31)]
    ]
    figure = chart(trend, frozenset({date(2026, 11, 30)}), "America/Toronto")
    spend, conversions, cpa = figure.axes
    assert [ax.get_ylabel() for ax in figure.axes] == [
        "Spend\n(currency units)",
        "Conversions\n(per day)",
        "CPA\n(currency units per conversion)",
    ]
    assert cpa.get_xlabel() == "day (America/Toronto)"
    for ax in figure.axes:
        line = ax.get_lines()[0]
        assert list(line.get_xdata()) == [d.day for d in trend]  # one point per day
        assert ax.xaxis.get_gridlines()[0].get_visible()
        assert ax.yaxis.get_gridlines()[0].get_visible()
    cpa_values = cpa.get_lines()[0].get_ydata()
    assert math.isnan(cpa_values[1]) and cpa_values[0] == 10  # no cpa without conversions: a gap
    # the partial day is drawn hollow on each panel
    assert [list(ax.get_lines()[1].get_xdata()) for ax in figure.axes] == [[date(2026, 11, 30)]] * 3


def test_svg_keeps_its_labels_as_text():
    trend = [DayKpi(date(2026, 11, d), Decimal(d), d % 3) for d in range(1, 31)]
    svg = render_svg(trend, frozenset({date(2026, 11, 1)}), "UTC")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for label in ("Spend", "(currency units)", "Conversions", "CPA", "day (UTC)", "partial day"):
        assert f">{label}<" in svg or f"{label}</text>" in svg


def test_page_and_chart_are_written(migrated_db, tmp_path):
    with connect(migrated_db, autocommit=True) as conn:
        _metrics(conn, [(TODAY, "source_a", Decimal("12"), 4)])
        page = write_kpi_page(conn, tmp_path, datetime(2026, 11, 25, 9, tzinfo=ZoneInfo("UTC")))
    assert page == tmp_path / "exec" / "kpi_2026-11-25.md"
    text = page.read_text()
    assert "total spend: 12.00; conversions: 4; cpa: 3.00" in text
    assert "![Spend, conversions and CPA per day](kpi_2026-11-25.svg)" in text
    assert "partial days (2026-11-25)" in text  # today, still running, and the first day loaded
    assert "<svg" in (tmp_path / "exec" / "kpi_2026-11-25.svg").read_text()


def test_page_drawn_from_the_same_numbers_is_kept_and_redrawn_when_they_change(
    migrated_db, tmp_path
):
    now = datetime(2026, 11, 25, 9, tzinfo=ZoneInfo("UTC"))
    with connect(migrated_db, autocommit=True) as conn:
        _metrics(conn, [(TODAY, "source_a", Decimal("12"), 4)])
        chart_file = write_kpi_page(conn, tmp_path, now).with_suffix(".svg")
        chart_file.write_text("drawn by the first session")
        write_kpi_page(conn, tmp_path, now)
        assert chart_file.read_text() == "drawn by the first session"  # same numbers: kept
        _metrics(conn, [(TODAY, "source_b", Decimal("8"), 1)])
        page = write_kpi_page(conn, tmp_path, now)
    assert "<svg" in chart_file.read_text()
    assert "total spend: 20.00; conversions: 5" in page.read_text()


def test_command_line_reports_an_unreachable_database_without_its_password(tmp_path):
    env = {
        **os.environ,
        "SUPABASE_DB_URL": "postgresql://kpi:s3cr3t-pw@127.0.0.1:1/nowhere?connect_timeout=2",
        "SELFHEAL_REPORTS_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "selfheal.kpi"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "127.0.0.1:1/nowhere" in result.stderr
    assert "s3cr3t-pw" not in result.stdout + result.stderr
    assert not (tmp_path / "exec").exists()  # nothing half-written


@pytest.mark.parametrize("command", [["selfheal.kpi"], ["selfheal", "kpi"]], ids=" ".join)
def test_command_line_writes_the_page_for_today(migrated_db, tmp_path, command):
    env = {**os.environ, "SUPABASE_DB_URL": migrated_db, "SELFHEAL_REPORTS_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    [page] = (tmp_path / "exec").glob("kpi_*.md")
    assert f"executive page: {page}" in result.stdout
    assert page.with_suffix(".svg").exists()


def test_help_describes_the_command_and_writes_nothing(tmp_path):
    env = {**os.environ, "SELFHEAL_REPORTS_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "selfheal.kpi", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "usage: python -m selfheal.kpi" in result.stdout
    assert "spend, conversions and cpa per day" in " ".join(result.stdout.split())
    assert not list(tmp_path.iterdir())
