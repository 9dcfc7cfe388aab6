"""The health report: `reports/system_health_YYYY-MM-DD.md`, one table per part."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
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


def record_of(check: Check, result: HealthResult) -> dict[str, Any]:
    """What a health test attaches (under `evidence.HEALTH`): a `CheckRecord` without the node
    id and outcome, which the report plugin adds from the test report."""
    return {
        "part": check.part,
        "check": check.name,
        "examined": result.examined,
        "findings": [asdict(f) for f in result.findings],
    }


def render(records: list[CheckRecord], generated: datetime, target: str) -> str:
    findings = [f for r in records for f in r.findings]
    counts = {
        level: sum(1 for f in findings if f["level"] == level)
        for level in ("error", "warn", "info")
    }
    lines = [
        f"# System health audit {generated:%Y-%m-%d}",
        "",
        f"- generated: {generated.isoformat(timespec='seconds')}",
        f"- target: {target}",
        f"- checks: {len(records)}; findings: {counts['error']} error, {counts['warn']} warn, "
        f"{counts['info']} info",
        "- HTML report: [report.html](report.html)",
        "- rerun one check: `pytest -m health -k <check>`",
    ]
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
            lines += _rows(record)
    return "\n".join(lines) + "\n"


def _rows(record: CheckRecord) -> list[str]:
    if not record.findings:
        return [f"| {record.check} | clean | | examined {markdown_cell(record.examined)} | |"]
    return [
        f"| {record.check} | {f['level']} | {markdown_cell(f['subject'])} "
        f"| {markdown_cell(f['message'])} "
        f"| {markdown_cell(f['remediation'])} |"
        for f in record.findings
    ]


def write_health_report(reports_dir: Path, text: str, generated: datetime) -> Path:
    path = reports_dir / f"system_health_{generated:%Y-%m-%d}.md"
    write_atomic(path, text)
    return path
