"""Daily charts drawn with matplotlib, written as SVG: one panel per series, sharing the day axis.

Each panel has its series' name and unit on the y-axis, gridlines, and the days on the x-axis
(matplotlib's concise date labels). A day without a value (no CPA on a day without conversions)
breaks the line instead of dropping it to zero; a partial day (still running, or the first one
loaded) is shaded and its point hollow, so a half day does not read as a plunge. Text stays text
in the SVG (searchable, selectable). Figures are built on matplotlib's object API (no pyplot, no
global state), so they are safe in a long-lived process.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import matplotlib
from matplotlib import dates as mdates
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

COLOURS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e")
_HALF_DAY = timedelta(hours=12)


@dataclass(frozen=True)
class Series:
    name: str  # "Spend"
    unit: str  # "currency units", "per day", ...
    values: Sequence[float | None]  # one per day; None: no value that day
    decimals: int = 0  # of the y-axis labels


def daily_figure(
    title: str,
    days: Sequence[date],
    series: Sequence[Series],
    partial: frozenset[date] = frozenset(),
    zone: str = "",
) -> Figure:
    """The figure: a panel per series over `days`; `partial` days shaded and hollow."""
    figure = Figure(figsize=(9, 1.2 + 2.3 * len(series)), layout="constrained")
    axes = figure.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for index, (ax, one) in enumerate(zip(axes, series, strict=True)):
        colour = COLOURS[index % len(COLOURS)]
        values = [math.nan if v is None else float(v) for v in one.values]
        (line,) = ax.plot(
            days, values, color=colour, marker="o", markersize=4, linewidth=2, label=one.name
        )
        line.set_gid(f"series-{one.name}")  # the SVG group of the series' line
        hollow = [(d, v) for d, v in zip(days, values, strict=True) if d in partial]
        if hollow:
            xs, ys = zip(*hollow, strict=True)
            ax.plot(
                xs,
                ys,
                linestyle="none",
                marker="o",
                markersize=7,
                color=colour,
                markerfacecolor="white",
                label="partial day",
            )
        for day in partial:
            ax.axvspan(day - _HALF_DAY, day + _HALF_DAY, color="#999999", alpha=0.15, linewidth=0)
        ax.set_ylabel(f"{one.name}\n({one.unit})")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(_number(one.decimals)))
        ax.grid(True, color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
        if hollow:
            ax.legend(loc="upper left", fontsize="small", frameon=False)
    locator = mdates.AutoDateLocator(minticks=5, maxticks=10)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes[-1].set_xlabel(f"day ({zone})" if zone else "day")
    if days:
        axes[-1].set_xlim(days[0] - _HALF_DAY, days[-1] + _HALF_DAY)
    figure.suptitle(title)
    return figure


def _number(decimals: int):
    return lambda value, _position: f"{value:,.{decimals}f}"


def to_svg(figure: Figure) -> str:
    """The figure as SVG text, its text kept as text and without a creation date."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "selfheal"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
