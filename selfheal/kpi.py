"""The executive page: the daily metrics trend (spend, conversions, cpa) over the last 30 days.

`selfheal kpi` (or `python -m selfheal.kpi`) writes `reports/exec/kpi_YYYY-MM-DD.md` and the chart beside it
(`kpi_YYYY-MM-DD.svg`, drawn here: no plotting dependency). It reads the target read-only.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path

import psycopg

from selfheal.core.db import DatabaseUnreachable, connect_target
from selfheal.core.files import write_atomic
from selfheal.core.settings import Settings, SettingsError
from selfheal.core.target import target_database

DAYS = 30

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


def daily_trend(conn: psycopg.Connection, last_day: date, days: int = DAYS) -> list[DayKpi]:
    """One entry per day from `last_day - days + 1` to `last_day`, zero where nothing was loaded."""
    first = last_day - timedelta(days=days - 1)
    rows = conn.execute(TREND, {"first": first, "last": last_day}).fetchall()
    return [DayKpi(day, Decimal(spend), int(conversions)) for day, spend, conversions in rows]


# --- the chart: three panels sharing the day axis -----------------------------------------
WIDTH, PANEL, GAP, LEFT, RIGHT, TOP = 760, 150, 40, 70, 20, 50
# attribute, label, colour, number format of the axis
SERIES = (
    ("spend", "Spend", "#1f77b4", ",.2f"),
    ("conversions", "Conversions", "#2ca02c", ",.0f"),
    ("cpa", "CPA", "#d62728", ",.2f"),
)


def render_svg(trend: list[DayKpi]) -> str:
    height = TOP + len(SERIES) * (PANEL + GAP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="14">Daily metrics, last {len(trend)} days</text>',
    ]
    for index, (attribute, label, colour, number) in enumerate(SERIES):
        values = [getattr(day, attribute) for day in trend]
        parts += _panel(trend, values, (label, colour, number), TOP + index * (PANEL + GAP))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(trend: list[DayKpi], values: list, style: tuple[str, str, str], top: int) -> list[str]:
    label, colour, number = style
    known = [float(v) for v in values if v is not None]
    high = max(known, default=0.0) or 1.0
    plot_width = WIDTH - LEFT - RIGHT
    step = plot_width / max(len(trend) - 1, 1)
    bottom = top + PANEL

    def y(value: float) -> float:
        return bottom - value / high * PANEL

    parts = [
        f'<text x="{LEFT}" y="{top - 6}" font-weight="bold">{escape(label)}</text>',
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#999"/>',
        f'<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" stroke="#999"/>',
        f'<text x="{LEFT - 6}" y="{top + 4}" text-anchor="end">{high:{number}}</text>',
        f'<text x="{LEFT - 6}" y="{bottom}" text-anchor="end">0</text>',
    ]
    if trend:
        parts.append(f'<text x="{LEFT}" y="{bottom + 14}">{trend[0].day:%b %d}</text>')
        parts.append(
            f'<text x="{WIDTH - RIGHT}" y="{bottom + 14}" text-anchor="end">{trend[-1].day:%b %d}</text>'
        )
    # A gap (no cpa on a day without conversions) breaks the line rather than dropping to 0.
    segment: list[str] = []
    for i, value in enumerate([*values, None]):
        if value is not None:
            segment.append(f"{LEFT + i * step:.1f},{y(float(value)):.1f}")
            continue
        if segment:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(segment)}"/>'
            )
        segment = []
    return parts


# --- the page ------------------------------------------------------------------------------
def render_page(trend: list[DayKpi], chart_name: str, generated: datetime) -> str:
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
        "| day | spend | conversions | cpa |",
        "| --- | ---: | ---: | ---: |",
    ]
    for d in reversed(trend):
        day_cpa = f"{d.cpa:,.2f}" if d.cpa is not None else "n/a"
        lines.append(f"| {d.day} | {d.spend:,.2f} | {d.conversions:,} | {day_cpa} |")
    return "\n".join(lines) + "\n"


def write_kpi_page(conn: psycopg.Connection, reports_dir: Path, now: datetime) -> Path:
    """Write the chart and the page for the 30 days ending `now`'s date; returns the page."""
    trend = daily_trend(conn, now.date())
    stem = f"kpi_{now:%Y-%m-%d}"
    exec_dir = reports_dir / "exec"
    write_atomic(exec_dir / f"{stem}.svg", render_svg(trend))
    page = exec_dir / f"{stem}.md"
    write_atomic(page, render_page(trend, f"{stem}.svg", now))
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


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"selfheal.kpi: {error}", file=sys.stderr)
        return 2
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
