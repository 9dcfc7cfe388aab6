"""Rule files: every mistake is one clear problem naming the file, the table and the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from selfheal.dq.config import ConfigError, load_suite
from selfheal.dq.durations import format_duration, parse_duration
from selfheal.dq.rules import Freshness, Unique
from tests.dq.conftest import RunChecks, execute

ROOT = Path(__file__).resolve().parents[2]


def load(tmp_path: Path, rules: str, sql: dict[str, str] | None = None):
    (tmp_path / "dq").mkdir(exist_ok=True)
    (tmp_path / "sql").mkdir(exist_ok=True)
    (tmp_path / "dq" / "t.toml").write_text(rules)
    for name, text in (sql or {}).items():
        (tmp_path / "sql" / name).write_text(text)
    return load_suite(tmp_path / "dq", tmp_path / "sql")


def problems(tmp_path: Path, rules: str, sql: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, rules, sql)
    return raised.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("26h", timedelta(hours=26)),
        ("90m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("1w", timedelta(days=7)),
        ("1.5h", timedelta(minutes=90)),
        ("0s", timedelta()),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["26", "26 hours", "h", "", "1x", "-2h", "2h-"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


def test_format_duration() -> None:
    assert format_duration(timedelta(hours=27, minutes=3, seconds=9)) == "1d 3h 3m"
    assert format_duration(timedelta(seconds=12)) == "12s"


def test_the_seeded_rules_load() -> None:
    suite = load_suite(ROOT / "checks" / "dq", ROOT / "checks" / "sql")
    ids = suite.ids()
    assert "events.not_null.user_id" in ids
    assert "events.unique.event_id" in ids
    assert "ads_source_a.sql.clicks_within_impressions" in ids
    tables = {rule.table.name for rule in suite.rules}
    assert tables == {
        "events",
        "ads_source_a",
        "ads_source_b",
        "daily_metrics",
        "etl_runs",
        "etl_quarantine",
    }
    assert {r.table.name for r in suite.rules if isinstance(r, Freshness)} >= {
        "events",
        "ads_source_a",
        "ads_source_b",
        "daily_metrics",
    }
    assert len(ids) == len(set(ids))


def test_rule_forms(tmp_path: Path) -> None:
    suite = load(
        tmp_path,
        """table = "t"
schema = "s"
[unique]
key = ["a", "b"]
[[not_null]]
columns = ["a", "b"]
[[not_null]]
name = "c_present"
column = "c"
""",
    )
    assert [rule.id for rule in suite.rules] == [
        "s.t.unique.a+b",
        "s.t.not_null.a",
        "s.t.not_null.b",
        "s.t.not_null.c_present",
    ]
    assert isinstance(suite.rules[0], Unique) and suite.rules[0].key == ("a", "b")


BAD = [
    ('[not_nul]\ncolumn = "k"', "t.toml: table t: not_nul: unknown rule or key"),
    ('[not_null]\ncolum = "k"', "t.toml: table t: not_null.colum: unknown key"),
    ('[not_null]\ncolumn = "k"\ncolumns = ["n"]', "table t: not_null: give exactly one of"),
    (
        '[freshness]\ncolumn = "ts"\nwarn_after = "26 hours"',
        "table t: freshness.warn_after: bad duration '26 hours'",
    ),
    (
        '[freshness]\ncolumn = "ts"\nwarn_after = "2d"\nerror_after = "1d"',
        "table t: freshness.warn_after: must be shorter than error_after",
    ),
    ('[freshness]\ncolumn = "ts"', "table t: freshness: give warn_after, error_after or both"),
    (
        '[freshness]\ncolumn = "ts"\nerror_after = "1d"\nmax_count = 1',
        "table t: freshness: freshness has no offending rows",
    ),
    ('[not_null]\ncolumn = "k"\nseverity = "fatal"', "table t: not_null.severity: expected one of"),
    (
        '[not_null]\ncolumn = "k"\nmax_count = 1\nmax_fraction = 0.1',
        "table t: not_null: give max_count or max_fraction, not both",
    ),
    (
        '[not_null]\ncolumn = "k"\nmax_fraction = 2',
        "not_null.max_fraction: must be between 0 and 1",
    ),
    ('[not_null]\ncolumn = "k"\nmax_count = true', "not_null.max_count: expected int, got True"),
    ('[[between]]\ncolumn = "n"\nmin = 5\nmax = 1', "table t: between[0].min: is greater than max"),
    ('[between]\ncolumn = "n"', "table t: between: give min, max or both"),
    (
        '[accepted_values]\ncolumn = "k"\nvalues = []',
        "accepted_values.values: expected a non-empty",
    ),
    ('[accepted_values]\ncolumn = "k"\nvalues = ["a", 1]', "accepted_values.values: mixes"),
    ('[references]\ncolumn = "ref"\nto_table = "parent"', "references.to_column: is required"),
    ("[row_count]\nmin = 5\nmax = 1", "table t: row_count.min: is greater than max"),
    ("[unique]\nkey = []", "table t: unique.key: expected a column name or a list"),
    (
        '[[not_null]]\ncolumn = "k"\n[[not_null]]\ncolumn = "k"',
        "not_null[1]: check id 't.not_null.k' is already used by",
    ),
    ('statement_timeout = "soon"', "t.toml: statement_timeout: bad duration 'soon'"),
    ("not_null = 3", "table t: not_null: expected a table [kind] or an array of tables"),
]


@pytest.mark.parametrize(("rules", "expected"), BAD)
def test_bad_rule_files(tmp_path: Path, rules: str, expected: str) -> None:
    found = problems(tmp_path, 'table = "t"\n' + rules)
    assert len(found) == 1, found
    assert expected in found[0]
    assert str(tmp_path / "dq" / "t.toml") in found[0]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        'table = "t"\n[not_nul]\ncolumn = "k"\n[freshness]\ncolumn = "x"\nerror_after = "2 days"',
    )
    assert len(found) == 2


def test_invalid_toml_and_missing_table(tmp_path: Path) -> None:
    assert "not valid TOML" in problems(tmp_path, "table = ")[0]
    mixed = problems(tmp_path, 'table = "t"\n[unique]\nkey = "a"\n[[unique]]\nkey = "b"')[0]
    assert "write [[kind]] each time" in mixed
    assert "t.toml: table: is required" in problems(tmp_path, '[not_null]\ncolumn = "k"')[0]


CUSTOM_BAD = [
    ("-- name: x\nSELECT 1", "header table: is required"),
    ("-- name: x y\n-- table: t\nSELECT 1", "header name: use letters, digits"),
    ("-- name: x\n-- table: t\n-- severity: loud\nSELECT 1", "header severity: expected one of"),
    ("-- name: x\n-- table: t\n-- owner: me\nSELECT 1", "header owner: unknown key"),
    ("-- name: x\n-- table: t\n", "the file has no query"),
]


@pytest.mark.parametrize(("text", "expected"), CUSTOM_BAD)
def test_bad_custom_sql_headers(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, 'table = "t"', {"bad.sql": text})
    assert len(found) == 1 and expected in found[0]
    assert str(tmp_path / "sql" / "bad.sql") in found[0]


LIVE_BAD = [
    (
        'table = "nope"\n[not_null]\ncolumn = "k"',
        "nope.not_null.k",
        "table nope: table: no table public.nope in the database",
    ),
    (
        'table = "t"\n[not_null]\ncolumns = ["k", "kk"]',
        "t.not_null.kk",
        "table t: not_null: unknown column 'kk' (columns: id, k, n, ts, d, name, ref)",
    ),
    (
        'table = "t"\n[references]\ncolumn = "ref"\nto_table = "nope"\nto_column = "id"',
        "t.references.ref",
        "table t: references.to_table: no table public.nope",
    ),
    (
        'table = "t"\n[references]\ncolumn = "ref"\nto_table = "parent"\nto_column = "pid"',
        "t.references.ref",
        "table t: references.to_column: unknown column 'pid' in public.parent",
    ),
    (
        'table = "t"\n[not_null]\ncolumns = ["k", "n"]\n[[between]]\ncolumn = "n"\nmin = 0\n'
        'where = "no_such > 1"',
        "t.between.n",
        'table t: between[0].where: does not compile: column "no_such" does not exist',
    ),
    (
        'table = "t"\nwhere = "nope"\n[not_null]\ncolumn = "k"',
        "t.not_null.k",
        'table t: where: does not compile: column "nope" does not exist',
    ),
]


@pytest.mark.parametrize(("rules", "check_id", "expected"), LIVE_BAD)
def test_names_unknown_to_the_live_catalog(
    scratch_db: str, run_checks: RunChecks, rules: str, check_id: str, expected: str
) -> None:
    execute(scratch_db, "INSERT INTO t (id, k, n) VALUES (1, 'a', 1)")
    results = run_checks(scratch_db, rules)
    assert results[check_id].status == "error"
    assert expected in results[check_id].message
    assert "t.toml" in results[check_id].message
    others = [r for r in results.values() if r.id != check_id and "where:" not in expected]
    assert all(r.status == "pass" for r in others if not r.id.startswith("nope"))


def test_top_level_type_errors_name_the_key(tmp_path: Path) -> None:
    found = problems(tmp_path, 'table = "t"\nwhere = 3')
    assert found == [f"{tmp_path / 'dq' / 't.toml'}: where: expected str, got 3"]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            '[between]\ncolumn = "occurred_at"\nmin = "2000-01-01"\n',
            "between.min: expected int or float or date or datetime, got '2000-01-01'; "
            "drop the quotes for a date: min = 2000-01-01",
        ),
        (
            '[row_count]\nmin = "5"\n',
            "row_count.min: expected int, got '5'; drop the quotes for a number: min = 5",
        ),
        ('[row_count]\nmin = "five"\n', "row_count.min: expected int, got 'five'"),
    ],
    ids=["quoted-date", "quoted-number", "not-a-number"],
)
def test_a_value_of_the_wrong_type_says_what_to_write(tmp_path, rules, expected):
    (problem,) = problems(tmp_path, 'table = "events"\n' + rules)
    assert problem.endswith(expected)
