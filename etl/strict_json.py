"""JSON decoding that keeps what the standard library silently drops.

`json.loads` keeps the last of two members with the same name and discards the first. Here an
object that repeats a member decodes to `RepeatedMembers`: a dict (the last value wins, as usual)
that remembers every pair, so the caller can reject it and `dumps` can quarantine it whole.
"""

from __future__ import annotations

import json
from typing import Any


class RepeatedMembers(dict):
    """A JSON object that named a member more than once; `pairs` holds every (name, value)."""

    def __init__(self, pairs: list[tuple[str, Any]]):
        super().__init__(pairs)
        self.pairs = pairs

    @property
    def repeated(self) -> list[str]:
        names = [name for name, _ in self.pairs]
        return sorted({name for name in names if names.count(name) > 1})


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    return value if len(value) == len(pairs) else RepeatedMembers(pairs)


def loads(text: str | bytes) -> Any:
    """Decode JSON; objects repeating a member become `RepeatedMembers`. Raises ValueError."""
    return json.loads(text, object_pairs_hook=_object)


def repeated_members(value: Any) -> list[str]:
    """Names repeated by an object anywhere in `value` (nested objects and arrays included)."""
    found: set[str] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, RepeatedMembers):
            found.update(item.repeated)
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return sorted(found)


def dumps(value: Any) -> str:
    """Canonical JSON text (members sorted by name); a repeated member is written every time."""
    if not repeated_members(value):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, RepeatedMembers):
        pairs = sorted(value.pairs, key=lambda pair: pair[0])
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in pairs) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(value[k])}" for k in sorted(value)) + "}"
    return "[" + ", ".join(dumps(item) for item in value) + "]"
