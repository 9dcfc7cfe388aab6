"""Human durations in rule files: `26h`, `90m`, `2d`, `1h30m`, `45s`, `1w`, `500ms`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[wdhms])")
_UNITS = {
    "w": "weeks",
    "d": "days",
    "h": "hours",
    "m": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
}


def parse_duration(text: str) -> timedelta:
    """The timedelta of `text`; ValueError with an example when it is not a duration."""
    compact = text.replace(" ", "") if isinstance(text, str) else ""
    parts = _PART.findall(compact)
    if not parts or "".join(number + unit for number, unit in parts) != compact:
        raise ValueError(f"bad duration {text!r} (use e.g. 26h, 90m, 2d, 1h30m, 45s)")
    return sum((timedelta(**{_UNITS[unit]: float(number)}) for number, unit in parts), timedelta())


def format_duration(delta: timedelta) -> str:
    """`1d 3h 5m` style, to the minute (seconds only under a minute)."""
    seconds = int(delta.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    if seconds < 60:
        return f"{sign}{seconds}s"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    shown = [
        f"{value}{unit}" for value, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if value
    ]
    return sign + " ".join(shown)
