"""The history's part of the run summary (Markdown): what changed first, the trends after."""

from __future__ import annotations

from selfheal.core.text import markdown_cell
from selfheal.run.history.trends import Changes, HistoryView

MARKS = {"passed": "P", "failed": "F"}
SHOWN_TABLE_RUNS = 10


def changes_lines(changes: Changes) -> list[str]:
    """What changed since each check's previous verdict on this target."""
    lines = ["## What changed since the previous run", ""]
    groups = (
        ("new failures", changes.new_failures),
        ("fixed", changes.fixed),
        ("still failing", changes.still_failing),
    )
    for label, nodes in groups:
        listed = ", ".join(f"`{markdown_cell(n)}`" for n in nodes) or "none"
        lines.append(f"- {label} ({len(nodes)}): {listed}")
    return lines


def _series(values: tuple[int | None, ...]) -> str:
    shown = values[-SHOWN_TABLE_RUNS:]
    return " ".join("?" if v is None else f"{v:,}" for v in shown)


def trend_lines(view: HistoryView) -> list[str]:
    """Checks that failed or flipped in their window, and every checked table."""
    lines = ["## Trends (last 30 runs of each check on this target)", ""]
    unsteady = [t for t in view.checks if t.failures]
    if unsteady:
        lines += ["| check | outcomes (oldest first) | failed | flake rate |"]
        lines.append("| --- | --- | ---: | ---: |")
        for trend in sorted(unsteady, key=lambda t: (-t.flake_rate, -t.failures, t.node_id)):
            marks = "".join(MARKS[o] for o in trend.outcomes)
            lines.append(
                f"| `{markdown_cell(trend.node_id)}` | `{marks}` | {trend.failures}/"
                f"{len(trend.outcomes)} | {trend.flake_rate:.0%} |"
            )
    else:
        lines.append(f"Every one of the {len(view.checks)} checks passed in all its recorded runs.")
    if view.tables:
        lines += [
            "",
            f"| table | rows (last {SHOWN_TABLE_RUNS} runs) | new rows |",
            "| --- | --- | --- |",
        ]
        for table in view.tables:
            lines.append(
                f"| {markdown_cell(table.schema)}.{markdown_cell(table.table)} "
                f"| {_series(table.rows)} | {_series(table.new_rows)} |"
            )
    return lines
