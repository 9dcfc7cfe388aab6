"""The Supabase CLI's migration history: both tools see each other's migrations as applied."""

from pathlib import Path

import psycopg
import pytest

from selfheal.migrate.ledger import is_supabase_folder
from selfheal.migrate.runner import MigrationError, migrate, read_ledger

FIRST = ("20240101000000_create_notes.sql", "CREATE TABLE IF NOT EXISTS notes (id int);")
SECOND = (
    "20240102093000_add_body.sql",
    "ALTER TABLE notes ADD COLUMN IF NOT EXISTS body text;\nCOMMENT ON TABLE notes IS 'notes';",
)

# The statements the Supabase CLI runs before `db push` (pkg/migration/history.go), so the table
# here is the table as the CLI creates it.
CLI_CREATES_ITS_TABLE = [
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations "
    "(version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
]
CLI_LISTS_APPLIED = "SELECT version FROM supabase_migrations.schema_migrations ORDER BY version"


@pytest.fixture
def supabase_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "supabase" / "migrations"
    folder.mkdir(parents=True)
    (folder.parent / "config.toml").write_text('project_id = "app"\n')
    for name, text in (FIRST, SECOND):
        (folder / name).write_text(text)
    return folder


def cli_push(dsn: str, name: str, text: str) -> None:
    """What `supabase db push` does for one file: run it, record version, name, statements."""
    version, _, rest = name.partition("_")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in CLI_CREATES_ITS_TABLE:
            conn.execute(statement)
        with conn.transaction():
            conn.execute(text)
            conn.execute(
                "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) "
                "VALUES (%s, %s, %s)",
                (version, rest.removesuffix(".sql"), [text]),
            )


def cli_applied(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [row[0] for row in conn.execute(CLI_LISTS_APPLIED)]


def test_selfheal_first_then_the_cli_sees_nothing_pending(shimmed_db, supabase_folder):
    result = migrate(shimmed_db, supabase_folder)
    assert [m.filename for m in result.applied] == [FIRST[0], SECOND[0]]
    assert cli_applied(shimmed_db) == ["20240101000000", "20240102093000"]
    with psycopg.connect(shimmed_db) as conn:
        name, statements = conn.execute(
            "SELECT name, statements FROM supabase_migrations.schema_migrations "
            "WHERE version = '20240102093000'"
        ).fetchone()
        assert name == "add_body" and len(statements) == 2
        assert (
            conn.execute("SELECT to_regclass('selfheal.schema_migrations')").fetchone()[0] is None
        )


def test_the_cli_first_then_selfheal_applies_only_the_rest(shimmed_db, supabase_folder):
    cli_push(shimmed_db, *FIRST)
    result = migrate(shimmed_db, supabase_folder)
    assert [m.filename for m in result.applied] == [SECOND[0]]
    assert cli_applied(shimmed_db) == ["20240101000000", "20240102093000"]
    with psycopg.connect(shimmed_db) as conn:
        ledger = read_ledger(conn, supabase_folder)
    assert all(applied.checksum for applied in ledger.values())  # the CLI's file was adopted
    assert migrate(shimmed_db, supabase_folder).applied == []


def test_a_file_the_cli_applied_is_adopted_then_its_edits_are_refused(shimmed_db, supabase_folder):
    cli_push(shimmed_db, *FIRST)
    migrate(shimmed_db, supabase_folder)
    (supabase_folder / FIRST[0]).write_text(FIRST[1] + "\nDROP TABLE notes;")
    with pytest.raises(MigrationError, match=FIRST[0]):
        migrate(shimmed_db, supabase_folder)


def test_where_the_cli_table_exists_it_is_the_ledger_for_any_folder(shimmed_db, tmp_path):
    cli_push(shimmed_db, "0001_first.sql", "CREATE TABLE IF NOT EXISTS first (x int);")
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_first.sql").write_text("CREATE TABLE IF NOT EXISTS first (x int);")
    (folder / "0002_second.sql").write_text("CREATE TABLE IF NOT EXISTS second (x int);")
    assert [m.filename for m in migrate(shimmed_db, folder).applied] == ["0002_second.sql"]
    assert cli_applied(shimmed_db) == ["0001", "0002"]


def test_a_failing_file_leaves_no_row_in_either_table(shimmed_db, supabase_folder):
    (supabase_folder / "20240103000000_broken.sql").write_text("CREATE TABLE t3 (x int);\nSELEC 1;")
    with pytest.raises(MigrationError, match="20240103000000_broken.sql"):
        migrate(shimmed_db, supabase_folder)
    assert cli_applied(shimmed_db) == ["20240101000000", "20240102093000"]
    with psycopg.connect(shimmed_db) as conn:
        assert conn.execute("SELECT to_regclass('public.t3')").fetchone()[0] is None
        assert set(read_ledger(conn, supabase_folder)) == {"20240101000000", "20240102093000"}


def test_a_folder_named_supabase_without_the_cli_config_is_not_a_cli_project(tmp_path):
    """A checkout that merely lives in a folder called `supabase` keeps selfheal's ledger."""
    folder = tmp_path / "supabase" / "migrations"
    folder.mkdir(parents=True)
    assert not is_supabase_folder(folder)
    (folder.parent / "config.toml").write_text('project_id = "app"\n')
    assert is_supabase_folder(folder)
