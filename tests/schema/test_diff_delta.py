"""Remove each kind of object from a migrated database: the diff names it, the delta restores it,
and a second delta has nothing to add."""

from __future__ import annotations

from pathlib import Path

import pytest
from schema_helpers import live, run

from selfheal.core.db import connect
from selfheal.migrate.files import read_migration
from selfheal.migrate.runner import apply_file, ensure_ledger, prepare_database
from selfheal.schema import diff
from selfheal.schema.delta import build_delta, render_delta

# (what to remove, the problem kind the diff must report, words its message must hold)
REMOVALS = {
    "table": ("DROP TABLE public.daily_metrics", "table", "public.daily_metrics is missing"),
    "column": (
        "ALTER TABLE public.events DROP COLUMN loaded_at",
        "column",
        "public.events.loaded_at is missing",
    ),
    "index": ("DROP INDEX public.events_user_id_idx", "index", "public.events_user_id_idx"),
    "check": (
        "ALTER TABLE public.etl_runs DROP CONSTRAINT etl_runs_status_check",
        "constraint",
        "etl_runs_status_check is missing",
    ),
    "primary_key": (
        "ALTER TABLE public.ads_source_a DROP CONSTRAINT ads_source_a_pkey",
        "constraint",
        "ads_source_a_pkey is missing",
    ),
    "foreign_key": (
        "ALTER TABLE public.etl_quarantine DROP CONSTRAINT etl_quarantine_run_id_fkey",
        "constraint",
        "etl_quarantine_run_id_fkey is missing",
    ),
    "policy": (
        "DROP POLICY events_select_own ON public.events",
        "policy",
        "events_select_own is missing",
    ),
    "rls": (
        "ALTER TABLE public.events DISABLE ROW LEVEL SECURITY",
        "rls_disabled",
        "rls_enabled expected True, live has False",
    ),
    "function": ("DROP FUNCTION public.upsert_events(jsonb)", "function", "upsert_events"),
    "grant": (
        "REVOKE SELECT ON public.events FROM authenticated",
        "grant_privileges",
        "live lacks privileges ('SELECT',)",
    ),
    "default": (
        "ALTER TABLE public.events ALTER COLUMN received_at DROP DEFAULT",
        "column_default",
        "default expected 'now()', live has None",
    ),
    "not_null": (
        "ALTER TABLE public.events ALTER COLUMN event_name DROP NOT NULL",
        "column_not_null",
        "not_null expected True, live has False",
    ),
    "partition": ("DROP TABLE public.readings_2024", "table", "public.readings_2024 is missing"),
    "view": ("DROP VIEW public.recent_events", "view", "public.recent_events is missing"),
    "enum_label": (None, "enum_labels", "live lacks labels ('sad',)"),
    "awkward_column": (
        'ALTER TABLE "Odd Schema"."Table ""Q"" ünï" DROP COLUMN "Mixed Case"',
        "column",
        '"Mixed Case" is missing',
    ),
    "partitioned_index": ("DROP INDEX public.readings_value_idx", "index", "readings_value_idx"),
}


def apply_delta(dsn: str, text: str, folder: Path, version: int = 9999) -> None:
    """Through the real runner, as `selfheal migrate` would apply the written file."""
    path = folder / f"{version}_delta.sql"
    path.write_text(text, encoding="utf-8")
    with connect(dsn, autocommit=True) as conn:
        ensure_ledger(conn)
        apply_file(conn, read_migration(path))


@pytest.mark.parametrize("case", REMOVALS, ids=str)
def test_removed_object_is_reported_and_restored(
    case, empty_db, awkward_migrations, awkward_expected, tmp_path
):
    removal, kind, words = REMOVALS[case]
    prepare_database(empty_db, awkward_migrations)
    if case == "enum_label":
        # A label cannot be removed: build the type short of one instead.
        run(empty_db, "ALTER TYPE public.mood RENAME VALUE 'sad' TO 'glum'")
    else:
        run(empty_db, removal)

    found = diff(awkward_expected, live(empty_db))
    problems = found.missing + found.differing
    assert any(p.kind == kind and words in p.message for p in problems), found.summary()

    text = render_delta(found)
    assert "DROP" not in text.upper().replace("DROP NOT NULL", "")
    apply_delta(empty_db, text, tmp_path)
    again = diff(awkward_expected, live(empty_db))
    assert again.clean, again.summary()
    assert build_delta(again).statements == []


def test_index_on_an_existing_table_is_built_concurrently(
    empty_db, awkward_migrations, awkward_expected, tmp_path
):
    prepare_database(empty_db, awkward_migrations)
    run(empty_db, "DROP INDEX public.events_occurred_at_idx")
    text = render_delta(diff(awkward_expected, live(empty_db)))
    assert "-- selfheal: no-transaction" in text
    assert 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_occurred_at_idx"' in text
    apply_delta(empty_db, text, tmp_path)
    apply_delta(empty_db, text, tmp_path, version=10000)  # idempotent: a second run changes nothing
    assert diff(awkward_expected, live(empty_db)).clean


def test_empty_database_is_rebuilt_in_dependency_order(shimmed_db, awkward_expected, tmp_path):
    text = render_delta(diff(awkward_expected, live(shimmed_db)))
    order = [
        text.index(s)
        for s in (
            "CREATE SCHEMA",
            "CREATE TYPE",
            "FUNCTION",
            "CREATE TABLE",
            "ADD CONSTRAINT",
            "ENABLE ROW LEVEL",
            "CREATE POLICY",
            "ON TABLE",  # table grants (a function's follow its creation)
        )
    ]
    assert order == sorted(order)
    apply_delta(shimmed_db, text, tmp_path)
    assert diff(awkward_expected, live(shimmed_db)).clean


def test_irreconcilable_changes_become_notes(migrated_db, domain_expected):
    run(migrated_db, "ALTER TABLE public.events ALTER COLUMN event_name TYPE varchar(200)")
    run(migrated_db, "ALTER TABLE public.events ADD COLUMN extra integer")
    run(migrated_db, "ALTER POLICY events_select_own ON public.events USING (true)")
    found = diff(domain_expected, live(migrated_db))
    delta = build_delta(found)
    assert delta.statements == []
    notes = "\n".join(delta.notes)
    assert (
        "public.events.event_name: type expected 'text', live has 'character varying(200)'" in notes
    )
    assert "column public.events.extra exists in live but no migration creates it" in notes
    assert "policy public.events.events_select_own: using" in notes
    assert [d.label for d in found.drift] == ["public.events.extra"]
    assert "-- column public.events.extra" in render_delta(found)


def test_clean_database_needs_no_delta(migrated_db, domain_expected):
    found = diff(domain_expected, live(migrated_db))
    assert found.clean and not found.drift
    assert render_delta(found) == ""
