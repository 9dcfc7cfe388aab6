"""Markdown reports written from a session's outcomes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from selfheal.core.dsn import redact_dsn
from selfheal.core.files import write_atomic
from selfheal.core.settings import Settings
from selfheal.core.text import markdown_cell
from selfheal.run import evidence
from selfheal.run.problem import CHECK_FAILED, Evidence, Heal, Problem, setup_code

CRASH = "selfheal.crash"  # user property: {"message", "error_type"} of a failure, redacted
HEALS = "selfheal.heals"  # user property of the doctor stage: list of Heal.to_dict()


@dataclass(frozen=True)
class Outcome:
    """One check's result in a run, with the problems it found."""

    nodeid: str
    stage: str
    outcome: str  # passed, failed, skipped
    message: str
    seconds: float
    error_type: str = ""  # the exception a failure raised (AssertionError, DatabaseUnreachable)
    problems: tuple[Problem, ...] = ()  # a failure has at least one failing problem
    sample_rows: tuple[dict[str, Any], ...] = ()  # rows a check attached outside its problems
    warnings: tuple[str, ...] = ()
    heals: tuple[Heal, ...] = ()
    complete: bool = False  # the check reached its own verdict (not stopped by a fixture)

    @property
    def failing_problems(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.failing]

    @classmethod
    def from_report(
        cls, report: pytest.TestReport, stage: str, failed_fixture: str | None = None
    ) -> Outcome:
        """`failed_fixture`: the fixture whose exception failed the setup phase, if any."""
        crash = dict(report.user_properties).get(CRASH, {})
        message = crash.get("message", "")
        if report.failed and not crash:
            message = report.longreprtext.strip().splitlines()[-1] if report.longreprtext else ""
        elif report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2])
        problems = evidence.problems_of(report)
        samples = tuple(
            row for rows in evidence.from_report(report, evidence.SAMPLE_ROWS) for row in rows
        )
        reported = any(problem.failing for problem in problems)
        if report.failed and not reported:
            problems.append(_unnamed_problem(report.nodeid, message, samples, failed_fixture))
        return cls(
            report.nodeid,
            stage,
            report.outcome,
            message,
            report.duration,
            error_type=crash.get("error_type", "") if report.failed else "",
            problems=tuple(problems),
            sample_rows=samples,
            warnings=tuple(str(w) for w in evidence.from_report(report, evidence.WARNING)),
            heals=tuple(
                Heal.from_dict(h) for heals in evidence.from_report(report, HEALS) for h in heals
            ),
            complete=report.passed or (report.when == "call" and reported),
        )

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Outcome:
        return cls(
            **{
                **record,
                "problems": tuple(Problem.from_dict(p) for p in record.get("problems", ())),
                "sample_rows": tuple(record.get("sample_rows", ())),
                "warnings": tuple(record.get("warnings", ())),
                "heals": tuple(Heal.from_dict(h) for h in record.get("heals", ())),
            }
        )


def _unnamed_problem(
    nodeid: str, message: str, samples: tuple[dict[str, Any], ...], fixture: str | None
) -> Problem:
    """A failure whose check named no problem: a broken fixture is one problem of the run (so
    one unreachable database is one problem, not one per check using it); anything else is a
    problem of the check itself."""
    if fixture:
        return Problem(setup_code(fixture), "", f"fixture {fixture} failed: {message}")
    return Problem(CHECK_FAILED, nodeid, message, evidence=Evidence(samples=samples))


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
