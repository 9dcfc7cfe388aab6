"""The anomaly rule kinds: their baselines on generated series, and the rules on a real table.

The series have weekly seasonality, multiplicative noise, a slow trend and missing days; spikes
and drops are injected on random days (earlier ones stay in the history a later day is judged
against). Freshness is judged on arrival times of daily batches, hourly loads and a stream with
quiet nights, some of which stop (late arrivals). Precision and recall are printed; the goal is
0.9 each. No day is judged before the minimum history.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.dq.anomaly import FreshnessSettings, VolumeSettings, freshness_band, volume_band
from tests.dq.conftest import RunChecks, execute

HOUR = 3600.0
DAY = 24 * HOUR
SERIES = 150


@dataclass
class Tally:
    hits: int = 0
    false_alarms: int = 0
    misses: int = 0
    judged: int = 0

    def add(self, anomalous: bool, flagged: bool) -> None:
        self.judged += 1
        self.hits += anomalous and flagged
        self.false_alarms += flagged and not anomalous
        self.misses += anomalous and not flagged

    @property
    def precision(self) -> float:
        return self.hits / (self.hits + self.false_alarms)

    @property
    def recall(self) -> float:
        return self.hits / (self.hits + self.misses)


def _volume_series(rng: random.Random, days: int) -> tuple[dict[int, int], set[int]]:
    """Day -> rows (missing days absent), and the days given a spike or a drop."""
    base = rng.choice([40, 300, 2_000, 50_000])
    weekly = [1.0, 1.05, 1.1, 1.0, 0.95, 0.55, 0.45]
    rng.shuffle(weekly)
    noise, trend = rng.uniform(0.03, 0.12), rng.uniform(-0.004, 0.004)
    counts, anomalies = {}, set()
    for day in range(days):
        if rng.random() < 0.08:
            continue  # no rows arrived: a missing day
        mean = base * weekly[day % 7] * (1 + trend) ** day
        count = max(0.0, rng.gauss(mean, noise * mean))
        if day >= 10 and rng.random() < 0.12:
            anomalies.add(day)
            spike = rng.random() < 0.5
            count *= rng.uniform(2.0, 4.0) if spike else rng.uniform(0.0, 0.4)
        counts[day] = round(count)
    return counts, anomalies


def test_volume_baseline_finds_spikes_and_drops() -> None:
    rng, tally, s = random.Random(20261201), Tally(), VolumeSettings()
    for _ in range(SERIES):
        counts, anomalies = _volume_series(rng, 90)
        for day in sorted(counts):
            history = {day - d: n for d, n in counts.items() if d < day}
            band = volume_band(history, s)
            if band is not None:
                tally.add(day in anomalies, not band.holds(counts[day]))
    print(f"volume_anomaly: precision {tally.precision:.3f}, recall {tally.recall:.3f}")
    assert tally.precision >= 0.9 and tally.recall >= 0.9


def _arrivals(rng: random.Random, kind: str, days: int) -> list[float]:
    times: list[float] = []
    for day in range(days):
        start = day * DAY
        if kind == "daily":
            times.append(start + 3 * HOUR + rng.gauss(0, 0.3 * HOUR))
        elif kind == "hourly":
            times += [start + hour * HOUR + rng.uniform(0, 600) for hour in range(24)]
        else:  # a stream that is quiet at night
            at = start + 7 * HOUR
            while at < start + 23 * HOUR:
                times.append(at)
                at += rng.expovariate(1 / 120)
    return sorted(times)


def _longest_gaps(times: list[float]) -> list[float]:
    """Per day, the longest silence that ended that day (what the rule's SQL computes)."""
    longest: dict[int, float] = {}
    for before, at in zip(times, times[1:], strict=False):
        longest[int(at // DAY)] = max(longest.get(int(at // DAY), 0.0), at - before)
    return list(longest.values())


USUAL_SILENCE = {"daily": DAY, "hourly": HOUR, "stream": 8 * HOUR}


def test_freshness_baseline_finds_late_arrivals() -> None:
    rng, tally, s = random.Random(7), Tally(), FreshnessSettings()
    for _ in range(SERIES):
        kind = rng.choice(list(USUAL_SILENCE))
        times = _arrivals(rng, kind, 45)
        for _ in range(20):
            now = rng.uniform(10 * DAY, 45 * DAY)
            late = rng.random() < 0.2
            stop = now - USUAL_SILENCE[kind] * rng.uniform(1.5, 3.0) if late else now
            seen = [t for t in times if t <= stop and t >= now - s.lookback_days * DAY]
            band = freshness_band(_longest_gaps(seen), s)
            if band is not None and seen:
                tally.add(late, not band.holds(now - seen[-1]))
    print(f"freshness_anomaly: precision {tally.precision:.3f}, recall {tally.recall:.3f}")
    assert tally.precision >= 0.9 and tally.recall >= 0.9


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.integers(1, 60), st.integers(0, 10_000), max_size=60),
    st.integers(1, 60),
)
def test_no_volume_judgement_before_the_minimum_history(counts: dict, min_history: int) -> None:
    s = VolumeSettings(min_history=min_history)
    within = [age for age in counts if age <= s.lookback]
    band = volume_band(counts, s)
    if len(within) < min_history:
        assert band is None
    if band is not None:
        assert band.low <= band.expected <= band.high


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(1, 10 * DAY), max_size=40), st.integers(1, 30))
def test_no_freshness_judgement_before_the_minimum_history(gaps: list, min_history: int) -> None:
    band = freshness_band(gaps, FreshnessSettings(min_history=min_history))
    assert (band is None) == (len(gaps) < min_history)


# --- the rules on a real table (read-only runs) ------------------------------------------
RULES = """
table = "t"

[volume_anomaly]
column = "ts"
day = "yesterday"

[freshness_anomaly]
column = "ts"
"""


def _load_days(dsn: str, rows_per_day: dict[int, int], now: datetime) -> None:
    """`rows_per_day`: days before today -> rows, each day's rows arriving at 03:00 UTC."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    stamps = [
        midnight - timedelta(days=back) + timedelta(hours=3, seconds=i)
        for back, n in rows_per_day.items()
        for i in range(n)
    ]
    execute(
        dsn,
        "INSERT INTO t (id, ts) SELECT i, at FROM unnest(%s::timestamptz[]) WITH ORDINALITY "
        "AS u(at, i)",
        (stamps,),
    )


def test_a_short_history_is_not_judged(scratch_db: str, run_checks: RunChecks) -> None:
    _load_days(scratch_db, {1: 5, 2: 5, 3: 5}, datetime.now(UTC))
    results = run_checks(scratch_db, RULES)
    volume = results["t.volume_anomaly.ts"]
    assert volume.status == "pass" and "not judged yet" in volume.message


def test_a_drop_warns_showing_the_band_and_the_value(
    scratch_db: str, run_checks: RunChecks
) -> None:
    now = datetime.now(UTC)
    history = {back: 200 for back in range(2, 60)}
    history[1] = 30  # yesterday: a drop
    _load_days(scratch_db, history, now)
    results = run_checks(scratch_db, RULES)
    volume = results["t.volume_anomaly.ts"]
    assert volume.status == "warn", volume.message
    assert volume.message.startswith("30 rows by ts on ") and "expected" in volume.message


def test_severity_error_fails_and_a_late_source_is_seen(
    scratch_db: str, run_checks: RunChecks
) -> None:
    now = datetime.now(UTC)
    _load_days(scratch_db, {back: 4 for back in range(3, 30)}, now)  # nothing for two days
    results = run_checks(
        scratch_db, RULES.replace('column = "ts"\n', 'column = "ts"\nseverity = "error"\n', 2)
    )
    fresh = results["t.freshness_anomaly.ts"]
    assert fresh.status == "fail", fresh.message
    assert "expected at most" in fresh.message and "usually 23h" in fresh.message
