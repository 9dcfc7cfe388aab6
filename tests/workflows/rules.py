"""What the project promises of its GitHub workflows, beyond the schema: each rule takes a
workflow's name and parsed document and returns its problems (empty when it holds)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from selfheal.core.settings import VARIABLES

Workflow = dict[str, Any]
Rule = Callable[[str, Workflow], list[str]]

SECRET_VARIABLES = {v.name for v in VARIABLES if v.secret}
CONTEXTS = {"secrets", "vars", "github", "inputs", "env", "matrix", "steps", "job", "runner"}
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
CREDENTIAL_IN_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^@\s]+@", re.IGNORECASE)

# Workflow file -> (what triggers it, the commands it runs, in order).
EXPECTED: dict[str, tuple[Callable[[Workflow], bool], list[str]]] = {
    "preflight.yml": (lambda w: "pull_request" in w["on"], ["pytest -m preflight"]),
    "data_quality.yml": (
        lambda w: w["on"].get("workflow_run", {}).get("workflows") == ["nightly-etl"],
        ["pytest -m dq"],
    ),
    "nightly-etl.yml": (lambda w: _crons(w) == ["0 1 * * *"], ["python -m etl all"]),
    "delta_apply.yml": (
        lambda w: "migrations/**" in w["on"].get("push", {}).get("paths", []),
        ["selfheal guard", "selfheal migrate"],
    ),
    "system_health.yml": (
        lambda w: len(_crons(w)) == 1 and _crons(w)[0].split()[4] in {"0", "SUN", "7"},
        ["pytest -m health"],
    ),
}


def _steps(workflow: Workflow) -> list[dict[str, Any]]:
    return [step for job in workflow.get("jobs", {}).values() for step in job.get("steps", [])]


def _runs(workflow: Workflow) -> list[str]:
    return [step["run"] for step in _steps(workflow) if "run" in step]


def _crons(workflow: Workflow) -> list[str]:
    on = workflow.get("on") or {}
    return [entry["cron"] for entry in on.get("schedule", [])] if isinstance(on, dict) else []


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (str(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [str(node)]


def triggers_and_commands(name: str, workflow: Workflow) -> list[str]:
    if name not in EXPECTED:
        return [f"{name}: not one of the project's workflows {sorted(EXPECTED)}"]
    triggered, commands = EXPECTED[name]
    problems = [] if triggered(workflow) else [f"{name}: not triggered as documented"]
    script = "\n".join(_runs(workflow))
    positions = [script.find(command) for command in commands]
    for command, position in zip(commands, positions, strict=True):
        if position < 0:
            problems.append(f"{name}: never runs `{command}`")
    if all(p >= 0 for p in positions) and positions != sorted(positions):
        problems.append(f"{name}: runs {commands} out of order")
    return problems


def concurrency(name: str, workflow: Workflow) -> list[str]:
    setting = workflow.get("concurrency")
    if not isinstance(setting, dict) or not setting.get("group"):
        return [f"{name}: no concurrency group (two runs could overlap)"]
    if setting.get("cancel-in-progress") is not False:
        return [f"{name}: concurrency must not cancel a run in progress"]
    return []


def installs_like_readme(name: str, workflow: Workflow) -> list[str]:
    runs = _runs(workflow)
    setup = next((i for i, run in enumerate(runs) if "make setup" in run), None)
    if setup is None:
        return [f"{name}: does not install the project with `make setup`"]
    early = [run for run in runs[:setup] if ".venv/bin/" in run]
    return [f"{name}: uses the project before installing it: {early[0]!r}"] if early else []


def uploads_reports(name: str, workflow: Workflow) -> list[str]:
    for step in _steps(workflow):
        if str(step.get("uses", "")).startswith("actions/upload-artifact@"):
            paths = str(step.get("with", {}).get("path", "")).split()
            if "reports/" in paths and "always()" in str(step.get("if", "")):
                return []
    return [f"{name}: does not upload reports/ as an artifact on every outcome (if: always())"]


def caches_pip(name: str, workflow: Workflow) -> list[str]:
    for step in _steps(workflow):
        uses = str(step.get("uses", ""))
        if uses.startswith("actions/setup-python@") and step.get("with", {}).get("cache") == "pip":
            return []
    return [f"{name}: setup-python does not cache pip (with: cache: pip)"]


def reports_to_github(name: str, workflow: Workflow) -> list[str]:
    """Every pytest step writes JUnit XML into reports/; `selfheal ci` writes the step summary
    and annotations on every outcome, before reports/ is uploaded."""
    runs = _runs(workflow)
    problems = [
        f"{name}: `{run.strip()}` writes no JUnit XML into reports/"
        for run in runs
        if "pytest -m" in run and "--junitxml=reports/" not in run
    ]
    steps = _steps(workflow)
    publish = next((i for i, s in enumerate(steps) if "selfheal ci" in str(s.get("run", ""))), None)
    upload = next(
        (i for i, s in enumerate(steps) if "upload-artifact@" in str(s.get("uses", ""))), None
    )
    if publish is None or "always()" not in str(steps[publish].get("if", "")):
        problems.append(f"{name}: no `selfheal ci` step on every outcome (if: always())")
    elif upload is not None and publish > upload:
        problems.append(f"{name}: `selfheal ci` runs after the upload of reports/")
    return problems


def secrets_from_repository(name: str, workflow: Workflow) -> list[str]:
    problems = []
    for text in _strings(workflow):
        if CREDENTIAL_IN_URL.search(text):
            problems.append(f"{name}: a credential written into the file")
        for expression in EXPRESSION.findall(text):
            contexts = set(re.findall(r"\b([a-z_]+)\.[A-Za-z_]", expression))
            unknown = contexts - CONTEXTS
            if unknown:
                problems.append(
                    f"{name}: unknown context(s) {sorted(unknown)} in ${{{{{expression}}}}}"
                )
    for job in workflow.get("jobs", {}).values():
        for scope in (job, *job.get("steps", [])):
            for variable, value in (scope.get("env") or {}).items():
                if variable in SECRET_VARIABLES and value != f"${{{{ secrets.{variable} }}}}":
                    problems.append(f"{name}: {variable} must come from secrets.{variable}")
    return problems


CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
)


def cron_problems(cron: str) -> list[str]:
    """Problems of a five-field POSIX cron expression (GitHub's schedule syntax)."""
    fields = cron.split()
    if len(fields) != len(CRON_FIELDS):
        return [f"{cron!r}: expected 5 fields, got {len(fields)}"]
    return [
        f"{cron!r}: bad {label} field {field!r}"
        for field, (label, low, high) in zip(fields, CRON_FIELDS, strict=True)
        if not all(_cron_item(item, low, high) for item in field.split(","))
    ]


def _cron_item(item: str, low: int, high: int) -> bool:
    match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", item)
    if not match:
        return False
    _, start, end, step = match.groups()
    numbers = [int(n) for n in (start, end) if n is not None]
    if step is not None and int(step) == 0:
        return False
    if end is not None and int(end) < int(start):
        return False
    return all(low <= n <= high for n in numbers)


# A third-party action pinned to a full commit, its version in a comment.
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40}\s+#\s+v\d+(\.\d+)*\s*$")


def unpinned_actions(name: str, text: str) -> list[str]:
    """Lines of the workflow's text that use an action by tag or branch (mutable)."""
    return [
        f"{name}:{number}: `{line.strip()}` is not pinned to a commit SHA with its version"
        for number, line in enumerate(text.splitlines(), 1)
        if re.match(r"^\s*(-\s+)?uses:", line) and not PINNED.match(line)
    ]


def repeated_work(workflows: dict[str, Workflow]) -> list[str]:
    """A command of the nightly chain run by two workflows does the same work twice."""
    runs_by = {}
    problems = []
    for name, workflow in sorted(workflows.items()):
        for command in ("python -m etl all", "pytest -m dq", "pytest -m health"):
            if command in "\n".join(_runs(workflow)):
                if command in runs_by:
                    problems.append(f"{name} repeats `{command}` of {runs_by[command]}")
                runs_by.setdefault(command, name)
    return problems


def schedules(name: str, workflow: Workflow) -> list[str]:
    return [f"{name}: {problem}" for cron in _crons(workflow) for problem in cron_problems(cron)]


RULES: tuple[Rule, ...] = (
    triggers_and_commands,
    concurrency,
    installs_like_readme,
    uploads_reports,
    caches_pip,
    reports_to_github,
    secrets_from_repository,
    schedules,
)
