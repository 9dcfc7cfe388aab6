"""Text helpers every report and message shares."""

from __future__ import annotations

from collections.abc import Sequence
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


def human_seconds(seconds: float) -> str:
    """A duration as people read it: `0.4 ms`, `350 ms`, `2.5 s`, `3 min 05 s`, `1 h 02 min`."""
    if seconds < 0.001:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def human_bytes(count: float) -> str:
    """A size as people read it, in binary units: `512 B`, `8.0 KiB`, `50.0 MiB`."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    size, unit = float(count), 0
    while abs(size) >= 1024 and unit < len(units) - 1:
        size, unit = size / 1024, unit + 1
    return f"{size:.0f} B" if unit == 0 else f"{size:.1f} {units[unit]}"


def _cell(value: Any, limit: int) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_table(columns: Sequence[str], rows: Sequence[dict[str, Any]], limit: int = 60) -> str:
    """Rows as a plain-text table (for terminals and Markdown code blocks); cells cut at `limit`."""
    cells = [[_cell(row.get(c), limit) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)
