"""Dry runs predict exactly what a real run then does, and leave every table byte-identical."""

from __future__ import annotations

from etl_support import NOW, OPTIONS, SEED, settings_for, table_checksums

from etl.fake import DEMO_FAULTS, serve_all
from etl.jobs import JobResult, run


def counts(result: JobResult) -> list[tuple]:
    return [
        (p.job, p.read, p.inserted, p.updated, p.unchanged, p.quarantined, p.deleted)
        for p in result.parts
    ]


def test_dry_run_on_an_empty_database_predicts_the_first_load(migrated_db):
    with serve_all(seed=SEED, faults=DEMO_FAULTS, now=NOW) as fakes:
        settings = settings_for(fakes)
        before = table_checksums(migrated_db)
        preview = run("all", migrated_db, settings, dry_run=True, options=OPTIONS)
        assert table_checksums(migrated_db) == before
        assert preview.status == "dry-run" and preview.ok
        real = run("source_a", migrated_db, settings, options=OPTIONS)
        by_job = {p.job: p for p in preview.parts}
        assert (by_job["source_a"].inserted, by_job["source_a"].quarantined) == (
            real.inserted,
            real.quarantined,
        )


def test_dry_run_after_late_data_predicts_updates_and_writes_nothing(migrated_db):
    with serve_all(seed=SEED, faults=DEMO_FAULTS, now=NOW) as fakes:
        settings = settings_for(fakes)
        run("all", migrated_db, settings, options=OPTIONS)
        fakes.release_late()
        before = table_checksums(migrated_db)
        preview = run("all", migrated_db, settings, dry_run=True, options=OPTIONS)
        assert table_checksums(migrated_db) == before
        real = run("all", migrated_db, settings, options=OPTIONS)
    sources = slice(0, 3)
    assert counts(preview)[sources] == counts(real)[sources]
    assert sum(p.updated for p in preview.parts[sources]) == 2
    assert sum(p.inserted for p in preview.parts[sources]) == 4
