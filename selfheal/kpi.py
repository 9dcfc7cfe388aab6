"""The executive page: the daily metrics trend (spend, conversions, cpa) over the last 30 days.

`selfheal kpi` (or `python -m selfheal.kpi`) writes `reports/exec/kpi_YYYY-MM-DD.md` and the chart
beside it (`kpi_YYYY-MM-DD.svg`, drawn with matplotlib: a panel per measure with its unit,
gridlines, the days on the x-axis, partial days shaded). It reads the target read-only.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from selfheal.core.db import DatabaseUnreachable, connect_target
from selfheal.core.files import write_atomic
from selfheal.core.settings import Settings, SettingsError
from selfheal.core.target import target_database

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DAYS = 30
METRICS_TABLE = "public.daily_metrics"  # the metrics job's table

TREND = """
SELECT d::date AS day, coalesce(sum(m.spend), 0) AS spend,
       coalesce(sum(m.conversions), 0) AS conversions
FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
LEFT JOIN public.daily_metrics m ON m.metric_date = d::date
GROUP BY d ORDER BY d
"""


@dataclass(frozen=True)
class DayKpi:
    day: date
    spend: Decimal
    conversions: int

    @property
    def cpa(self) -> Decimal | None:
        """Cost per acquisition; none on a day without conversions."""
        return self.spend / self.conversions if self.conversions else None


def has_metrics(conn: psycopg.Connection) -> bool:
    """Whether the target holds the metrics table (a database of another schema may not)."""
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (METRICS_TABLE,)).fetchone()[0]


def daily_trend(conn: psycopg.Connection, last_day: date, days: int = DAYS) -> list[DayKpi]:
    """One entry per day from `last_day - days + 1` to `last_day`, zero where nothing was loaded."""
    first = last_day - timedelta(days=days - 1)
    rows = conn.execute(TREND, {"first": first, "last": last_day}).fetchall()
    return [DayKpi(day, Decimal(spend), int(conversions)) for day, spend, conversions in rows]


FIRST_LOADED = "SELECT min(metric_date) FROM public.daily_metrics"


def partial_days(conn: psycopg.Connection, trend: list[DayKpi], today: date) -> frozenset[date]:
    """Days whose numbers cover part of the day: today (still running) and the first day the
    metrics hold (loading started during it)."""
    first_loaded = conn.execute(FIRST_LOADED).fetchone()[0]
    window = {d.day for d in trend}
    return frozenset(day for day in (today, first_loaded) if day in window)


# --- the chart: three panels sharing the day axis -----------------------------------------
def render_svg(trend: list[DayKpi], partial: frozenset[date] = frozenset(), zone: str = "") -> str:
    from selfheal.core.charts import to_svg

    return to_svg(chart(trend, partial, zone))


def chart(trend: list[DayKpi], partial: frozenset[date] = frozenset(), zone: str = "") -> Figure:
    """Spend, conversions and cpa per day, one panel each (a day without cpa is a gap)."""
    # matplotlib loads only when a chart is drawn, not whenever the plugin is imported.
    from selfheal.core.charts import Series, daily_figure

    series = [
        Series("Spend", "currency units", [float(d.spend) for d in trend], decimals=2),
        Series("Conversions", "per day", [d.conversions for d in trend]),
        Series(
            "CPA",
            "currency units per conversion",
            [None if d.cpa is None else float(d.cpa) for d in trend],
            decimals=2,
        ),
    ]
    title = f"Daily metrics, last {len(trend)} days"
    return daily_figure(title, [d.day for d in trend], series, partial, zone)


# --- the page ------------------------------------------------------------------------------
def render_page(
    trend: list[DayKpi],
    chart_name: str,
    generated: datetime,
    partial: frozenset[date] = frozenset(),
) -> str:
    spend = sum((d.spend for d in trend), Decimal(0))
    conversions = sum(d.conversions for d in trend)
    cpa = f"{spend / conversions:,.2f}" if conversions else "n/a"
    lines = [
        f"# Executive KPIs, {trend[0].day} to {trend[-1].day}",
        "",
        f"- generated: {generated.isoformat(timespec='seconds')}",
        f"- total spend: {spend:,.2f}; conversions: {conversions:,}; cpa: {cpa}",
        "- full check results: [report.html](../report.html)",
        "",
        f"![Spend, conversions and CPA per day]({chart_name})",
        "",
        *(
            [f"Shaded in the chart: partial days ({', '.join(map(str, sorted(partial)))})."] + [""]
            if partial
            else []
        ),
        "| day | spend | conversions | cpa |",
        "| --- | ---: | ---: | ---: |",
    ]
    for d in reversed(trend):
        day_cpa = f"{d.cpa:,.2f}" if d.cpa is not None else "n/a"
        lines.append(f"| {d.day} | {d.spend:,.2f} | {d.conversions:,} | {day_cpa} |")
    return "\n".join(lines) + "\n"


def data_marker(trend: list[DayKpi], partial: frozenset[date], zone: str) -> str:
    """A line naming the numbers a page was drawn from (a comment, invisible when rendered)."""
    facts = repr(([(d.day, d.spend, d.conversions) for d in trend], sorted(partial), zone))
    return f"<!-- kpi data {hashlib.sha256(facts.encode()).hexdigest()} -->"


def write_kpi_page(conn: psycopg.Connection, reports_dir: Path, now: datetime) -> Path:
    """Write the chart and the page for the 30 days ending `now`'s date; returns the page.

    Every session that opens the target ends here, so a page already drawn today from the same
    numbers is kept: drawing the chart (loading matplotlib) costs a second or more.
    """
    trend = daily_trend(conn, now.date())
    partial = partial_days(conn, trend, now.date())
    zone = str(now.tzinfo or "")
    stem = f"kpi_{now:%Y-%m-%d}"
    exec_dir = reports_dir / "exec"
    page, chart_file = exec_dir / f"{stem}.md", exec_dir / f"{stem}.svg"
    marker = data_marker(trend, partial, zone)
    if chart_file.exists() and page.exists() and marker in page.read_text().splitlines():
        return page
    write_atomic(chart_file, render_svg(trend, partial, zone))
    write_atomic(page, render_page(trend, chart_file.name, now, partial) + marker + "\n")
    return page


def run(settings: Settings, prog: str = "selfheal.kpi") -> int:
    """The command: write today's page from the target; exit 2 with one line if it cannot."""
    try:
        with (
            target_database(settings) as dsn,
            connect_target(dsn, settings, read_only=True) as conn,
        ):
            page = write_kpi_page(conn, settings.reports_dir, datetime.now(settings.zone))
    except (DatabaseUnreachable, psycopg.Error) as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    print(f"executive page: {page}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m selfheal.kpi",
        description="Write the executive page of the target database: spend, conversions and "
        "cpa per day over the last 30 days, as reports/exec/kpi_YYYY-MM-DD.md with its chart "
        "(SVG) beside it. Reads the target read-only (SUPABASE_DB_URL, else the embedded "
        "default).",
    )
    parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"selfheal.kpi: {error}", file=sys.stderr)
        return 2
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
