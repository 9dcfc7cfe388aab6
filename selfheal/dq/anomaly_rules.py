"""The anomaly rule kinds: `volume_anomaly` and `freshness_anomaly`, judged against the table's
own recent past (robust baselines in selfheal.dq.anomaly).

Each contributes to its table's fused scan one aggregate wrapping a scalar subquery (computed
once, as an InitPlan) that reads only the lookback window of its column: per local day, the rows
that arrived (volume) or the longest silence between arrivals (freshness). Until the window holds
`min_history` days, the rule passes and says it has not judged yet. A verdict outside the band
is a warning (`severity = "error"` fails instead); the message shows the band and the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from psycopg import sql

from selfheal.dq.anomaly import FreshnessSettings, VolumeSettings, freshness_band, volume_band
from selfheal.dq.durations import format_duration
from selfheal.dq.rules import Aggregate, Rule, Scope, Verdict, as_instant, ident, show_instant

if TYPE_CHECKING:
    from selfheal.dq.catalog import TableInfo

DAYS = {"today": 0, "yesterday": 1}  # the judged day: how many days before today


def _instant(column: str) -> sql.Composable:
    """The column as an instant: a date is its midnight in the session's (configured) zone."""
    return sql.SQL("({})::timestamptz").format(ident(column))


@dataclass(frozen=True, kw_only=True)
class VolumeAnomaly(Rule):
    """Rows per local day of `column` against the same weekdays and the recent level."""

    kind: ClassVar[str] = "volume_anomaly"
    column: str
    day: str = "today"  # today: so far, against the same hours of past days; yesterday: whole
    settings: VolumeSettings = field(default_factory=VolumeSettings)

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def _per_day(self) -> sql.Composable:
        instant = _instant(self.column)
        counted = sql.SQL("count(*)")
        if self.day == "today":
            counted = sql.SQL("count(*) FILTER (WHERE {}::time <= localtime)").format(instant)
        return sql.SQL(
            "(SELECT array_agg(ARRAY[age, n] ORDER BY age) FROM ("
            "SELECT current_date - {instant}::date AS age, {counted} AS n FROM {table} "
            "WHERE {scope} AND {instant} >= current_date - {lookback} "
            "AND {instant} < current_date + 1 GROUP BY 1) AS per_day)"
        ).format(
            instant=instant,
            counted=counted,
            table=self.table.identifier,
            scope=self.scope(),
            lookback=sql.Literal(self.settings.lookback + DAYS[self.day]),
        )

    def aggregates(self, info: TableInfo) -> list[Aggregate]:
        return [Aggregate(sql.SQL("max({})").format(self._per_day()))]

    def judge(self, values: Sequence, scope: Scope) -> Verdict:
        offset = DAYS[self.day]
        counts = {age - offset: n for age, n in (values[0] or ()) if age >= offset}
        observed = counts.pop(0, 0)
        band = volume_band(counts, self.settings)
        day = (
            scope.now.date()
            if offset == 0
            else scope.now.date().fromordinal(scope.now.date().toordinal() - offset)
        )
        what = f"{self.column} on {day:%a %Y-%m-%d}" + (" so far" if offset == 0 else "")
        if band is None:
            return Verdict(
                "pass",
                f"not judged yet: {len(counts)} day(s) with rows in the last "
                f"{self.settings.lookback} days, {self.settings.min_history} needed "
                f"({observed} rows by {what})",
            )
        message = (
            f"{observed} rows by {what}; expected {band.low:.0f} to {band.high:.0f} "
            f"(about {band.expected:.0f}: {band.basis})"
        )
        return Verdict("pass" if band.holds(observed) else self.policy.failing_status, message)


@dataclass(frozen=True, kw_only=True)
class FreshnessAnomaly(Rule):
    """Time since the newest `column` against the longest silence a day usually has."""

    kind: ClassVar[str] = "freshness_anomaly"
    column: str
    settings: FreshnessSettings = field(default_factory=FreshnessSettings)

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def _longest_gaps(self) -> sql.Composable:
        instant = _instant(self.column)
        return sql.SQL(
            "(SELECT array_agg(gap ORDER BY day) FROM ("
            "SELECT at::date AS day, max(extract(epoch FROM at - before)) AS gap FROM ("
            "SELECT at, lag(at) OVER (ORDER BY at) AS before FROM ("
            "SELECT DISTINCT {instant} AS at FROM {table} WHERE {scope} "
            "AND {instant} >= now() - {lookback}) AS arrivals) AS gaps "
            "WHERE before IS NOT NULL GROUP BY 1) AS per_day)"
        ).format(
            instant=instant,
            table=self.table.identifier,
            scope=self.scope(),
            lookback=sql.Literal(timedelta(days=self.settings.lookback_days)),
        )

    def aggregates(self, info: TableInfo) -> list[Aggregate]:
        return [
            Aggregate(sql.SQL("max({})").format(ident(self.column))),
            Aggregate(sql.SQL("max({})").format(self._longest_gaps())),
        ]

    def offending(self, scope: sql.Composable) -> sql.Composable:
        return sql.SQL("true")  # when late, show the newest rows

    def sample_order(self) -> list[sql.Composable]:
        return [sql.SQL("{} DESC NULLS LAST").format(ident(self.column))]

    def judge(self, values: Sequence, scope: Scope) -> Verdict:
        newest, gaps = values[0], [float(g) for g in values[1] or ()]
        band = freshness_band(gaps, self.settings)
        if newest is None:
            return Verdict("pass", f"not judged yet: no {self.column} value in scope")
        latest = as_instant(newest, scope.zone)
        age = scope.now - latest
        observed = (
            f"latest {self.column} {show_instant(latest, scope.zone)} is {format_duration(age)} old"
        )
        if band is None:
            return Verdict(
                "pass",
                f"not judged yet: {len(gaps)} day(s) with arrivals in the last "
                f"{self.settings.lookback_days} days, {self.settings.min_history} needed; {observed}",
            )
        message = (
            f"{observed}; expected at most {_seconds(band.high)} "
            f"(the longest silence of a day is usually {_seconds(band.expected)}, over {band.basis})"
        )
        late = age.total_seconds() > band.high
        return Verdict(self.policy.failing_status if late else "pass", message)


def _seconds(value: float) -> str:
    return format_duration(timedelta(seconds=round(value)))


ANOMALY_KINDS: dict[str, type[Rule]] = {
    kind.kind: kind for kind in (VolumeAnomaly, FreshnessAnomaly)
}
