"""The snapshot survives awkward identifiers and object kinds, and round-trips through JSON."""

from __future__ import annotations

from schema_helpers import LONG_NAME, live

from selfheal.catalog import CatalogSnapshot
from selfheal.migrate.runner import prepare_database


def test_awkward_objects_are_snapshotted(awkward_expected):
    odd = ("Odd Schema", 'Table "Q" ünï')
    assert awkward_expected.relations[odd].rls_enabled is False
    columns = {c.name: c for c in awkward_expected.columns_of(*odd)}
    assert columns["tags"].type == "text[]"
    assert columns["doubled"].generated == "s" and '"select" * 2' in columns["doubled"].default
    assert columns["feeling"].type == "public.mood"
    assert columns["Mixed Case"].not_null
    assert ("public", LONG_NAME) in awkward_expected.relations
    assert awkward_expected.enums[("public", "mood")].labels == ("happy", "sad")
    partition = awkward_expected.relations[("public", "readings_2024")]
    assert partition.partition_of == ("public", "readings")
    assert "RANGE (taken_at)" in awkward_expected.relations[("public", "readings")].partition_key
    view = awkward_expected.relations[("public", "recent_events")]
    assert view.kind == "view" and view.reads == (("public", "events"),)


def test_labels_quote_only_what_needs_quoting(awkward_expected):
    column = awkward_expected.columns[("Odd Schema", 'Table "Q" ünï', "Mixed Case")]
    assert column.label == '"Odd Schema"."Table ""Q"" ünï"."Mixed Case"'
    assert awkward_expected.columns[("public", "events", "occurred_at")].label == (
        "public.events.occurred_at"
    )


def test_shim_objects_are_not_expected(domain_expected):
    assert not any(f.schema == "auth" for f in domain_expected.functions.values())
    assert ("public", "events") in domain_expected.relations


def test_snapshot_round_trips_through_json(awkward_expected):
    again = CatalogSnapshot.from_json(awkward_expected.to_json())
    assert again.objects() == awkward_expected.objects()


def test_live_matches_expected_after_migrations(empty_db, awkward_migrations, awkward_expected):
    prepare_database(empty_db, awkward_migrations)
    assert live(empty_db).minus(CatalogSnapshot()).relations.keys() >= (
        awkward_expected.relations.keys()
    )
