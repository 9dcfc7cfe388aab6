"""The end of a run: the executive summary, the run log and `last_run.json` for the doctor.

The summary opens with one table (a row per stage: passed, failed, warned, healed, skipped,
tickets opened and resolved, duration) and links the HTML report. Every text passes through
`redact` before it is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from selfheal.core.files import write_atomic
from selfheal.core.text import markdown_cell
from selfheal.run.history.report import changes_lines, trend_lines
from selfheal.run.history.trends import HistoryView
from selfheal.run.notify import Delivery, Failure, RunNews, StageCount
from selfheal.run.pipeline import STAGES, stage_rank
from selfheal.run.problem import Heal
from selfheal.run.reporting import Outcome
from selfheal.run.tickets import RunChanges, Ticket

LAST_RUN = "last_run.json"
LAST_RUN_FORMAT = 2  # 2: outcomes carry problems (format 1 had none)


class LastRunError(ValueError):
    """last_run.json cannot be read; the message says why and what to do."""


@dataclass
class Run:
    started: datetime
    finished: datetime
    outcomes: list[Outcome]
    changes: RunChanges | None  # None when tickets are off
    delivery: Delivery = field(default_factory=lambda: Delivery(False, "not attempted"))
    history: HistoryView | None = None  # None when the run's history was not recorded

    def stages(self) -> list[str]:
        seen = {o.stage for o in self.outcomes}
        return sorted(seen, key=stage_rank)

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.outcome == "failed"]

    def heals(self) -> list[Heal]:
        return [heal for o in self.outcomes for heal in o.heals]

    def healed_nodes(self) -> set[str]:
        return {h.node_id for h in self.heals() if h.outcome == "healed"}

    def news(self) -> RunNews:
        changes = self.changes or RunChanges()
        counts = [
            StageCount(stage, *(self.count(stage, k) for k in ("passed", "failed", "skipped")))
            for stage in self.stages()
        ]
        new = {t.node_id for t in changes.opened + changes.reopened}
        still = {t.node_id for t in changes.updated}

        def status(node_id: str) -> str:
            return "new" if node_id in new else "still failing" if node_id in still else ""

        return RunNews(
            title=f"selfheal run {self.finished.isoformat(timespec='minutes')}: "
            f"{len(self.failures())} failed",
            stages=counts,
            opened=[t.title for t in changes.opened + changes.reopened],
            resolved=[t.title for t in changes.resolved],
            failures=[Failure(o.nodeid, o.message, status(o.nodeid)) for o in self.failures()],
        )

    def count(self, stage: str, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.stage == stage and o.outcome == outcome)


def _tickets_of(tickets: list[Ticket], stage: str) -> int:
    return sum(1 for t in tickets if t.stage == stage)


def stage_table(run: Run) -> list[str]:
    changes = run.changes or RunChanges()
    opened = changes.opened + changes.reopened
    healed = run.healed_nodes()
    lines = [
        "| stage | passed | failed | warned | healed | not run | tickets opened | resolved "
        "| duration (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for stage in run.stages():
        mine = [o for o in run.outcomes if o.stage == stage]
        row = [
            stage,
            run.count(stage, "passed"),
            run.count(stage, "failed"),
            sum(1 for o in mine if o.warnings),
            sum(1 for o in mine if o.nodeid in healed),
            run.count(stage, "skipped"),
            _tickets_of(opened, stage),
            _tickets_of(changes.resolved, stage),
            f"{sum(o.seconds for o in mine):.1f}",
        ]
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return lines


def _codes(outcome: Outcome) -> str:
    return ", ".join(dict.fromkeys(p.code for p in outcome.failing_problems))


def render_summary(run: Run, target: str) -> str:
    failures = run.failures()
    lines = [
        f"# Run summary {run.finished.date().isoformat()}",
        "",
        *(changes_lines(run.history.changes) + [""] if run.history else []),
        *stage_table(run),
        "",
        f"- result: **{'FAILED' if failures else 'passed'}** "
        f"({len(run.outcomes)} checks, {len(failures)} failed)",
        f"- target: {target}",
        f"- started {run.started.isoformat(timespec='seconds')}, "
        f"finished {run.finished.isoformat(timespec='seconds')}",
        "- HTML report: [report.html](../report.html)",
        f"- Slack: {run.delivery.detail}",
    ]
    if run.changes is None:
        lines.append("- tickets: off (--no-tickets)")
    if failures:
        lines += ["", "## Failures", "", "| check | stage | problem | message | reproduce |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for o in failures:
            lines.append(
                f"| `{markdown_cell(o.nodeid)}` | {o.stage} | {markdown_cell(_codes(o))} "
                f"| {markdown_cell(o.message)} "
                f"| `pytest '{markdown_cell(o.nodeid)}'` |"
            )
    if run.heals():
        lines += ["", "## Doctor", "", "| check | remedy | outcome | detail |"]
        lines.append("| --- | --- | --- | --- |")
        for h in run.heals():
            lines.append(
                f"| `{markdown_cell(h.node_id)}` | {markdown_cell(h.remedy)} | {h.outcome} "
                f"| {markdown_cell(h.detail)} |"
            )
    if run.changes is not None:
        changed = [
            f"- {label}: `{t.filename}` {t.title}"
            for label, tickets in (
                ("opened", run.changes.opened),
                ("reopened", run.changes.reopened),
                ("updated", run.changes.updated),
                ("resolved", run.changes.resolved),
            )
            for t in tickets
        ]
        if changed:  # an empty section is left out
            lines += ["", "## Tickets", "", *changed]
    if run.history:
        lines += ["", *trend_lines(run.history)]
    return "\n".join(lines) + "\n"


def render_log(run: Run) -> str:
    lines = [f"## Run {run.started.isoformat(timespec='seconds')}", ""]
    for o in sorted(run.outcomes, key=lambda o: stage_rank(o.stage)):
        line = f"- [{o.stage}] {o.outcome.upper()} `{o.nodeid}` ({o.seconds:.2f}s)"
        if o.message:
            line += f": {o.message}"
        lines.append(line)
        lines += [f"  - warning: {w}" for w in o.warnings]
    lines += [f"- [doctor] {h.remedy} on `{h.node_id}`: {h.outcome}" for h in run.heals()]
    lines.append(f"- [notify] {run.delivery.detail}")
    return "\n".join(lines) + "\n\n"


def write_run_files(
    reports_dir: Path, run: Run, target: str, redact: Callable[[str], str]
) -> list[Path]:
    """Write the day's summary (replaced), the day's log (appended) and last_run.json."""
    exec_dir = reports_dir / "exec"
    day = run.finished.date().isoformat()
    summary = exec_dir / f"run_summary_{day}.md"
    log = exec_dir / f"run_logs_{day}.md"
    last_run = exec_dir / LAST_RUN
    write_atomic(summary, redact(render_summary(run, target)))
    previous = log.read_text(encoding="utf-8") if log.exists() else f"# Run logs {day}\n\n"
    write_atomic(log, previous + redact(render_log(run)))
    record = {
        "format": LAST_RUN_FORMAT,
        "finished": run.finished.isoformat(),
        "stages": list(STAGES),
        "outcomes": [o.to_dict() for o in run.outcomes],
    }
    write_atomic(last_run, redact(json.dumps(record, indent=1)))
    return [summary, log, last_run]


def read_last_run(reports_dir: Path) -> list[Outcome]:
    """The outcomes of the last run (empty when there was none)."""
    path = reports_dir / "exec" / LAST_RUN
    if not path.exists():
        return []
    record = json.loads(path.read_text())
    if record.get("format") != LAST_RUN_FORMAT:
        raise LastRunError(
            f"{path} was written by an older selfheal (its failures name no problems): "
            "run the checks again (`pytest`), then the doctor"
        )
    return [Outcome.from_dict(o) for o in record["outcomes"]]
