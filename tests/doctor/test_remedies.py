"""Each database remedy against a real migrated database: plan, apply, verify, idempotence."""

from __future__ import annotations

import psycopg
import pytest

from etl.rerun import etl_runner
from selfheal.core.settings import Settings
from selfheal.doctor.remedies import (
    REGISTRY,
    Action,
    Context,
    EnableRowLevelSecurity,
    IndexForeignKeys,
    RebuildInvalidIndexes,
    Registry,
    Remedy,
    RerunStaleSource,
    RestoreSchema,
    RetryEtl,
    bounded_identifier,
    in_dependency_order,
)
from selfheal.run.problem import SCHEMA_MISSING, Problem

FAILURE = Problem(SCHEMA_MISSING, "public.events", "")


def _context(dsn: str) -> Context:
    return Context(dsn, Settings())


def _sql(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement)


def _heal(remedy: Remedy, ctx: Context) -> list[str]:
    actions = remedy.actions(ctx, [FAILURE])
    remedy.apply(ctx, actions)
    assert remedy.remaining(ctx, [FAILURE]) == []  # idempotent: nothing left to do
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


@pytest.mark.parametrize(
    ("code", "obj", "remedy"),
    [
        ("schema.index_valid", "public.events_user_id_idx", RebuildInvalidIndexes),
        ("health.invalid_index", "public.events_user_id_idx", RebuildInvalidIndexes),
        ("schema.rls_disabled", "public.events", RestoreSchema),
        ("rls.rls_disabled_in_public", "public.events", EnableRowLevelSecurity),
        ("rls.policy_exists_rls_disabled", "public.events", EnableRowLevelSecurity),
        ("rls.unindexed_foreign_keys", "public.etl_quarantine", IndexForeignKeys),
        ("schema.missing", "public.events.loaded_at", RestoreSchema),
        ("schema.column_type", "public.events.loaded_at", RestoreSchema),  # the family's remedy
        ("dq.freshness", 'public."Events".occurred_at', RerunStaleSource),
        ("etl.source_failed", "source_b", RetryEtl),
        ("dq.freshness", "not a qualified name", None),  # no table to re-load
        ("dq.not_null", "public.events.user_id", None),
        ("rls.no_primary_key", "public.events", None),
        ("check.failed", "checks/test_dq.py::test_dq[events.freshness.occurred_at]", None),
    ],
)
def test_the_registry_dispatches_on_the_code(code: str, obj: str, remedy: type | None) -> None:
    found = REGISTRY.remedy_for(Problem(code, obj, "message text plays no part"))
    assert type(found) is remedy if remedy else found is None


def test_a_code_has_one_remedy() -> None:
    with pytest.raises(ValueError, match="is treated by both"):
        Registry([RebuildInvalidIndexes(), RebuildInvalidIndexes()])


def test_stale_tables_map_to_their_jobs_through_the_etl_contracts() -> None:
    settings = Settings()
    ctx = Context("postgresql://unused", settings, etl=etl_runner("postgresql://unused", settings))
    stale = [
        Problem("dq.freshness", "public.daily_metrics.metric_date", "stale"),
        Problem("dq.freshness", "public.ads_source_b.stat_hour", "stale"),
        Problem("dq.freshness", "public.events.occurred_at", "stale"),
    ]
    jobs = [action.job[0] for action in RerunStaleSource().actions(ctx, stale)]
    assert jobs == ["events", "source_b", "metrics"]  # metrics last: it reads the others


def test_a_root_follows_the_roots_it_depends_on() -> None:
    """A table whose foreign key references a table still to create is repaired after it; a
    cycle keeps the order the roots appear in."""
    actions = [
        Action("fk", root="public.child", depends_on=("public.parent",)),
        Action("grant", root="public.other"),
        Action("create", root="public.parent"),
        Action("self", root="public.parent", depends_on=("public.parent", "public.absent")),
    ]
    assert in_dependency_order(actions) == ["public.other", "public.parent", "public.child"]
    cycle = [Action("a", root="a", depends_on=("b",)), Action("b", root="b", depends_on=("a",))]
    assert in_dependency_order(cycle) == ["a", "b"]
