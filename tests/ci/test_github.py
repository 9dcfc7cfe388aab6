"""The GitHub Actions output of a run: the step summary written to a fake $GITHUB_STEP_SUMMARY
file, and annotations on the rule file and migration that failed, read back from the run's own
files (written by the summary code, as a pytest session writes them)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from selfheal.core.settings import Settings
from selfheal.run.github import Annotation, publish, rule_line
from selfheal.run.problem import Problem
from selfheal.run.reporting import Outcome
from selfheal.run.summary import Run, write_run_files
from selfheal.run.tickets import RunChanges

ROOT = Path(__file__).resolve().parents[2]
RULES = """# rules of public.events
table = "events"

[not_null]
columns = ["event_id"]

[[accepted_values]]
column = "event_name"
values = ["a"]

[[accepted_values]]  # the second one
column = "user_id"
values = ["b"]
"""


def _project(tmp_path: Path) -> Settings:
    (tmp_path / "checks" / "dq").mkdir(parents=True)
    (tmp_path / "checks" / "dq" / "events.toml").write_text(RULES)
    (tmp_path / "checks" / "sql").mkdir()
    shutil.copytree(ROOT / "migrations", tmp_path / "migrations")
    (tmp_path / "migrations" / "0099_oops.sql").write_text(
        "-- a careless change\nALTER TABLE public.events DROP COLUMN properties;\n"
    )
    environ = {
        "SELFHEAL_REPORTS_DIR": str(tmp_path / "reports"),
        "SELFHEAL_DQ_DIR": str(tmp_path / "checks" / "dq"),
        "SELFHEAL_DQ_SQL_DIR": str(tmp_path / "checks" / "sql"),
        "MIGRATIONS_DIR": str(tmp_path / "migrations"),
    }
    return Settings.from_env(environ, dotenv_path=None)


def _failed(nodeid: str, stage: str, message: str, code: str, obj: str) -> Outcome:
    problem = Problem(code, obj, message)
    return Outcome(nodeid, stage, "failed", message, 0.2, problems=(problem,), complete=True)


def _run(outcomes: list[Outcome]) -> Run:
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    return Run(now, now, outcomes, RunChanges())


OUTCOMES = [
    _failed(
        "checks/test_dq.py::test_dq[events.accepted_values.user_id]",
        "dq",
        "public.events.user_id: 3 rows hold values outside [b]",
        "dq.accepted_values",
        "public.events.user_id",
    ),
    _failed(
        "checks/test_preflight.py::test_migration_guard[0099_oops.sql]",
        "preflight",
        "guard refused:\n0099_oops.sql:2: drop table column public.events.properties: "
        "dropped by the migration [to allow: -- selfheal:allow-destructive ...]",
        "preflight.migration_guard",
        "0099_oops.sql",
    ),
    _failed(
        "checks/test_schema.py::test_table_exists[public.events]",
        "schema",
        "public.events is missing: 100% of it, run `selfheal migrate`",
        "schema.missing",
        "public.events",
    ),
    Outcome(
        "checks/test_preflight.py::test_migration_guard[0004_etl_quarantine_once.sql]",
        "preflight",
        "passed",
        "",
        0.1,
        warnings=("guard notes:\n0004_etl_quarantine_once.sql:24: the sample rows are in the way",),
    ),
]


def test_step_summary_and_annotations_of_a_run(tmp_path):
    settings = _project(tmp_path)
    write_run_files(settings.reports_dir, _run(OUTCOMES), "embedded", lambda text: text)
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    environ = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(tmp_path)}

    commands = publish(settings, environ)

    written = summary.read_text()
    assert written.startswith("earlier step\n# Run summary 2026-12-01")
    assert "| dq |" in written and "3 failed" in written
    by_title = {c.split("title=", 1)[1].split("::", 1)[0]: c for c in commands}
    dq = by_title["dq%3A checks/test_dq.py%3A%3Atest_dq[events.accepted_values.user_id]"]
    assert dq.startswith("::error file=checks/dq/events.toml,line=11,title=")
    assert dq.endswith("::public.events.user_id: 3 rows hold values outside [b]")
    guard = next(c for c in commands if "test_migration_guard[0099_oops.sql]" in c)
    assert guard.startswith("::error file=migrations/0099_oops.sql,line=2,")
    assert "guard refused:%0A0099_oops.sql:2: drop table column" in guard
    schema = next(c for c in commands if "test_table_exists" in c)
    assert schema.startswith("::error title=schema%3A ") and "file=" not in schema
    assert "100%25 of it" in schema
    (note,) = [c for c in commands if c.startswith("::warning")]
    assert note.startswith("::warning file=migrations/0004_etl_quarantine_once.sql,line=24,")
    assert len(commands) == 4


def test_a_job_without_a_run_says_so_and_annotates_nothing(tmp_path):
    settings = _project(tmp_path)
    summary = tmp_path / "step_summary.md"
    assert publish(settings, {"GITHUB_STEP_SUMMARY": str(summary)}) == []
    assert "no run summary" in summary.read_text()


def test_rule_line_finds_each_kind_of_table_header():
    assert rule_line(RULES, "not_null") == 4
    assert rule_line(RULES, "accepted_values[0]") == 7
    assert rule_line(RULES, "accepted_values[1]") == 11
    assert rule_line(RULES, "") == 1
    assert rule_line(RULES, "unique") == 1


def _unescape(text: str) -> str:
    for code, char in (("%2C", ","), ("%3A", ":"), ("%0A", "\n"), ("%0D", "\r"), ("%25", "%")):
        text = text.replace(code, char)
    return text


@given(st.text(), st.text(min_size=1))
def test_any_message_and_title_survive_the_workflow_command(message, title):
    command = Annotation("error", title, message, "a,b:c.sql", 3).command()
    head, _, data = command.partition("::")[2].partition("::")
    assert "\n" not in command and "\r" not in command
    assert _unescape(data) == message
    properties = dict(item.split("=", 1) for item in head.removeprefix("error ").split(","))
    assert _unescape(properties["title"]) == title
    assert _unescape(properties["file"]) == "a,b:c.sql"
