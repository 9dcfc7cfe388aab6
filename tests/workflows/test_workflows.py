"""The five workflows: valid against the GitHub workflow schema (check-jsonschema's vendored
copy, offline) and true to what the project promises of them (rules.py). A broken workflow
fails these tests."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from .rules import EXPECTED, RULES, cron_problems, repeated_work, unpinned_actions

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def _load(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def _schema_check(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
        + [str(p) for p in paths],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_five_workflows_exist():
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == sorted(EXPECTED)


def test_workflows_match_the_github_schema():
    result = _schema_check(*sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "broken",
    [
        "on: push\njobs:\n  a:\n    steps:\n      - run: echo no runs-on\n",
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: x\n        run: both\n",
        "on: {pushh: {}}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{run: echo}]\n",
    ],
    ids=["no-runs-on", "uses-and-run", "unknown-event"],
)
def test_the_schema_check_rejects_a_broken_workflow(tmp_path, broken):
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    assert _schema_check(path).returncode != 0


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_workflow_keeps_the_promise(path, rule):
    assert rule(path.name, _load(path)) == []


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(path):
    assert unpinned_actions(path.name, path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "line",
    [
        "      - uses: actions/checkout@v4",
        "      - uses: actions/checkout@main",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "      - uses: actions/checkout@11bd719 # v4.2.2",
    ],
)
def test_an_unpinned_action_is_named(line):
    assert unpinned_actions("x.yml", f"steps:\n{line}\n") == [
        f"x.yml:2: `{line.strip()}` is not pinned to a commit SHA with its version"
    ]


def test_no_two_workflows_do_the_same_work():
    workflows = {path.name: _load(path) for path in WORKFLOWS.glob("*.yml")}
    assert repeated_work(workflows) == []
    nightly = copy.deepcopy(workflows["nightly-etl.yml"])
    nightly["jobs"]["etl"]["steps"].append({"run": ".venv/bin/pytest -m dq"})
    assert repeated_work({**workflows, "nightly-etl.yml": nightly}) == [
        "nightly-etl.yml repeats `pytest -m dq` of data_quality.yml"
    ]


def _drop_concurrency(w):
    del w["concurrency"]


def _cancel_in_progress(w):
    w["concurrency"]["cancel-in-progress"] = True


def _no_upload(w):
    for job in w["jobs"].values():
        job["steps"] = [s for s in job["steps"] if "upload-artifact" not in str(s.get("uses"))]


def _literal_secret(w):
    next(iter(w["jobs"].values()))["env"]["SUPABASE_DB_URL"] = "postgresql://u:hunter2@db/x"


def _no_setup(w):
    for job in w["jobs"].values():
        job["steps"] = [s for s in job["steps"] if "make setup" not in str(s.get("run"))]


def _bad_cron(w):
    w["on"]["schedule"] = [{"cron": "0 25 * * 0"}]


def _no_pip_cache(w):
    for job in w["jobs"].values():
        for step in job["steps"]:
            step.get("with", {}).pop("cache", None)


def _no_junit(w):
    for job in w["jobs"].values():
        for step in job["steps"]:
            if "pytest" in str(step.get("run")):
                step["run"] = step["run"].split(" --junitxml")[0]


def _no_step_summary(w):
    for job in w["jobs"].values():
        job["steps"] = [s for s in job["steps"] if "selfheal ci" not in str(s.get("run"))]


def _other_command(w):
    for job in w["jobs"].values():
        for step in job["steps"]:
            if "pytest -m health" in str(step.get("run")):
                step["run"] = ".venv/bin/pytest -m dq"


@pytest.mark.parametrize(
    "mutate",
    [
        _drop_concurrency,
        _cancel_in_progress,
        _no_upload,
        _literal_secret,
        _no_setup,
        _bad_cron,
        _other_command,
        _no_pip_cache,
        _no_junit,
        _no_step_summary,
    ],
    ids=lambda m: m.__name__.strip("_"),
)
def test_each_rule_catches_its_breakage(mutate):
    workflow = copy.deepcopy(_load(WORKFLOWS / "system_health.yml"))
    mutate(workflow)
    problems = [p for rule in RULES for p in rule("system_health.yml", workflow)]
    assert problems


@pytest.mark.parametrize("cron", ["0 2 * * *", "*/15 0-6 1,15 * 1-5", "0 6 * * 0", "30 23 31 12 7"])
def test_valid_crons(cron):
    assert cron_problems(cron) == []


@pytest.mark.parametrize(
    "cron",
    [
        "0 2 * *",
        "60 2 * * *",
        "0 24 * * *",
        "0 0 0 * *",
        "0 0 * 13 *",
        "5-1 * * * *",
        "*/0 * * * *",
        "a * * * *",
    ],
)
def test_invalid_crons(cron):
    assert cron_problems(cron)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 59),
    st.integers(0, 23),
    st.integers(1, 31),
    st.integers(1, 12),
    st.integers(0, 7),
)
def test_any_in_range_cron_is_valid_and_out_of_range_is_not(minute, hour, day, month, weekday):
    assert cron_problems(f"{minute} {hour} {day} {month} {weekday}") == []
    assert cron_problems(f"{minute + 60} {hour} {day} {month} {weekday}")
