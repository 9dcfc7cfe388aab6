"""Markdown reports written from a session's outcomes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from selfheal import evidence
from selfheal.core.dsn import redact_dsn
from selfheal.core.files import write_atomic
from selfheal.core.settings import Settings
from selfheal.core.text import markdown_cell

KIND = "selfheal.kind"  # user property: the exception type (or evidence kind) of a failure
CRASH = "selfheal.crash"  # user property: {"message", "where"} of a failure, before redaction
HEALS = "selfheal.heals"  # user property of the doctor stage: list of heal results (dicts)


@dataclass(frozen=True)
class Outcome:
    nodeid: str
    stage: str
    outcome: str  # passed, failed, skipped
    message: str
    seconds: float
    kind: str = ""
    sample_rows: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    heals: tuple[dict[str, Any], ...] = ()
    setup_crash: str = ""  # file:line where a failing fixture broke (shared by its checks)
    problems: tuple[str, ...] = ()  # what the check's evidence names: lints, problem kinds

    @property
    def problem(self) -> str:
        """What identifies the problem: the check, or for a broken fixture the place it broke,
        so that one unreachable database is one problem, not one per check using it."""
        return f"setup@{self.setup_crash}" if self.setup_crash else self.nodeid

    @classmethod
    def from_report(cls, report: pytest.TestReport, stage: str) -> Outcome:
        message = ""
        crash = dict(report.user_properties).get(CRASH)
        if report.failed and crash:
            message = crash["message"]
        elif report.failed:
            message = report.longreprtext.strip().splitlines()[-1] if report.longreprtext else ""
        elif report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2])
        details = evidence.from_report(report, evidence.DETAILS)
        kinds = evidence.from_report(report, KIND) + [
            d["kind"] for d in details if isinstance(d, dict) and d.get("kind")
        ]
        return cls(
            report.nodeid,
            stage,
            report.outcome,
            message,
            report.duration,
            kind=str(kinds[-1]) if report.failed and kinds else "",
            sample_rows=tuple(
                row for rows in evidence.from_report(report, evidence.SAMPLE_ROWS) for row in rows
            ),
            warnings=tuple(str(w) for w in evidence.from_report(report, evidence.WARNING)),
            heals=tuple(h for heals in evidence.from_report(report, HEALS) for h in heals),
            setup_crash=crash["where"] if crash and report.when == "setup" else "",
            problems=_problems(details),
        )

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Outcome:
        fields = {**record}
        for name in ("sample_rows", "warnings", "heals"):
            fields[name] = tuple(fields.get(name, ()))
        return cls(**fields)


def _problems(details: list[Any]) -> tuple[str, ...]:
    """The names a check's details give its problems (schema: "problems"; RLS: "lint")."""
    names: list[str] = []
    for detail in details:
        if isinstance(detail, dict):
            names += [str(p) for p in detail.get("problems", [])]
            names += [str(detail["lint"])] if detail.get("lint") else []
    return tuple(dict.fromkeys(names))


def redact(text: str, settings: Settings) -> str:
    """Remove every secret value of the settings from `text`."""
    for secret in settings.secrets():
        text = text.replace(secret, "***")
    return text


def write_preflight_report(reports_dir: Path, outcomes: list[Outcome], settings: Settings) -> Path:
    failed = [o for o in outcomes if o.outcome == "failed"]
    target = redact_dsn(settings.db_url.reveal()) if settings.db_url else "embedded default"
    lines = [
        "# Preflight report",
        "",
        f"- generated: {datetime.now(settings.zone).isoformat(timespec='seconds')}",
        f"- target: {target}",
        f"- result: {'FAILED' if failed else 'passed'} "
        f"({len(outcomes) - len(failed)} passed, {len(failed)} failed)",
        "- HTML report: [report.html](../report.html)",
        "",
        "| check | outcome | detail |",
        "| --- | --- | --- |",
    ]
    for o in outcomes:
        lines.append(f"| `{markdown_cell(o.nodeid)}` | {o.outcome} | {markdown_cell(o.message)} |")
    path = reports_dir / "exec" / "preflight_report.md"
    write_atomic(path, redact("\n".join(lines) + "\n", settings))
    return path
