"""Strict JSON: an object repeating a member is detected wherever it sits, and kept whole."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl import sources, strict_json
from etl.http import SourceError
from etl.validate import validate

names = st.text(max_size=4)
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=6)
# A JSON object as its list of members, which may repeat a name; nested objects too.
members = st.recursive(
    scalars.map(json.dumps),
    lambda inner: (
        st.lists(st.tuples(names, inner), max_size=4).map(
            lambda pairs: "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"
        )
        | st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
    ),
    max_leaves=10,
)


def _pairs(text: str) -> object:
    """The document with every object as its list of (name, value) pairs, sorted by name."""
    return json.loads(
        text, object_pairs_hook=lambda pairs: ("object", sorted(pairs, key=lambda p: p[0]))
    )


def _repeats(text: str) -> bool:
    found = []
    json.loads(text, object_pairs_hook=lambda p: found.append(len(p) != len(dict(p))) or {})
    return any(found)


@given(document=members)
def test_repeated_members_are_found_and_dumps_keeps_every_member(document):
    value = strict_json.loads(document)
    assert bool(strict_json.repeated_members(value)) == _repeats(document)
    assert _pairs(strict_json.dumps(value)) == _pairs(document)


@given(document=members)
def test_a_row_with_a_repeated_member_is_quarantined_never_loaded(document):
    value = strict_json.loads(document)
    checked = validate("events", [value])
    assert checked.read == 1
    if strict_json.repeated_members(value):
        assert checked.rows == [] and len(checked.rejected) == 1
        if isinstance(value, dict):
            assert "repeats member" in checked.rejected[0].reason


def test_the_first_of_two_data_members_is_not_silently_dropped():
    body = strict_json.loads('{"data": [1, 2], "data": [3]}')
    assert body == {"data": [3]}  # as json.loads would have it...
    assert body.repeated == ["data"]  # ...but the repetition is known
    assert strict_json.dumps(body) == '{"data": [1, 2], "data": [3]}'


def test_pages_told_apart_only_by_a_repeated_member_are_not_a_repeated_page():
    pages = sources._Pages("/v1/ad-stats")
    pages.add(strict_json.loads('[{"k": 1, "k": 2}]'), lambda rows: None)
    pages.add(strict_json.loads('[{"k": 3, "k": 2}]'), lambda rows: None)
    with pytest.raises(SourceError, match="page 3 repeats page 2"):
        pages.add(strict_json.loads('[{"k": 3, "k": 2}]'), lambda rows: None)
