"""The fault catalog's ledger faults, on a migrated database, through preflight and the doctor:

- a deleted ledger row (of a file whose objects all exist) is an error naming the file and what
  exists, with the statement that records it; `selfheal doctor --heal` records it (the same
  checksum), nothing of the file runs again, and preflight passes; but not when one of those
  objects has gone since the run that found it (the file must then run again);
- an applied migration edited since is one ticket with one piece of advice (restore it), not a
  second one telling to regenerate the schema lock;
- a new migration (its objects do not exist yet) is pending, as ever: no ledger error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from tests.faults.accounting import Fate, record
from tests.faults.conftest import ROOT, Pipeline

LEDGER_UNRECORDED = "preflight.ledger_unrecorded"
DELETED = "0003_upsert_functions.sql"


def _ledger(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT version, checksum FROM selfheal.schema_migrations").fetchall()
    return dict(rows)


def _function_writes(dsn: str) -> list[int]:
    """The transaction that last wrote each upsert function (CREATE OR REPLACE writes anew)."""
    with psycopg.connect(dsn) as conn:
        query = "SELECT xmin::text::bigint FROM pg_proc WHERE proname LIKE 'upsert\\_%' ORDER BY 1"
        return [row[0] for row in conn.execute(query)]


def _folder_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", folder)
    return folder


def test_a_deleted_ledger_row_is_an_error_and_the_doctor_records_it(
    pipeline: Pipeline, migrated_db: str, request: pytest.FixtureRequest
) -> None:
    before = _ledger(migrated_db)
    functions = _function_writes(migrated_db)
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute("DELETE FROM selfheal.schema_migrations WHERE version = '0003'")

    detected = pipeline.run(migrated_db, "-m", "preflight")
    tickets = [t for t in pipeline.tickets("open") if t.code == LEDGER_UNRECORDED]
    record(request, Fate("deleted ledger row", detected=bool(tickets), healed=False))
    assert detected.returncode == 1, detected.stdout[-3000:]
    assert [t.object for t in tickets] == [DELETED], [(t.code, t.object) for t in tickets]
    ticket = tickets[0]
    assert "function public.upsert_events(jsonb)" in ticket.message
    assert "INSERT INTO selfheal.schema_migrations" in ticket.remediation
    assert [t.code for t in pipeline.tickets("open")] == [LEDGER_UNRECORDED]

    healed = pipeline.doctor(migrated_db, "--heal")
    assert healed.returncode == 0, healed.stdout[-3000:] + healed.stderr[-3000:]
    assert _ledger(migrated_db) == before  # the same row: version and checksum
    assert _function_writes(migrated_db) == functions  # the file did not run again
    assert "history: the doctor's run" in healed.stdout
    # A session that does not run the check keeps what the doctor resolved (the history knows).
    other = pipeline.run(migrated_db, "-m", "schema")
    assert other.returncode == 0, other.stdout[-3000:]
    assert [t.status for t in pipeline.tickets() if t.code == LEDGER_UNRECORDED] == ["resolved"]

    clean = pipeline.run(migrated_db, "-m", "preflight")
    assert clean.returncode == 0, clean.stdout[-3000:]
    assert [t.status for t in pipeline.tickets() if t.code == LEDGER_UNRECORDED] == ["resolved"]
    request.node.user_properties.clear()
    record(request, Fate("deleted ledger row", detected=True, healed=True))


def test_the_doctor_does_not_record_a_file_whose_object_went_since_the_check(
    pipeline: Pipeline, migrated_db: str
) -> None:
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute("DELETE FROM selfheal.schema_migrations WHERE version = '0003'")
    detected = pipeline.run(migrated_db, "-m", "preflight")
    assert [t.object for t in pipeline.tickets("open") if t.code == LEDGER_UNRECORDED] == [
        DELETED
    ], detected.stdout[-3000:]
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute("DROP FUNCTION public.upsert_events(jsonb)")

    pipeline.doctor(migrated_db, "--heal")
    assert "0003" not in _ledger(migrated_db)  # `selfheal migrate` would create it again
    again = pipeline.run(migrated_db, "-m", "preflight")
    assert not [t for t in pipeline.tickets("open") if t.code == LEDGER_UNRECORDED]
    assert "pending migration(s): 0003_upsert_functions.sql" in again.stdout + str(
        pipeline.last_run()
    )


def test_an_edited_migration_is_one_ticket_with_one_advice(
    pipeline: Pipeline, migrated_db: str, tmp_path: Path
) -> None:
    folder = _folder_copy(tmp_path)
    edited = folder / "0002_row_level_security.sql"
    edited.write_text(edited.read_text() + "\n-- tidied up after it was applied\n")
    pipeline.env["MIGRATIONS_DIR"] = str(folder)

    result = pipeline.run(migrated_db, "-m", "preflight")
    assert result.returncode == 1, result.stdout[-3000:]
    tickets = pipeline.tickets("open")
    assert [(t.code, t.object) for t in tickets] == [
        ("preflight.ledger_edited", "0002_row_level_security.sql")
    ]
    assert "selfheal lock" not in tickets[0].message + tickets[0].remediation


def test_a_new_migration_is_pending_not_unrecorded(
    pipeline: Pipeline, migrated_db: str, tmp_path: Path
) -> None:
    folder = _folder_copy(tmp_path)
    (folder / "0099_notes.sql").write_text(
        "CREATE TABLE IF NOT EXISTS public.notes (id bigint PRIMARY KEY, body text);\n"
        "ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;\n"
    )
    pipeline.env["MIGRATIONS_DIR"] = str(folder)

    result = pipeline.run(migrated_db, "-m", "preflight")
    assert not [t for t in pipeline.tickets() if t.code == LEDGER_UNRECORDED]
    assert "1 pending migration(s): 0099_notes.sql" in result.stdout + result.stderr + str(
        pipeline.last_run()
    )
