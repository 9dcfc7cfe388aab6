"""Each database remedy against a real migrated database: plan, apply, verify, idempotence."""

from __future__ import annotations

import psycopg
import pytest

from selfheal.core.settings import Settings
from selfheal.doctor.remedies import (
    Context,
    EnableRowLevelSecurity,
    IndexForeignKeys,
    RebuildInvalidIndexes,
    Remedy,
    bounded_identifier,
)
from selfheal.reporting import Outcome

FAILURE = Outcome("checks/test_x.py::test_y", "schema", "failed", "", 0.0)


def _context(dsn: str) -> Context:
    return Context(dsn, Settings())


def _sql(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement)


def _heal(remedy: Remedy, ctx: Context) -> list[str]:
    actions = remedy.actions(ctx, [FAILURE])
    remedy.apply(ctx, actions)
    assert remedy.verify(ctx, [FAILURE])
    assert remedy.actions(ctx, [FAILURE]) == []  # idempotent: nothing left to do
    return [a.description for a in actions]


def test_a_healthy_database_needs_nothing(migrated_db: str) -> None:
    ctx = _context(migrated_db)
    for remedy in (EnableRowLevelSecurity(), IndexForeignKeys(), RebuildInvalidIndexes()):
        assert remedy.actions(ctx, [FAILURE]) == []


def test_rls_disabled_is_enabled_again(migrated_db: str) -> None:
    _sql(migrated_db, "ALTER TABLE public.events DISABLE ROW LEVEL SECURITY")
    assert _heal(EnableRowLevelSecurity(), _context(migrated_db)) == [
        "ALTER TABLE public.events ENABLE ROW LEVEL SECURITY"
    ]


def test_a_dropped_foreign_key_index_is_created_concurrently(migrated_db: str) -> None:
    _sql(migrated_db, "DROP INDEX public.etl_quarantine_run_id_idx")
    (description,) = _heal(IndexForeignKeys(), _context(migrated_db))
    assert description.startswith("CREATE INDEX CONCURRENTLY etl_quarantine_run_id_")


def test_an_invalid_index_is_rebuilt(migrated_db: str) -> None:
    _sql(
        migrated_db,
        "UPDATE pg_index SET indisvalid = false "
        "WHERE indexrelid = 'public.events_user_id_idx'::regclass",
    )
    assert _heal(RebuildInvalidIndexes(), _context(migrated_db)) == [
        "REINDEX INDEX CONCURRENTLY public.events_user_id_idx"
    ]


def test_awkward_identifiers_are_healed_too(migrated_db: str) -> None:
    table = 'Ünïcode "quoted" table ' + "x" * 30
    _sql(
        migrated_db,
        'CREATE TABLE public."Parent ""p""" (id int PRIMARY KEY);'
        f'CREATE TABLE public."{table.replace(chr(34), chr(34) * 2)}" '
        '("select" int REFERENCES public."Parent ""p""" (id));'
        f'ALTER TABLE public."{table.replace(chr(34), chr(34) * 2)}" ENABLE ROW LEVEL SECURITY;',
    )
    (description,) = _heal(IndexForeignKeys(), _context(migrated_db))
    assert "select" in description


@pytest.mark.parametrize("parts", [("a" * 80,), ("é" * 40, "b"), ("t", "c1", "c2")])
def test_bounded_identifier_fits_postgres(parts: tuple[str, ...]) -> None:
    name = bounded_identifier(*parts, suffix="fk_idx")
    assert len(name.encode()) <= 63 and name.endswith("_fk_idx")
    assert name != bounded_identifier(*parts, "other", suffix="fk_idx")
