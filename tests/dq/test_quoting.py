"""Identifiers that need quoting: spaces, quotes, capitals, unicode, reserved words, 63 bytes."""

from __future__ import annotations

from psycopg import sql

from selfheal.core.db import connect
from tests.dq.conftest import RunChecks

SCHEMA = 'Odd "Schema"'
TABLE = "Wéird Table; select"
LONG = "c" * 63  # the longest identifier PostgreSQL keeps


def toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_rules_over_identifiers_that_need_quoting(empty_db: str, run_checks: RunChecks) -> None:
    table = sql.Identifier(SCHEMA, TABLE)
    with connect(empty_db, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        conn.execute(
            sql.SQL(
                'CREATE TABLE {} ("select" int PRIMARY KEY, "Mixed Case" text, "ü""q" int, {} int)'
            ).format(table, sql.Identifier(LONG))
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} VALUES (1, 'a', 1, 1), (2, NULL, -1, 1), (3, 'a', 2, NULL)"
            ).format(table)
        )
    rules = f"""table = {toml_string(TABLE)}
schema = {toml_string(SCHEMA)}
where = {toml_string('"select" > 0')}
[not_null]
columns = ["Mixed Case", "{LONG}"]
[unique]
key = "Mixed Case"
[between]
column = {toml_string('ü"q')}
min = 0
[accepted_values]
column = "Mixed Case"
values = ["a", "it's"]
"""
    custom = {
        "odd.sql": f"-- name: odd\n-- table: {TABLE}\n-- schema: {SCHEMA}\n"
        f'SELECT "select" FROM "Odd ""Schema"""."{TABLE}" WHERE "ü""q" < 0'
    }
    results = run_checks(empty_db, rules, sql=custom)
    prefix = f"{SCHEMA}.{TABLE}"
    assert results[f"{prefix}.not_null.Mixed Case"].offending == 1
    assert results[f"{prefix}.not_null.Mixed Case"].sample == [{"select": 2, "Mixed Case": None}]
    assert results[f"{prefix}.not_null.{LONG}"].sample == [{"select": 3, LONG: None}]
    assert results[f"{prefix}.unique.Mixed Case"].offending == 1
    assert results[f'{prefix}.between.ü"q'].sample == [{"select": 2, 'ü"q': -1}]
    assert results[f"{prefix}.accepted_values.Mixed Case"].status == "pass"
    assert results[f"{prefix}.sql.odd"].offending == 1
