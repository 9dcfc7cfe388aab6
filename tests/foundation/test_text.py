"""The shared text helpers: Markdown cells and one-line reasons."""

from __future__ import annotations

import re

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfheal.core.text import first_line, markdown_cell


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
