"""Split SQL into statements with their line numbers, using sqlglot's PostgreSQL tokenizer.

The tokenizer understands quoting, dollar-quoted bodies and comments, so a `;` inside a string or
a function body never splits a statement.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot.dialects.postgres import Postgres
from sqlglot.tokens import TokenType


@dataclass(frozen=True)
class Statement:
    text: str
    line: int
    words: tuple[str, ...]  # upper-cased leading keywords/names, for static classification


def split_statements(sql_text: str) -> list[Statement]:
    tokens = Postgres().tokenize(sql_text)
    statements: list[Statement] = []
    current: list = []
    for token in [*tokens, None]:
        if token is not None and token.token_type != TokenType.SEMICOLON:
            current.append(token)
            continue
        if current:
            start, end = current[0].start, current[-1].end
            statements.append(
                Statement(
                    text=sql_text[start : end + 1],
                    line=current[0].line,
                    words=tuple(t.text.upper() for t in current),
                )
            )
        current = []
    return statements
