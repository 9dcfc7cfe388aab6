"""The health report: `reports/system_health_YYYY-MM-DD.md`, one table per part.

Every time in it is in one zone, named in its header. In a run whose ETL stage came after the
health checks (the whole pipeline), the checks that read table rows judged the data before
today's load: the header says so, and so does each of those checks' rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from selfheal.core.files import write_atomic
from selfheal.core.text import markdown_cell
from selfheal.health.model import PARTS, Check, HealthResult

TITLES = {
    "feedback_loops": "1. Feedback loops",
    "second_order_effects": "2. Second-order effects",
    "socio_technical_alignment": "3. Socio-technical alignment",
    "constraint_propagation": "4. Constraint propagation",
    "entropy_robustness": "5. Entropy and robustness",
    "multi_agent_coherence": "6. Multi-agent coherence",
}


@dataclass(frozen=True)
class CheckRecord:
    """One health test's outcome as it arrives in the test report."""

    nodeid: str
    outcome: str
    part: str
    check: str
    examined: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    reads_rows: bool = False


def record_of(check: Check, result: HealthResult) -> dict[str, Any]:
    """What a health test attaches (under `evidence.HEALTH`): a `CheckRecord` without the node
    id and outcome, which the report plugin adds from the test report."""
    return {
        "part": check.part,
        "check": check.name,
        "examined": result.examined,
        "findings": [asdict(f) for f in result.findings],
        "reads_rows": check.reads_rows,
    }


BEFORE_LOAD = "before today's load"


def render(
    records: list[CheckRecord], generated: datetime, target: str, loaded_after: bool = False
) -> str:
    """`loaded_after`: the run loaded data after the health checks had judged it."""
    findings = [f for r in records for f in r.findings]
    counts = {
        level: sum(1 for f in findings if f["level"] == level)
        for level in ("error", "warn", "info")
    }
    lines = [
        f"# System health audit {generated:%Y-%m-%d}",
        "",
        f"- generated: {generated:%Y-%m-%d %H:%M:%S} ({generated.tzinfo})",
        f"- times: every time in this report is in {generated.tzinfo}",
        f"- target: {target}",
        f"- checks: {len(records)}; findings: {counts['error']} error, {counts['warn']} warn, "
        f"{counts['info']} info",
        "- HTML report: [report.html](report.html)",
        "- rerun one check: `pytest -m health -k <check>`",
    ]
    if loaded_after:
        lines.append(
            f"- data: judged {BEFORE_LOAD}: this run's ETL stage came after the health checks, so "
            f"the checks marked ({BEFORE_LOAD}) saw the rows as they were before it; "
            "`pytest -m health` after the load judges today's data"
        )
    for part in PARTS:
        part_records = [r for r in records if r.part == part]
        if not part_records:
            continue
        lines += [
            "",
            f"## {TITLES[part]}",
            "",
            "| check | level | subject | finding | remediation |",
        ]
        lines.append("| --- | --- | --- | --- | --- |")
        for record in part_records:
            lines += _rows(record, loaded_after and record.reads_rows)
    return "\n".join(lines) + "\n"


def _rows(record: CheckRecord, before_load: bool) -> list[str]:
    check = f"{record.check} ({BEFORE_LOAD})" if before_load else record.check
    if not record.findings:
        return [f"| {check} | clean | | examined {markdown_cell(record.examined)} | |"]
    return [
        f"| {check} | {f['level']} | {markdown_cell(f['subject'])} "
        f"| {markdown_cell(f['message'])} "
        f"| {markdown_cell(f['remediation'])} |"
        for f in record.findings
    ]


def health_report_path(reports_dir: Path, day: date) -> Path:
    return reports_dir / f"system_health_{day:%Y-%m-%d}.md"


def write_health_report(reports_dir: Path, text: str, generated: datetime) -> Path:
    path = health_report_path(reports_dir, generated.date())
    write_atomic(path, text)
    return path
