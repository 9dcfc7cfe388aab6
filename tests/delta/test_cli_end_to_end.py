"""End to end on a database of its own: `pytest -m schema` fails naming the missing index,
`selfheal delta --out` writes it, `selfheal migrate` applies it, and then all is quiet."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from selfheal.core.db import connect

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(args: list[str], dsn: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SUPABASE_DB_URL": dsn, "MIGRATIONS_DIR": str(ROOT / "migrations")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_check_delta_migrate_recheck(migrated_db, tmp_path):
    with connect(migrated_db, autocommit=True) as conn:
        conn.execute("DROP INDEX public.events_user_id_idx")
        conn.execute("ALTER TABLE public.events DISABLE ROW LEVEL SECURITY")
    for name in ("checks", "pytest.ini"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, tmp_path / name)
    check = [str(BIN / "pytest"), "-m", "schema", "-q", "-p", "no:cacheprovider"]

    failing = _run(check, migrated_db, tmp_path)
    assert failing.returncode == 1, failing.stdout[-2000:]
    assert "test_index[public.events_user_id_idx]" in failing.stdout
    assert "test_table[public.events]" in failing.stdout
    assert "rls_enabled expected True, live has False" in failing.stdout

    after_the_last = max(int(f.name[:4]) for f in (ROOT / "migrations").glob("[0-9]*.sql")) + 1
    out = tmp_path / f"{after_the_last:04d}_delta.sql"
    written = _run([str(BIN / "selfheal"), "delta", "--out", str(out)], migrated_db, tmp_path)
    assert written.returncode == 0, written.stderr
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS" in out.read_text()

    folder = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", folder)
    shutil.copy(out, folder / out.name)
    env_dir = {"MIGRATIONS_DIR": str(folder)}
    applied = subprocess.run(
        [str(BIN / "selfheal"), "migrate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "SUPABASE_DB_URL": migrated_db, **env_dir},
        timeout=300,
    )
    assert applied.returncode == 0, applied.stderr
    assert f"applied {out.name}" in applied.stdout

    passing = _run(check, migrated_db, tmp_path)
    assert passing.returncode == 0, passing.stdout[-2000:]
    again = _run([str(BIN / "selfheal"), "delta", "--out", str(out) + ".2"], migrated_db, tmp_path)
    assert again.returncode == 0 and "nothing written" in again.stderr
    assert not Path(str(out) + ".2").exists()
