"""`python -m etl` as a subprocess against the fakes: exit codes, summaries, secrets, locks,
concurrent runs, and a run killed mid-load (SIGKILL) that converges when re-run."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta

import psycopg
import pytest
from etl_support import ETL_COMMAND, NOW, domain_state, fake_env, runs

from etl import ledger
from selfheal.core.locks import advisory_locks

WAIT_SECONDS = 60
DAYS = [
    "--since",
    (NOW.date() - timedelta(days=5)).isoformat(),
    "--until",
    (NOW.date() - timedelta(days=1)).isoformat(),
]


def etl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ETL_COMMAND, *args], env=env, capture_output=True, text=True, timeout=WAIT_SECONDS
    )


def start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*ETL_COMMAND, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def job_lines(stdout: str) -> str:
    """The output after the first line, which names the target (redacted)."""
    target, _, rest = stdout.partition("\n")
    assert target.startswith("target: ") and target.endswith("(SUPABASE_DB_URL)"), target
    return rest


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def etl_backends(dsn: str, waiting: str | None = None) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'selfheal-etl'"
            " AND (%s::text IS NULL OR wait_event_type = %s)",
            (waiting, waiting),
        ).fetchone()[0]


def test_all_prints_one_summary_line_per_job_and_is_quiet_on_stderr(migrated_db, fakes):
    env = fake_env(fakes, migrated_db)
    done = etl(env, "all")
    assert done.returncode == 0, done.stderr
    lines = job_lines(done.stdout).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "events",
        "source_a",
        "source_b",
        "metrics",
        "all",
    ]
    for line in lines:
        for field in ("read=", "inserted=", "updated=", "unchanged=", "quarantined=", "seconds="):
            assert field in line
    assert done.stderr == ""
    dry = etl(env, "source-a", "--dry-run")
    assert dry.returncode == 0 and "[dry-run]" in dry.stdout and "would be inserted=0" in dry.stdout


def test_failures_exit_non_zero_with_a_clear_message_and_no_secret(migrated_db, fakes):
    env = fake_env(fakes, migrated_db) | {"GENERIC_SOURCE_A_TOKEN": "s3cret-token-value"}
    done = etl(env, "source-a")
    assert done.returncode == 1
    assert "GET /v1/ad-stats answered HTTP 401" in done.stderr
    assert "s3cret-token-value" not in done.stdout + done.stderr
    assert runs(migrated_db)[0]["status"] == "failed"


def test_bad_usage_exits_2(migrated_db, fakes):
    env = fake_env(fakes, migrated_db)
    assert etl(env, "nope").returncode == 2
    bad_date = etl(env, "events", "--since", "yesterday")
    assert bad_date.returncode == 2 and "'yesterday' is not a date" in bad_date.stderr
    unreachable = env | {"SUPABASE_DB_URL": "postgresql://u:pw-do-not-print@127.0.0.1:1/x"}
    down = etl(unreachable, "events")
    assert down.returncode == 1 and "cannot connect to u@127.0.0.1:1/x" in down.stderr
    assert "pw-do-not-print" not in down.stderr
    backfill = etl(env | {"RUN_BACKFILL": "true"}, "events")
    assert backfill.returncode == 1 and "BACKFILL_START" in backfill.stderr


def test_backfill_from_the_environment(migrated_db, fakes):
    env = fake_env(fakes, migrated_db) | {
        "RUN_BACKFILL": "true",
        "BACKFILL_SOURCES": "source_a",
        "BACKFILL_START": DAYS[1],
        "BACKFILL_END": DAYS[3],
    }
    done = etl(env, "all")
    assert done.returncode == 0, done.stderr
    modes = {(r["source"], r["mode"]) for r in runs(migrated_db)}
    assert ("source_a", "backfill") in modes and ("source_b", "incremental") in modes
    assert len([r for r in runs(migrated_db) if r["mode"] == "backfill"]) == 5


def test_a_held_lock_makes_a_second_run_exit_cleanly(migrated_db, fakes):
    with advisory_locks(migrated_db, ["source_a"]) as taken:
        assert taken
        busy = etl(fake_env(fakes, migrated_db), "source-a")
    assert busy.returncode == 75
    assert "another run holds its lock" in busy.stderr and "Traceback" not in busy.stderr
    assert runs(migrated_db) == []


def test_two_concurrent_runs_serialise_without_interleaving(migrated_db, fakes):
    env = fake_env(fakes, migrated_db)
    with advisory_locks(migrated_db, ["source_b"]) as taken:
        assert taken
        both = [start(env, "source-b", *DAYS, "--lock-wait", "60") for _ in range(2)]
        wait_until(lambda: etl_backends(migrated_db, "Lock") == 2, "both runs to wait")
    outputs = [process.communicate(timeout=WAIT_SECONDS) for process in both]
    assert [process.returncode for process in both] == [0, 0], outputs
    summaries = sorted(out for out, _ in outputs)
    inserted = [int(s.split("inserted=")[1].split()[0]) for s in summaries]
    unchanged = [int(s.split("unchanged=")[1].split()[0]) for s in summaries]
    assert sorted(inserted) == [0, unchanged[inserted.index(0)]] and max(inserted) > 0
    ledger_rows = runs(migrated_db)
    assert [r["status"] for r in ledger_rows] == ["succeeded", "succeeded"]
    assert ledger_rows[0]["finished_at"] <= ledger_rows[1]["started_at"]


def test_a_run_killed_mid_load_converges_when_run_again(migrated_db, second_db, fakes):
    env = fake_env(fakes, migrated_db)
    assert etl(fake_env(fakes, second_db), "source-b", *DAYS).returncode == 0
    with psycopg.connect(migrated_db) as blocker:
        # The loader's INSERT needs ROW EXCLUSIVE: SHARE holds it inside its open transaction.
        blocker.execute("LOCK TABLE public.ads_source_b IN SHARE MODE")
        victim = start(env, "source-b", *DAYS)
        wait_until(lambda: etl_backends(migrated_db, "Lock") == 1, "the load to block")
        victim.kill()
        victim.wait(timeout=WAIT_SECONDS)
        assert victim.returncode == -9
        blocker.rollback()
    wait_until(lambda: etl_backends(migrated_db) == 0, "the killed session to end")
    assert domain_state(migrated_db)["ads_source_b"] == []
    assert [r["status"] for r in runs(migrated_db)] == ["running"]
    again = etl(env, "source-b", *DAYS)
    assert again.returncode == 0, again.stderr
    assert domain_state(migrated_db) == domain_state(second_db)
    statuses = [(r["status"], r["error"]) for r in runs(migrated_db)]
    assert statuses == [("failed", ledger.ABANDONED), ("succeeded", None)]


@pytest.mark.parametrize("job", ["events", "source-a", "source-b", "metrics"])
def test_each_job_runs_from_the_command_line(migrated_db, fakes, job):
    done = etl(fake_env(fakes, migrated_db), job, *DAYS)
    assert done.returncode == 0, done.stderr
    assert job_lines(done.stdout).startswith(job.replace("-", "_") + ": read=")


def test_selfheal_etl_is_the_same_command(migrated_db, fakes):
    """`selfheal etl ...` (the one CLI) runs the same jobs with the same output and exit codes."""
    env = fake_env(fakes, migrated_db)
    selfheal_etl = [ETL_COMMAND[0], "-m", "selfheal", "etl"]
    done = subprocess.run(
        [*selfheal_etl, "source-a", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert done.returncode == 0, done.stderr
    assert job_lines(done.stdout).startswith("source_a: ") and "[dry-run]" in done.stdout
    usage = subprocess.run([*selfheal_etl, "nope"], env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: selfheal etl" in usage.stderr


def _without_sources(env: dict[str, str]) -> dict[str, str]:
    names = ("_BASE_URL", "_TOKEN")
    return {k: v for k, v in env.items() if not k.endswith(names) and k != "SUPABASE_DB_URL"}


def test_a_typo_in_the_job_lists_the_jobs():
    done = etl(_without_sources(dict(os.environ)), "event")
    assert done.returncode == 2
    assert "unknown job 'event'; known: events, source_a, source_b, metrics, all" in done.stderr


def test_an_inverted_window_is_a_usage_error():
    done = etl(dict(os.environ), "all", "--since", "2026-11-20", "--until", "2026-11-10")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (
        "etl all: --since 2026-11-20 is after --until 2026-11-10: the window is empty; "
        "give --since on or before --until"
    )


def test_a_missing_source_setting_is_named_once_with_the_fake_sources_as_the_way_out():
    done = etl(_without_sources(dict(os.environ)), "events")
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("etl events: ") and "not set (needed by events)" in line
    assert line.count("EVENTS_BASE_URL") == 1 and line.count("EVENTS_SOURCE_TOKEN") == 1
    assert "--fake SEED" in line
    everything = etl(_without_sources(dict(os.environ)), "all")
    assert everything.returncode == 2
    assert everything.stderr.count("SOURCE_A_BASE_URL") == 1


def _preflight_sources(env: dict[str, str], reports) -> subprocess.CompletedProcess:
    command = [ETL_COMMAND[0], "-m", "pytest", "-m", "preflight", "-k", "test_source_answers"]
    command += ["-p", "no:cacheprovider", "-q", f"--html={reports}/r.html"]
    folders = {"SELFHEAL_REPORTS_DIR": str(reports), "SELFHEAL_BACKLOG_DIR": str(reports / "bl")}
    return subprocess.run(
        command, env=env | folders, capture_output=True, text=True, timeout=WAIT_SECONDS * 3
    )


def test_preflight_asks_each_configured_source_once_and_never_shows_its_token(
    migrated_db, fakes, tmp_path
):
    env = fake_env(fakes, migrated_db)
    answered = _preflight_sources(env, tmp_path / "ok")
    assert "3 passed" in answered.stdout, answered.stdout[-2000:]
    wrong = env | {"GENERIC_SOURCE_A_TOKEN": "s3cret-wrong-token"}
    refused = _preflight_sources(wrong, tmp_path / "refused")
    assert refused.returncode == 1
    assert "FAILED checks/test_preflight.py::test_source_answers[source_a]" in refused.stdout
    assert "HTTP 401" in refused.stdout
    assert "s3cret-wrong-token" not in refused.stdout + refused.stderr
