"""The shared text helpers: Markdown cells, one-line reasons, durations and sizes for people."""

from __future__ import annotations

import re

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfheal.core.text import first_line, human_bytes, human_seconds, markdown_cell, text_table


@given(st.text())
def test_a_markdown_cell_never_breaks_its_row(value: str) -> None:
    cell = markdown_cell(value)
    assert "\n" not in cell
    assert not re.search(r"(?<!\\)\|", cell), cell  # every pipe escaped
    assert cell.replace("\\|", "|") == value.replace("\n", " ")


def test_first_line_prefers_the_servers_primary_message(empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute("SELECT no_such_column FROM pg_class")
    assert first_line(caught.value) == 'column "no_such_column" does not exist'


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError("bad value\nsecond line"), "bad value"),
        (ValueError("\n  padded  \n"), "padded"),
        (RuntimeError(), "RuntimeError"),
    ],
)
def test_first_line_of_any_error(error: Exception, expected: str) -> None:
    assert first_line(error) == expected


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0002, "0.2 ms"),
        (0.25, "250 ms"),
        (2.54, "2.5 s"),
        (185, "3 min 05 s"),
        (3720, "1 h 02 min"),
    ],
)
def test_durations_read_in_human_units(seconds: float, shown: str) -> None:
    assert human_seconds(seconds) == shown


@pytest.mark.parametrize(
    ("count", "shown"),
    [(512, "512 B"), (8192, "8.0 KiB"), (52428800, "50.0 MiB"), (3 * 1024**5, "3072.0 TiB")],
)
def test_sizes_read_in_binary_units(count: int, shown: str) -> None:
    assert human_bytes(count) == shown


def test_a_text_table_aligns_columns_and_shows_null() -> None:
    table = text_table(["id", "name"], [{"id": 1, "name": None}, {"id": 22, "name": "x" * 80}])
    header, rule, first, second = table.splitlines()
    assert header == "id | name" + " " * 56 and rule.startswith("---+-")
    assert first.startswith("1  | NULL") and second.endswith("…") and len(second) == len(header)
