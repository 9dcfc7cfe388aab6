"""Split SQL into statements with their line numbers, using sqlglot's PostgreSQL tokenizer.

The tokenizer understands quoting, dollar-quoted bodies and comments, so a `;` inside a string or
a function body never splits a statement. The text between tokens is whitespace and comments
only, which is how `comment_lines` finds the comments that are really comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlglot.tokens import Token


@dataclass(frozen=True)
class Statement:
    text: str
    line: int
    words: tuple[str, ...]  # upper-cased leading keywords/names, for static classification


@lru_cache(maxsize=8)
def _tokens(sql_text: str) -> tuple[Token, ...]:
    """The file's tokens; cached, as the guard reads one file several times."""
    # sqlglot takes a tenth of a second to load: only a session that splits SQL pays for it
    from sqlglot.dialects.postgres import Postgres

    return tuple(Postgres().tokenize(sql_text))


@lru_cache(maxsize=8)
def _split(sql_text: str) -> tuple[Statement, ...]:
    from sqlglot.tokens import TokenType

    statements: list[Statement] = []
    current: list[Token] = []
    for token in [*_tokens(sql_text), None]:
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
    return tuple(statements)


def split_statements(sql_text: str) -> list[Statement]:
    return list(_split(sql_text))


_LINE_COMMENT = re.compile(r"^[ \t]*--(?P<text>.*)$", re.MULTILINE)


def comment_lines(sql_text: str) -> list[tuple[int, str]]:
    """(line, text after `--`) of each line that is a comment and nothing else.

    A `--` inside a string literal, a dollar-quoted body or a block comment is not one.
    """
    found: list[tuple[int, str]] = []
    position = 0
    for token in [*_tokens(sql_text), None]:
        gap_end = token.start if token is not None else len(sql_text)
        gap = sql_text[position:gap_end]
        for match in _LINE_COMMENT.finditer(_blank_block_comments(gap)):
            # A line comment must start its line: nothing but blanks since the last newline.
            absolute = position + match.start()
            line_start = sql_text.rfind("\n", 0, absolute) + 1
            if sql_text[line_start:absolute].strip() == "":
                found.append((sql_text.count("\n", 0, absolute) + 1, match["text"]))
        position = token.end + 1 if token is not None else len(sql_text)
    return found


def _blank_block_comments(gap: str) -> str:
    """The gap with each `/* ... */` (nested) replaced by spaces, newlines kept."""
    out, depth, i = [], 0, 0
    while i < len(gap):
        pair = gap[i : i + 2]
        if pair == "/*":
            depth += 1
        if depth and pair == "*/":
            depth -= 1
            out.append("  ")
            i += 2
            continue
        out.append(" " if depth and gap[i] != "\n" else gap[i])
        if pair == "/*":
            out.append(" ")
            i += 1
        i += 1
    return "".join(out)


# Statements that end or leave the file's transaction, or change the session beyond the file.
_TRANSACTION_CONTROL = {"COMMIT", "END", "ROLLBACK", "ABORT", "BEGIN"}
_TRANSACTION_LOCAL_SET = {"LOCAL", "TRANSACTION", "CONSTRAINTS"}


def escapes_transaction(statement: Statement) -> str | None:
    """Why a statement breaks a transactional file's atomicity, or None.

    COMMIT, END, ROLLBACK (not ROLLBACK TO a savepoint), BEGIN, START/PREPARE TRANSACTION, and
    session-level SET/RESET (SET LOCAL, SET TRANSACTION and SET CONSTRAINTS end with the file).
    """
    words = statement.words
    first, second = (words + ("", ""))[:2]
    ends = first in _TRANSACTION_CONTROL and not (first == "ROLLBACK" and "TO" in words[1:3])
    if ends or (first in ("START", "PREPARE") and second == "TRANSACTION"):
        return f"{first} ends or starts a transaction inside a file that runs as one transaction"
    if first == "RESET" or (first == "SET" and second not in _TRANSACTION_LOCAL_SET):
        shown = " ".join(statement.text.split())[:60]
        return f"`{shown}` changes the session beyond this file; use SET LOCAL"
    return None


def atomicity_problems(sql_text: str, in_transaction: bool) -> list[tuple[int, str]]:
    """(line, reason) of each statement that would let part of a transactional file outlive a
    failure, or its settings outlive the file. (A no-transaction file runs statement by statement
    and the runner resets the session after it.)"""
    if not in_transaction:
        return []
    found = [(s.line, escapes_transaction(s)) for s in split_statements(sql_text)]
    return [(line, reason) for line, reason in found if reason]
