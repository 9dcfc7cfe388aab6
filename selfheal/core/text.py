"""Text helpers every report and message shares."""

from __future__ import annotations

from typing import Any


def markdown_cell(value: Any) -> str:
    """`value` as one cell of a Markdown table: pipes escaped, line breaks flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def first_line(error: BaseException) -> str:
    """What went wrong, in one line: PostgreSQL's primary message when the error carries one,
    else the first line of the message, else the error's type."""
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        return primary
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
