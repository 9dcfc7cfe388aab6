from pathlib import Path

import psycopg
import pytest

from selfheal.migrate.files import MigrationFilesError, discover
from selfheal.migrate.runner import MigrationError, migrate, read_ledger

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_second_run_applies_nothing(shimmed_db):
    first = migrate(shimmed_db, MIGRATIONS)
    second = migrate(shimmed_db, MIGRATIONS)
    assert [m.filename for m in first.applied] == [m.filename for m in discover(MIGRATIONS)]
    assert second.applied == []


def test_dry_run_lists_without_applying(shimmed_db):
    result = migrate(shimmed_db, MIGRATIONS, dry_run=True)
    assert len(result.applied) == len(discover(MIGRATIONS))
    with psycopg.connect(shimmed_db) as conn:
        assert read_ledger(conn) == {}
        assert conn.execute("SELECT to_regclass('public.events')").fetchone()[0] is None


def test_ledger_records_checksums(shimmed_db):
    migrate(shimmed_db, MIGRATIONS)
    with psycopg.connect(shimmed_db) as conn:
        ledger = read_ledger(conn)
    assert {v: a.checksum for v, a in ledger.items()} == {
        m.version: m.checksum for m in discover(MIGRATIONS)
    }


def test_edited_applied_migration_is_refused_by_name(shimmed_db, tmp_path):
    folder = _folder(tmp_path, {"0001_a.sql": "CREATE TABLE IF NOT EXISTS a (x int);"})
    migrate(shimmed_db, folder)
    (folder / "0001_a.sql").write_text("CREATE TABLE IF NOT EXISTS a (x bigint);")
    (folder / "0002_b.sql").write_text("CREATE TABLE IF NOT EXISTS b (x int);")
    with pytest.raises(MigrationError, match="0001_a.sql"):
        migrate(shimmed_db, folder)
    with psycopg.connect(shimmed_db) as conn:  # nothing after the refusal was applied
        assert conn.execute("SELECT to_regclass('public.b')").fetchone()[0] is None


def test_failing_file_rolls_back_whole_and_stops(shimmed_db, tmp_path):
    folder = _folder(
        tmp_path,
        {
            "0001_ok.sql": "CREATE TABLE IF NOT EXISTS ok (x int);",
            "0002_bad.sql": "CREATE TABLE IF NOT EXISTS half (x int);\nSELEC oops;",
            "0003_later.sql": "CREATE TABLE IF NOT EXISTS later (x int);",
        },
    )
    with pytest.raises(MigrationError) as caught:
        migrate(shimmed_db, folder)
    assert "0002_bad.sql" in str(caught.value)
    assert "syntax error" in str(caught.value)
    with psycopg.connect(shimmed_db) as conn:
        present = conn.execute(
            "SELECT to_regclass('ok') IS NOT NULL, to_regclass('half') IS NOT NULL, "
            "to_regclass('later') IS NOT NULL"
        ).fetchone()
        assert present == (True, False, False)
        assert set(read_ledger(conn)) == {"0001"}


def test_no_transaction_file_runs_concurrent_index(shimmed_db, tmp_path):
    folder = _folder(
        tmp_path,
        {
            "0001_t.sql": "CREATE TABLE IF NOT EXISTS t (x int);",
            "0002_idx.sql": "-- selfheal: no-transaction\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x_idx ON t (x);",
        },
    )
    assert len(migrate(shimmed_db, folder).applied) == 2
    with psycopg.connect(shimmed_db) as conn:
        assert conn.execute("SELECT to_regclass('t_x_idx')").fetchone()[0] is not None


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"01-bad-name.sql": "SELECT 1"}, "01-bad-name.sql"),
        ({"0001_a.sql": "SELECT 1", "0001_b.sql": "SELECT 1"}, "version 0001"),
    ],
)
def test_bad_folder_contents_are_named(tmp_path, files, message):
    with pytest.raises(MigrationFilesError, match=message):
        discover(_folder(tmp_path, files))


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(MigrationFilesError, match="does not exist"):
        discover(tmp_path / "nope")


def test_file_that_commits_part_of_itself_is_refused_before_anything_runs(shimmed_db, tmp_path):
    folder = _folder(
        tmp_path,
        {
            "0001_ok.sql": "CREATE TABLE IF NOT EXISTS ok (x int);",
            "0002_commits.sql": "CREATE TABLE IF NOT EXISTS half (x int);\nCOMMIT;\nSELEC oops;",
        },
    )
    with pytest.raises(MigrationError) as caught:
        migrate(shimmed_db, folder)
    message = str(caught.value)
    assert "0002_commits.sql was not applied" in message and "line 2" in message
    assert "rolled back" not in message
    with psycopg.connect(shimmed_db) as conn:  # refused before the first file ran
        assert conn.execute("SELECT to_regclass('ok'), to_regclass('half')").fetchone() == (
            None,
            None,
        )
        assert read_ledger(conn) == {}


def test_session_level_set_is_refused(shimmed_db, tmp_path):
    folder = _folder(tmp_path, {"0001_set.sql": "SET search_path = nowhere;\nSELECT 1;"})
    with pytest.raises(MigrationError, match="line 1: .*SET LOCAL"):
        migrate(shimmed_db, folder)
