"""Robust baselines of the anomaly rule kinds (median and MAD): pure functions, no database.

Volume: the judged day's expected rows are the median of the same weekday over the last `weeks`
weeks, times the recent level (the median ratio of the last `recent_days` days to their own
weekday medians); the band is `sensitivity` robust standard deviations of those ratios (at least
`min_relative_spread`, and at least Poisson noise for small counts) either side.

Freshness: the longest silence a day usually has is the median of each day's longest gap between
arrivals; the band's top is `sensitivity` robust standard deviations above it (at least
`min_relative_spread` of it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median

MAD_TO_SIGMA = 1.4826  # MAD * this estimates the standard deviation of normal noise
MIN_SAME_WEEKDAYS = 3  # a weekday's median needs this many samples (2 would be their mean)


@dataclass(frozen=True)
class Band:
    expected: float
    low: float
    high: float
    basis: str  # what the baseline was made of, for the message

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class VolumeSettings:
    weeks: int = 6  # same-weekday samples
    recent_days: int = 14  # days whose ratio to their own weekday gives the level and the noise
    min_history: int = 14  # days with rows before judging
    sensitivity: float = 4.0  # band half-width in robust standard deviations
    min_relative_spread: float = 0.05

    @property
    def lookback(self) -> int:
        return self.recent_days + 7 * self.weeks


def mad(values: Sequence[float]) -> float:
    centre = median(values)
    return median(abs(v - centre) for v in values)


def _weekday_median(counts: Mapping[int, float], age: int, weeks: int) -> float | None:
    same = [counts[age + 7 * k] for k in range(1, weeks + 1) if age + 7 * k in counts]
    return median(same) if len(same) >= MIN_SAME_WEEKDAYS else None


def volume_band(counts: Mapping[int, float], s: VolumeSettings) -> Band | None:
    """The expected count of day 0 from `counts` (age in days -> count; missing days absent),
    or None while the history is too short to judge."""
    history = {age: n for age, n in counts.items() if 1 <= age <= s.lookback}
    seasonal = _weekday_median(history, 0, s.weeks)
    if len(history) < s.min_history or seasonal is None:
        return None
    ratios = []
    for age in range(1, s.recent_days + 1):
        own = _weekday_median(history, age, s.weeks)
        if age in history and own:
            ratios.append(history[age] / own)
    level = median(ratios) if len(ratios) >= 3 else 1.0
    spread = MAD_TO_SIGMA * mad(ratios) if len(ratios) >= 3 else 0.0
    expected = seasonal * level
    relative = max(spread, s.min_relative_spread)
    half = s.sensitivity * max(relative * expected, math.sqrt(expected))
    weekdays = sum(1 for k in range(1, s.weeks + 1) if 7 * k in history)
    basis = f"median of the last {weekdays} same weekdays x the recent level {level:.2f}"
    return Band(expected, max(0.0, expected - half), expected + half, basis)


@dataclass(frozen=True)
class FreshnessSettings:
    lookback_days: int = 28
    min_history: int = 7  # days with arrivals before judging
    sensitivity: float = 4.0
    min_relative_spread: float = 0.1


def freshness_band(longest_gaps: Sequence[float], s: FreshnessSettings) -> Band | None:
    """The longest silence (seconds) a day usually has, from each day's longest gap between
    arrivals; None while fewer than `min_history` days had arrivals."""
    if len(longest_gaps) < s.min_history:
        return None
    typical = median(longest_gaps)
    spread = max(MAD_TO_SIGMA * mad(longest_gaps), s.min_relative_spread * typical)
    return Band(typical, 0.0, typical + s.sensitivity * spread, f"{len(longest_gaps)} days")
