"""The command line and `pytest -m preflight`, run as a user runs them: in a subprocess."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SUPABASE_")}
    full_env.update(env)
    return subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def _selfheal(*args: str, **env: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "selfheal", *args], env)


def test_migrate_twice_applies_nothing_the_second_time(shimmed_db):
    first = _selfheal("migrate", SUPABASE_DB_URL=shimmed_db)
    second = _selfheal("migrate", SUPABASE_DB_URL=shimmed_db)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_domain_tables.sql" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "nothing applied" in second.stdout


def test_verbose_logs_what_is_done_on_stderr_and_quiet_logs_nothing(shimmed_db):
    verbose = _selfheal("--verbose", "migrate", SUPABASE_DB_URL=shimmed_db)
    quiet = _selfheal("migrate", SUPABASE_DB_URL=shimmed_db)
    assert verbose.returncode == 0, verbose.stderr
    assert "INFO selfheal.migrate.runner: applied 0001_domain_tables.sql" in verbose.stderr
    assert "applied 0001_domain_tables.sql" in verbose.stdout  # the command's own output
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""


def test_migrate_dry_run_changes_nothing(shimmed_db):
    result = _selfheal("migrate", "--dry-run", SUPABASE_DB_URL=shimmed_db)
    assert "would apply 0001_domain_tables.sql" in result.stdout
    with psycopg.connect(shimmed_db) as conn:
        assert conn.execute("SELECT to_regclass('public.events')").fetchone()[0] is None


def test_unreachable_database_is_one_clear_line():
    result = _selfheal("migrate", SUPABASE_DB_URL="postgresql://app:pw-hidden@127.0.0.1:1/db")
    assert result.returncode == 2
    assert "127.0.0.1:1" in result.stderr
    assert "pw-hidden" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_wrong_password_is_named_without_leaking_it(pg_server, shimmed_db):
    """A role that must authenticate with a password, through a pg_hba rule added for it."""
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS pw_user")
        conn.execute("CREATE ROLE pw_user LOGIN PASSWORD 'right-password'")
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        original = hba.read_text()
        hba.write_text("host all pw_user 127.0.0.1/32 scram-sha-256\n" + original)
        conn.execute("SELECT pg_reload_conf()")
        try:
            dsn = f"postgresql://pw_user:wrong-password@127.0.0.1:{pg_server.port}/postgres"
            result = _selfheal("migrate", SUPABASE_DB_URL=dsn)
        finally:
            hba.write_text(original)
            conn.execute("SELECT pg_reload_conf()")
    assert result.returncode == 2
    assert "password authentication failed" in result.stderr
    assert "pw_user@127.0.0.1" in result.stderr
    assert "wrong-password" not in result.stderr + result.stdout


def test_missing_variable_value_and_bad_tz_are_named():
    result = _selfheal("migrate", TZ="Moon/Crater", SUPABASE_DB_URL="postgresql://x@127.0.0.1:1/d")
    assert result.returncode == 2
    assert "TZ" in result.stderr and "Moon/Crater" in result.stderr


def test_missing_migrations_folder_is_named(shimmed_db):
    result = _selfheal("migrate", SUPABASE_DB_URL=shimmed_db, MIGRATIONS_DIR="/no/such/folder")
    assert result.returncode == 2
    assert "/no/such/folder" in result.stderr


def test_syntax_error_names_the_file_and_changes_nothing(shimmed_db, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", folder)
    (folder / "0099_broken.sql").write_text("CREATE TABLE IF NOT EXISTS t99 (x int);\nSELEC 1;")
    result = _selfheal("migrate", SUPABASE_DB_URL=shimmed_db, MIGRATIONS_DIR=str(folder))
    assert result.returncode == 2
    assert "0099_broken.sql" in result.stderr and "syntax error" in result.stderr
    with psycopg.connect(shimmed_db) as conn:
        assert conn.execute("SELECT to_regclass('t99')").fetchone()[0] is None


def test_guard_command_refuses_a_destructive_migration(tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", folder)
    (folder / "0099_drop.sql").write_text("DROP INDEX public.events_user_id_idx;")
    github = {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(tmp_path)}
    result = _selfheal("guard", MIGRATIONS_DIR=str(folder), **github)
    assert result.returncode == 1
    assert "0099_drop.sql:1: drop index public.events_user_id_idx" in result.stdout
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert annotations[0].startswith(
        "::error file=migrations/0099_drop.sql,line=1,title=guard%3A drop index "
    )
    refused = [line for line in result.stdout.splitlines() if line.startswith("0099_drop.sql")]
    assert len(annotations) == len(refused)  # one per refused finding


@pytest.fixture
def destructive_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", folder)
    (folder / "0099_oops.sql").write_text(
        "-- a careless change\nALTER TABLE public.events DROP COLUMN properties;\n"
    )
    return folder


def _preflight(reports: Path, **env: str) -> subprocess.CompletedProcess:
    """`pytest -m preflight` in this project, its reports and tickets written under `reports`
    (never into the project's own backlog/)."""
    args = [sys.executable, "-m", "pytest", "-m", "preflight", "-q", "-p", "no:cacheprovider"]
    folders = {"SELFHEAL_REPORTS_DIR": str(reports), "SELFHEAL_BACKLOG_DIR": str(reports / "bl")}
    return _run([*args, f"--html={reports}/r.html"], {**folders, **env})


def test_preflight_passes_on_the_embedded_default(tmp_path):
    result = _preflight(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    report = (tmp_path / "exec" / "preflight_report.md").read_text()
    assert "result: passed" in report
    assert "test_migration_guard[0003_upsert_functions.sql]" in report


def test_preflight_shows_what_the_guard_allowed_and_could_not_judge(tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", folder)
    (folder / "0098_odd.sql").write_text(
        "CREATE TABLE IF NOT EXISTS public.odd (id int PRIMARY KEY, shape point NOT NULL);\n"
        "ALTER TABLE public.odd ENABLE ROW LEVEL SECURITY;\n"
    )
    (folder / "0099_prune.sql").write_text(
        "-- selfheal:allow-destructive data-loss table public.events: pruned in PR 9\n"
        "DELETE FROM public.events WHERE occurred_at < now() - interval '1 year';\n"
    )
    result = _preflight(tmp_path / "out", MIGRATIONS_DIR=str(folder))
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert not [line for line in failed if "test_migration_guard" in line], failed
    assert "0099_prune.sql:2: data-loss table public.events" in result.stdout
    assert "(waived: pruned in PR 9)" in result.stdout
    assert "public.odd: not seeded before 0099_prune.sql" in result.stdout


def test_preflight_fails_naming_file_and_object(destructive_folder, tmp_path):
    result = _preflight(tmp_path, MIGRATIONS_DIR=str(destructive_folder))
    assert result.returncode == 1
    assert "test_migration_guard[0099_oops.sql]" in result.stdout
    assert "0099_oops.sql:2: drop table column public.events.properties" in result.stdout
    report = (tmp_path / "exec" / "preflight_report.md").read_text()
    assert "result: FAILED" in report


def test_the_whole_pipeline_passes_under_xdist_on_the_embedded_default(tmp_path):
    """Workers share the controller's embedded database, and stages wait for earlier ones."""
    args = [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider"]
    env = {"SELFHEAL_REPORTS_DIR": str(tmp_path), "SELFHEAL_BACKLOG_DIR": str(tmp_path / "bl")}
    result = _run([*args, f"--html={tmp_path}/r.html"], env)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " failed" not in result.stdout.splitlines()[-1]
    summary = next((tmp_path / "exec").glob("run_summary_*.md")).read_text()
    assert "| etl | 4 | 0 |" in summary.replace("  ", " ")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:pa/ss-zq81@127.0.0.1:1/prod",  # libpq would read a host and a port
        "postgresql://app:p@ss-zq81@127.0.0.1:1/prod",  # libpq would split at the first @
        "postgresql://app:p?ss-zq81@127.0.0.1:1/prod",  # unambiguous: libpq reads it right
    ],
)
def test_a_password_with_reserved_characters_appears_in_no_output(tmp_path, url):
    """Preflight with the live target unreachable or refused: every report, ticket and line of
    output is searched for any piece of the password."""
    env = {
        "SUPABASE_DB_URL": url,
        "SELFHEAL_BACKLOG_DIR": str(tmp_path / "backlog"),
        "SELFHEAL_REPORTS_DIR": str(tmp_path / "reports"),
    }
    result = _preflight(tmp_path / "reports", **env)
    cli = _run([sys.executable, "-m", "selfheal", "migrate"], env)
    assert result.returncode == 1 and cli.returncode == 2
    written = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    everything = "".join([result.stdout, result.stderr, cli.stdout, cli.stderr, *written])
    assert "zq81" not in everything
    assert "Traceback" not in cli.stderr
    refused = "?" not in url  # a URL libpq would mis-split is refused, naming its variable
    assert ("SUPABASE_DB_URL" in cli.stderr and "percent-encode" in cli.stderr) == refused
