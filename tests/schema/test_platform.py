"""The same migrations give the same schema verdict whatever default privileges the target has:
the grants Supabase's defaults give are expected only where the target's defaults give them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from schema_helpers import MIGRATIONS

from selfheal.catalog import CatalogSnapshot, Grant, snapshot
from selfheal.core.db import connect
from selfheal.core.shim import SUPABASE_ROLES, apply_shim
from selfheal.migrate.runner import prepare_database
from selfheal.schema import diff, expected_snapshot
from selfheal.schema.diff import SchemaDiff


def _prepared(dsn: str, migrations: Path, *, defaults: str | None) -> str:
    """The shim without Supabase's default privileges, `defaults` (SQL) instead, migrations."""
    with connect(dsn, autocommit=True) as conn:
        apply_shim(conn, default_privileges=False)
        if defaults:
            conn.execute(defaults)
    prepare_database(dsn, migrations)
    return dsn


def _diff(expected: CatalogSnapshot, dsn: str) -> SchemaDiff:
    with connect(dsn, autocommit=True) as conn:
        return diff(expected, snapshot(conn))


def _api_grants(found: SchemaDiff) -> set[tuple[str, str, tuple[str, ...]]]:
    return {
        (g.table, g.grantee, g.privileges)
        for g in found.expected.grants.values()
        if g.grantee in SUPABASE_ROLES
    }


@pytest.fixture
def bare_db(empty_db: str) -> Iterator[str]:
    """A plain PostgreSQL with the roles and auth functions but no default privileges."""
    yield _prepared(empty_db, MIGRATIONS, defaults=None)


def test_same_migrations_same_verdict_with_and_without_platform_defaults(
    migrated_db, bare_db, domain_expected
):
    on_supabase, on_plain = _diff(domain_expected, migrated_db), _diff(domain_expected, bare_db)
    for found in (on_supabase, on_plain):
        assert found.summary() == [] and found.exposures == []
    assert len(_api_grants(on_supabase)) == 18  # 6 tables x anon, authenticated, service_role
    assert _api_grants(on_plain) == set()
    reader = ("public", "events", "selfheal_reader")
    assert on_plain.expected.grants[reader] == on_supabase.expected.grants[reader]


def test_a_grant_the_migrations_make_is_still_required_without_platform_defaults(
    bare_db, domain_expected
):
    with connect(bare_db, autocommit=True) as conn:
        conn.execute("REVOKE SELECT ON public.events FROM selfheal_reader")
    found = _diff(domain_expected, bare_db)
    assert [m.message for m in found.missing] == [
        "grant public.events to selfheal_reader is missing from the live database"
    ]


def test_an_api_grant_the_target_defaults_do_not_give_is_an_exposure(bare_db, domain_expected):
    with connect(bare_db, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON public.events TO anon")
    found = _diff(domain_expected, bare_db)
    assert [(e.obj.key, e.exposure) for e in found.exposures] == [
        (("public", "events", "anon"), True)
    ]


REVOKING = """
CREATE TABLE IF NOT EXISTS public.private_notes (id int PRIMARY KEY);
REVOKE ALL ON public.private_notes FROM anon;
CREATE TABLE IF NOT EXISTS public.open_notes (id int PRIMARY KEY);
GRANT SELECT ON public.open_notes TO anon;
"""


@pytest.fixture(scope="module")
def revoking(
    tmp_path_factory: pytest.TempPathFactory, admin_dsn: str
) -> tuple[Path, CatalogSnapshot]:
    folder = tmp_path_factory.mktemp("revoking")
    (folder / "0001_notes.sql").write_text(REVOKING, encoding="utf-8")
    return folder, expected_snapshot(admin_dsn, folder)


@pytest.mark.parametrize(
    ("defaults", "held", "not_held"),
    [
        (
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon",
            {"SELECT", "DELETE"},
            set(),
        ),
        (
            "ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT ON TABLES TO anon",
            {"SELECT", "INSERT"},
            {"DELETE"},
        ),
        (None, {"SELECT"}, {"INSERT", "DELETE"}),
    ],
    ids=["defaults-in-public", "defaults-everywhere", "no-defaults"],
)
def test_a_migration_revoking_a_default_and_granting_one_privilege(
    empty_db, revoking, defaults, held, not_held
):
    folder, expected = revoking
    found = _diff(expected, _prepared(empty_db, folder, defaults=defaults))
    assert found.summary() == [] and found.exposures == []
    grants: dict[tuple, Grant] = found.expected.grants
    assert ("public", "private_notes", "anon") not in grants  # revoked whatever the defaults
    open_notes = set(grants[("public", "open_notes", "anon")].privileges)
    assert held <= open_notes and not (not_held & open_notes)
