"""A check result as text (the failure message) and as HTML (the report's extra)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from selfheal.dq.runner import SAMPLE_LIMIT, CheckResult, QueryRecord

MAX_CELL = 60


def _cell(value: Any, limit: int | None = MAX_CELL) -> str:
    text = "NULL" if value is None else str(value)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def text_table(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def failure_text(result: CheckResult) -> str:
    text = f"{result.id}: {result.message}"
    if result.sample:
        shown = f"offending rows (up to {SAMPLE_LIMIT}):"
        text += f"\n{shown}\n{text_table(result.columns, result.sample)}"
    failed = [q for q in result.queries if q.error]
    for query in failed:
        text += f"\nquery ({query.error}):\n  {query.sql}"
    return text


def _html_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], limit: int | None = MAX_CELL
) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(v, limit))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f'<table class="selfheal-dq"><tr>{head}</tr>{body}</table>'


def _query_row(query: QueryRecord) -> list[Any]:
    return [f"{query.seconds:.3f}", query.rows, query.error or "", query.sql]


def html_report(result: CheckResult) -> str:
    """The verdict, the offending rows as a table, and each query with its duration."""
    parts = [
        f"<p><b>{escape(result.id)}</b> ({escape(result.status)}): {escape(result.message)}</p>"
    ]
    if result.sample:
        rows = [[row.get(c) for c in result.columns] for row in result.sample]
        parts.append(_html_table(result.columns, rows))
    if result.queries:
        header = ["seconds", "rows", "error", "query"]
        parts.append(_html_table(header, [_query_row(q) for q in result.queries], limit=None))
    return "<div>" + "".join(parts) + "</div>"
