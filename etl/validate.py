"""Row validation: each payload becomes a typed row in its table's column order, or a rejection.

A rejected payload keeps its raw JSON (every member, a repeated one too) and the reason, for
`etl_quarantine`. Besides malformed fields, a payload is rejected when an object in it repeats a
member (which value is meant is ambiguous) or when it is dated later than `not_after` (in the
future: it must not move the watermark). Rows repeating a key (duplicates across pages) are
collapsed, the last one winning, and counted.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from psycopg.types.json import Jsonb

from etl import strict_json
from etl.contracts import EVENTS_TABLE, SOURCE_A_TABLE, SOURCE_B_TABLE, TableSpec

MAX_SPEND_DECIMALS = 4
MAX_BIGINT = 2**63 - 1
MAX_OFFSET = timedelta(hours=15, minutes=59, seconds=59)  # timestamptz input accepts no more


class Invalid(ValueError):
    """Why a payload was rejected."""


@dataclass(frozen=True)
class Rejected:
    raw_payload: str
    reason: str


@dataclass
class Validated:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: int = 0

    @property
    def read(self) -> int:
        return len(self.rows) + len(self.rejected) + self.duplicates


def _field(payload: dict[str, Any], name: str) -> Any:
    if payload.get(name) is None:
        raise Invalid(f"missing field {name!r}")
    return payload[name]


def _storable(text: str) -> bool:
    """PostgreSQL text holds valid UTF-8 without NUL characters."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _storable_json(value: Any) -> bool:
    """jsonb takes no NUL (not even escaped), no invalid Unicode, no NaN or infinity."""
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable_json(item) for item in value)
    return True


def _text(payload: dict[str, Any], name: str) -> str:
    value = _field(payload, name)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{name!r} must be a non-empty string, got {value!r}")
    if not _storable(value):
        raise Invalid(f"{name!r} holds a NUL or an invalid Unicode character: {value!r}")
    return value


def _count(payload: dict[str, Any], name: str) -> int:
    value = _field(payload, name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BIGINT:
        raise Invalid(f"{name!r} must be a non-negative 64-bit integer, got {value!r}")
    return value


def _instant(payload: dict[str, Any], name: str) -> datetime:
    value = _text(payload, name)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name!r} is not an ISO 8601 instant: {value!r}") from None
    if moment.tzinfo is None:
        raise Invalid(f"{name!r} has no UTC offset: {value!r}")
    if abs(moment.utcoffset()) > MAX_OFFSET:
        # Python reads offsets up to 23:59; PostgreSQL refuses beyond 15:59 (a whole load with it).
        raise Invalid(f"{name!r} has a UTC offset beyond +-15:59: {value!r}")
    return moment


def _day(payload: dict[str, Any], name: str) -> date:
    value = _text(payload, name)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name!r} is not a date (YYYY-MM-DD): {value!r}") from None


def _money(payload: dict[str, Any], name: str) -> Decimal:
    value = _field(payload, name)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(f"{name!r} must be a number, got {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise Invalid(f"{name!r} must be a number, got {value!r}") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 14:
        raise Invalid(f"{name!r} is out of range: {value!r}")
    if -amount.as_tuple().exponent > MAX_SPEND_DECIMALS:
        raise Invalid(f"{name!r} has more than {MAX_SPEND_DECIMALS} decimals: {value!r}")
    return amount


def source_a_row(p: dict[str, Any]) -> tuple[Any, ...]:
    row = (
        _day(p, "date"),
        _text(p, "campaign_id"),
        _text(p, "ad_id"),
        _count(p, "impressions"),
        _count(p, "clicks"),
        _money(p, "spend"),
        _text(p, "currency"),
    )
    if len(row[-1]) != 3 or not row[-1].isascii() or not row[-1].isupper():
        raise Invalid(f"'currency' must be a 3-letter ISO code, got {row[-1]!r}")
    return row


def source_b_row(p: dict[str, Any]) -> tuple[Any, ...]:
    hour = _instant(p, "hour")
    if (hour.minute, hour.second, hour.microsecond) != (0, 0, 0) or hour.utcoffset().seconds:
        raise Invalid(f"'hour' is not the start of a UTC hour: {p['hour']!r}")
    return (
        hour,
        _text(p, "campaign"),
        _text(p, "creative"),
        _count(p, "impressions"),
        _count(p, "clicks"),
        _count(p, "cost_micros"),
    )


def event_row(p: dict[str, Any]) -> tuple[Any, ...]:
    user_text = _text(p, "user_id")
    try:
        user = uuid.UUID(user_text)
    except ValueError:
        raise Invalid(f"'user_id' is not a UUID: {user_text!r}") from None
    properties = p.get("properties", {})
    if not isinstance(properties, dict):
        raise Invalid(f"'properties' must be an object, got {properties!r}")
    if not _storable_json(properties):
        raise Invalid(
            "'properties' holds a NUL, an invalid Unicode character or a non-finite number"
        )
    return (
        _text(p, "event_id"),
        user,
        _text(p, "event_name"),
        _instant(p, "occurred_at"),
        _instant(p, "received_at"),
        Jsonb(properties),
    )


ROW_BUILDERS: dict[str, tuple[TableSpec, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {
    "source_a": (SOURCE_A_TABLE, source_a_row),
    "source_b": (SOURCE_B_TABLE, source_b_row),
    "events": (EVENTS_TABLE, event_row),
}


# The dated fields of each source's row: (column index, payload field); none may be in the future.
DATED: dict[str, tuple[tuple[int, str], ...]] = {
    "source_a": ((0, "date"),),
    "source_b": ((0, "hour"),),
    "events": ((3, "occurred_at"), (4, "received_at")),
}


def _not_in_future(source: str, row: tuple[Any, ...], not_after: datetime, zone: tzinfo) -> None:
    for index, name in DATED[source]:
        value = row[index]
        late = (
            value > not_after if isinstance(value, datetime) else value > _day_of(not_after, zone)
        )
        if late:
            raise Invalid(f"{name!r} is in the future: {value.isoformat()}")


def _day_of(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()


def _row(source: str, payload: Any, not_after: datetime | None, zone: tzinfo) -> tuple[Any, ...]:
    """The typed row of one payload; raises Invalid with the reason."""
    if not isinstance(payload, dict):
        raise Invalid(f"a row must be a JSON object, got {type(payload).__name__}")
    repeated = strict_json.repeated_members(payload)
    if repeated:
        raise Invalid(f"an object repeats member {', '.join(repr(n) for n in repeated)}")
    row = ROW_BUILDERS[source][1](payload)
    if not_after is not None:
        _not_in_future(source, row, not_after, zone)
    return row


def validate(
    source: str,
    payloads: Iterable[Any],
    not_after: datetime | None = None,
    zone: tzinfo = UTC,
) -> Validated:
    """Typed rows (unique by key, last wins), rejections with reasons, and the duplicate count.

    With `not_after`, rows dated later are rejected as in the future (source A's days compare
    with the day of `not_after` in `zone`).
    """
    key_width = len(ROW_BUILDERS[source][0].key)
    result = Validated()
    by_key: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for payload in payloads:
        try:
            row = _row(source, payload, not_after, zone)
        except Invalid as error:
            result.rejected.append(Rejected(_raw(payload), str(error)))
            continue
        except RecursionError:
            result.rejected.append(Rejected(_raw(payload), "nested too deeply to check"))
            continue
        key = row[:key_width]
        if key in by_key:
            result.duplicates += 1
        by_key[key] = row
    result.rows = list(by_key.values())
    return result


def _raw(payload: Any) -> str:
    try:
        return strict_json.dumps(payload)
    except RecursionError:
        return f"(a payload nested too deeply to serialise: {type(payload).__name__})"
