"""What a GitHub Actions job shows of a run: the step summary and annotations on files.

`selfheal ci` (each workflow's last step, on every outcome) appends the last run's summary
(`reports/exec/run_summary_<day>.md`, and the day's KPI page when there is one) to the file
`$GITHUB_STEP_SUMMARY` names, and prints one workflow command per failing check (`::error`) and
per warning (`::warning`). A check whose source is a file is annotated on that file and line, so
a pull request shows it where it is written: a data-quality rule (its `[kind]` table in
checks/dq/*.toml, or its checks/sql/*.sql file), a migration (the guard's findings and notes name
file and line), any other message naming `path.toml:LINE` or `path.sql:LINE`. `selfheal guard`
annotates its refusals the same way when it runs under GitHub Actions. Everything comes from
files the run wrote redacted, so no secret reaches the job's log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from selfheal.core.settings import Settings
from selfheal.dq.config import ConfigError, load_suite
from selfheal.migrate.findings import GuardReport
from selfheal.run.reporting import Outcome
from selfheal.run.summary import read_last_run

_DQ_NODE = re.compile(r"::test_dq\[(?P<id>.+)\]$")
_MIGRATION_LINE = re.compile(r"^(?P<file>[\w.-]+\.sql):(?:(?P<line>\d+):)? ", re.MULTILINE)
_FILE_LINE = re.compile(r"(?P<file>[\w./-]+\.(?:toml|sql)):(?P<line>\d+)")


@dataclass(frozen=True)
class Annotation:
    level: str  # error | warning
    title: str
    message: str
    file: str | None = None  # relative to the repository root
    line: int | None = None

    def command(self) -> str:
        """The workflow command GitHub turns into an annotation."""
        properties = {"file": self.file, "line": self.line, "title": self.title}
        shown = ",".join(
            f"{key}={_escape(str(value), property_value=True)}"
            for key, value in properties.items()
            if value is not None
        )
        return f"::{self.level} {shown}::{_escape(self.message)}"


def _escape(text: str, property_value: bool = False) -> str:
    """As GitHub's toolkit escapes command data (and, in property values, `:` and `,`)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


@dataclass(frozen=True)
class Source:
    path: Path
    line: int | None


class Sources:
    """Finds the file (and line) a check's failure or warning is about."""

    def __init__(self, settings: Settings, root: Path):
        self.settings = settings
        self.root = root
        self._dq: dict[str, Source] | None = None

    def of(self, outcome: Outcome, text: str) -> list[Source]:
        rule = _DQ_NODE.search(outcome.nodeid)
        if rule and rule["id"] in self.dq_rules():
            return [self.dq_rules()[rule["id"]]]
        found = [
            Source(self.settings.migrations_dir / m["file"], int(m["line"] or 1))
            for m in _MIGRATION_LINE.finditer(text)
            if (self.settings.migrations_dir / m["file"]).is_file()
        ]
        found += [
            Source(self.root / m["file"], int(m["line"]))
            for m in _FILE_LINE.finditer(text)
            if (self.root / m["file"]).is_file()
        ]
        return list(dict.fromkeys(found))

    def dq_rules(self) -> dict[str, Source]:
        """Each data-quality check id -> where it is declared (none when the files are broken:
        that failure names its file itself)."""
        if self._dq is None:
            try:
                suite = load_suite(self.settings.dq_dir, self.settings.dq_sql_dir)
            except ConfigError:
                suite = None
            self._dq = {}
            if suite is not None:
                for rule in suite.rules:
                    path = rule.table.source
                    self._dq[rule.id] = Source(path, rule_line(path.read_text(), rule.origin))
                for check in suite.custom:
                    self._dq[check.id] = Source(check.table.source, 1)
        return self._dq

    def relative(self, path: Path) -> str:
        return relative(path, self.root)


def relative(path: Path, root: Path) -> str:
    """The path as GitHub wants it: relative to the repository root when inside it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def rule_line(text: str, origin: str) -> int:
    """The line of a rule's table in its TOML file: `[kind]`, or the n-th `[[kind]]` for
    `kind[n]` (1 when it cannot be found, e.g. a rule at the top level)."""
    kind, _, index = origin.partition("[")
    number = int(index.rstrip("]")) if index else 0
    header = re.compile(rf"^\s*\[\[?\s*{re.escape(kind)}\s*\]\]?\s*(#.*)?$")
    lines = [n for n, line in enumerate(text.splitlines(), 1) if kind and header.match(line)]
    return lines[number] if number < len(lines) else 1


def annotations(outcomes: list[Outcome], sources: Sources) -> Iterator[Annotation]:
    """An error per failed check and a warning per warning, on their source files if any."""
    for outcome in outcomes:
        title = f"{outcome.stage}: {outcome.nodeid}"
        texts = []
        if outcome.outcome == "failed":
            text = "\n".join([outcome.message, *(p.message for p in outcome.failing_problems)])
            texts.append(("error", outcome.message or text, text))
        texts += [("warning", warning, warning) for warning in outcome.warnings]
        for level, message, searched in texts:
            found = sources.of(outcome, searched)
            if not found:
                yield Annotation(level, title, message)
            for source in found:
                yield Annotation(level, title, message, sources.relative(source.path), source.line)


def _workspace(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("GITHUB_WORKSPACE") or Path.cwd())


def guard_annotations(
    report: GuardReport, folder: Path, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Under GitHub Actions, an error on the file and line of each finding the guard refused."""
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_ACTIONS") != "true":
        return []
    root = _workspace(environ)
    return [
        Annotation(
            "error",
            f"guard: {f.kind} {f.object}",
            str(f),
            relative(folder / f.migration, root),
            f.line,
        ).command()
        for f in report.refused()
    ]


def step_summary(settings: Settings) -> str:
    """The Markdown the job page shows: the last run's summary, and the day's KPI page."""
    exec_dir = settings.reports_dir / "exec"
    parts = [
        path.read_text(encoding="utf-8")
        for pattern in ("run_summary_*.md", "kpi_*.md")
        for path in sorted(exec_dir.glob(pattern))[-1:]
    ]
    if not parts:
        return "# selfheal\n\nThis job wrote no run summary (no check ran).\n"
    return "\n".join(parts)


def publish(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """Append the step summary (when $GITHUB_STEP_SUMMARY is set); the annotation commands."""
    environ = os.environ if environ is None else environ
    summary_file = environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as summary:
            summary.write(step_summary(settings))
    root = _workspace(environ)
    outcomes = read_last_run(settings.reports_dir)
    return [a.command() for a in annotations(outcomes, Sources(settings, root))]
