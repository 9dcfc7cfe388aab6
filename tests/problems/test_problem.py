"""The Problem record: codes, quoting as the server quotes, round trips through plain JSON."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.core.identifiers import (
    RESERVED_KEYWORDS,
    IdentifierSyntaxError,
    qualified,
    quote_ident,
    split_qualified,
)
from selfheal.dq.config import load_suite
from selfheal.dq.runner import CheckResult, QueryRecord
from selfheal.run.findings import dq_problem
from selfheal.run.problem import (
    FAMILIES,
    Evidence,
    Heal,
    Problem,
    Query,
    Severity,
    fingerprint_of,
)

# Names PostgreSQL can hold: no NUL; the server truncates past 63 bytes, so stay below.
NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)
KEYWORDISH = st.sampled_from(sorted(RESERVED_KEYWORDS) + ["abort", "name", "user_id", "Select"])


@pytest.fixture(scope="module")
def server(pg_server) -> psycopg.Connection:
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        yield conn


@settings(max_examples=300, deadline=None)
@given(name=st.one_of(NAMES, KEYWORDISH))
def test_quote_ident_quotes_as_the_server_does(server: psycopg.Connection, name: str) -> None:
    assert quote_ident(name) == server.execute("SELECT quote_ident(%s)", (name,)).fetchone()[0]


def test_the_keywords_are_the_servers(server: psycopg.Connection) -> None:
    rows = server.execute("SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'").fetchall()
    assert {word for (word,) in rows} == RESERVED_KEYWORDS


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.one_of(NAMES, KEYWORDISH), min_size=1, max_size=4))
def test_a_qualified_name_splits_back_into_its_parts(parts: list[str]) -> None:
    assert split_qualified(qualified(*parts)) == parts


@pytest.mark.parametrize("text", ['"open', "a..b", "a.", "Upper.x", 'a"b', "select.x", ""])
def test_text_no_quoting_writes_is_refused(text: str) -> None:
    with pytest.raises(IdentifierSyntaxError):
        split_qualified(text)


@pytest.mark.parametrize("code", ["freshness", "dq.", "nosuch.family", "DQ.x", "dq freshness"])
def test_a_code_is_family_dot_name(code: str) -> None:
    with pytest.raises(ValueError, match="is not <family>.<name>"):
        Problem(code, "public.events", "m")


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
PROBLEMS = st.builds(
    Problem,
    code=st.sampled_from(sorted(FAMILIES)).map(lambda family: f"{family}.some_thing"),
    object=st.text(max_size=30),
    message=st.text(max_size=80),
    severity=st.sampled_from(list(Severity)),
    remediation=st.text(max_size=30),
    evidence=st.builds(
        Evidence,
        offending=st.none() | st.integers(min_value=0),
        samples=st.lists(
            st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3), max_size=3
        ).map(tuple),
        queries=st.lists(
            st.builds(Query, st.text(max_size=20), st.floats(0, 10), st.integers(0, 9)),
            max_size=2,
        ).map(tuple),
        expected=st.text(max_size=10),
        found=st.text(max_size=10),
        seconds=st.none() | st.floats(0, 100),
    ),
)


@settings(max_examples=100, deadline=None)
@given(problem=PROBLEMS)
def test_a_problem_survives_plain_json(problem: Problem) -> None:
    """user_properties cross process boundaries under xdist: plain JSON types only."""
    record = json.loads(json.dumps(problem.to_dict()))
    assert Problem.from_dict(record) == problem
    assert problem.fingerprint == fingerprint_of(problem.code, problem.object)


def test_a_heal_survives_plain_json_and_shares_the_problems_identity() -> None:
    problem = Problem("schema.missing", "public.events", "gone")
    heal = Heal(problem.code, problem.object, "n::t", "schema", "apply the delta", "planned")
    assert Heal.from_dict(json.loads(json.dumps(heal.to_dict()))) == heal
    assert heal.fingerprint == problem.fingerprint


def _suite(tmp_path: Path, rules: str):
    (tmp_path / "dq").mkdir(parents=True)
    (tmp_path / "dq" / "t.toml").write_text(rules)
    return load_suite(tmp_path / "dq")


def test_renaming_a_rule_keeps_its_problem(tmp_path: Path) -> None:
    """A rule's `name` changes its id (and its test's node id), never its problem's identity."""
    plain = _suite(tmp_path / "a", 'table = "events"\n[not_null]\ncolumn = "user_id"\n')
    named = _suite(
        tmp_path / "b", 'table = "events"\n[not_null]\ncolumn = "user_id"\nname = "owner"\n'
    )
    (before,), (after,) = plain.rules, named.rules
    assert before.id != after.id
    failing = CheckResult("x", "fail", "2 rows", 2, queries=[QueryRecord("SELECT 1", 0.5, 1)])
    problems = [dq_problem(rule, failing, "2 rows") for rule in (before, after)]
    assert problems[0].identity == problems[1].identity == ("dq.not_null", "public.events.user_id")
    assert problems[0].evidence.queries == (Query("SELECT 1", 0.5, 1),)
