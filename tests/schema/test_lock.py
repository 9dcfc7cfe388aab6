"""The lock file stands for the migrations it was built from, and says when it no longer does."""

from __future__ import annotations

import shutil

from schema_helpers import MIGRATIONS, ROOT

from selfheal.schema.lock import lock_problem, read_lock, write_lock


def test_fresh_lock_reads_back(tmp_path, awkward_migrations, awkward_expected):
    lock = tmp_path / "schema.lock.json"
    write_lock(lock, awkward_expected, awkward_migrations)
    assert lock_problem(lock, awkward_migrations) is None
    again = read_lock(lock, awkward_migrations)
    assert again.objects() == awkward_expected.objects()
    assert again.defaulted == awkward_expected.defaulted and again.defaulted


def test_lock_goes_stale_when_a_migration_changes(tmp_path, awkward_migrations, awkward_expected):
    folder = tmp_path / "migrations"
    shutil.copytree(awkward_migrations, folder)
    lock = tmp_path / "schema.lock.json"
    write_lock(lock, awkward_expected, folder)
    (folder / "0950_more.sql").write_text("CREATE TABLE IF NOT EXISTS public.more (id int);\n")
    problem = lock_problem(lock, folder)
    assert problem is not None and "0950_more.sql changed" in problem
    assert read_lock(lock, folder) is None


def test_missing_or_foreign_lock_is_a_problem(tmp_path, awkward_migrations):
    assert "does not exist" in lock_problem(tmp_path / "none.json", awkward_migrations)
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    assert "not a selfheal schema lock" in lock_problem(other, awkward_migrations)


def test_committed_lock_matches_the_migrations(domain_expected):
    lock = ROOT / "checks" / "schema.lock.json"
    assert lock_problem(lock, MIGRATIONS) is None
    committed = read_lock(lock, MIGRATIONS)
    assert committed.objects() == domain_expected.objects()
    assert committed.defaulted == domain_expected.defaulted


def test_a_lock_of_an_older_version_is_rewritten_not_misread(tmp_path, awkward_migrations):
    old = tmp_path / "schema.lock.json"
    old.write_text('{"version": 1, "migrations": {}, "snapshot": {}}')
    problem = lock_problem(old, awkward_migrations)
    assert "older selfheal (lock version 1" in problem and "run `selfheal lock`" in problem
    assert read_lock(old, awkward_migrations) is None
