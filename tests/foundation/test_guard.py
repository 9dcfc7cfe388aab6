import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from psycopg import sql

from selfheal.migrate.files import discover, read_migration
from selfheal.migrate.guard import check_migrations, guard_baseline, is_widening
from tests.foundation.guard_corpus import (
    ADDITIVE,
    DESTRUCTIVE,
    EFFECT_LINES,
    EFFECTS,
    FIXTURE,
    SAFE,
)

DOMAIN_TABLES = {
    "events",
    "ads_source_a",
    "ads_source_b",
    "daily_metrics",
    "etl_runs",
    "etl_quarantine",
}
MIGRATIONS = discover(Path(__file__).resolve().parents[2] / "migrations")


@pytest.fixture(scope="module")
def project_baseline(admin_dsn):
    """The project's migrations guarded once; each test guards its files as their sequel."""
    with guard_baseline(admin_dsn, MIGRATIONS) as baseline:
        yield baseline


@pytest.fixture(scope="module")
def corpus_baseline(admin_dsn, tmp_path_factory):
    """The project's migrations and FIXTURE (extra objects of every kind), guarded once."""
    fixture = tmp_path_factory.mktemp("corpus") / "0098_fixture.sql"
    fixture.write_text(FIXTURE)
    with guard_baseline(admin_dsn, [*MIGRATIONS, read_migration(fixture)]) as baseline:
        yield baseline


@pytest.fixture
def guard(admin_dsn, tmp_path, corpus_baseline):
    """Guards a snippet as `0099_snippet.sql`, after the project's migrations and FIXTURE."""

    def run(snippet: str):
        (tmp_path / "0099_snippet.sql").write_text(snippet)
        migration = read_migration(tmp_path / "0099_snippet.sql")
        return check_migrations(admin_dsn, [migration], baseline=corpus_baseline)

    return run


def _sequel(admin_dsn, baseline, folder: Path, files: dict[str, str], **options):
    for name, text in files.items():
        (folder / name).write_text(text)
    migrations = [read_migration(folder / name) for name in files]
    return check_migrations(admin_dsn, migrations, baseline=baseline, **options)


def test_corpus_is_large_enough():
    assert len(DESTRUCTIVE) >= 40 and len(EFFECTS) >= 40
    assert len(SAFE) >= 25 and len(ADDITIVE) >= 15


def test_project_migrations_pass_the_guard(admin_dsn):
    report = check_migrations(admin_dsn, MIGRATIONS)
    assert report.ok, [str(f) for f in report.findings]
    assert not [n for n in report.notes if "not seeded" in n], (
        "every table of the project is seeded"
    )


def test_fixture_passes_the_guard(corpus_baseline):
    report = corpus_baseline.report
    assert report.ok, [str(f) for f in report.findings]
    assert not [n for n in report.notes if "not seeded" in n]


@pytest.mark.parametrize(
    ("kind", "snippet"), [(k, s) for _, k, s in DESTRUCTIVE], ids=[i for i, _, _ in DESTRUCTIVE]
)
def test_destructive_snippet_is_refused(guard, kind, snippet):
    report = guard(snippet)
    refused = report.refused("0099_snippet.sql")
    assert refused, f"guard accepted: {snippet}"
    assert kind in {f.kind for f in refused}, [str(f) for f in refused]
    located = [f for f in refused if f.kind == kind and kind != "not-idempotent"]
    assert all(f.line for f in located), "destructive findings carry the statement's line"


@pytest.mark.parametrize(("case", "kind", "snippet"), EFFECTS, ids=[case for case, _, _ in EFFECTS])
def test_effect_is_refused_at_its_line(guard, case, kind, snippet):
    report = guard(snippet)
    refused = report.refused("0099_snippet.sql")
    line = EFFECT_LINES.get(case, 1)
    assert any(f.kind == kind and f.line == line for f in refused), (
        f"expected {kind} at line {line}; got {[str(f) for f in refused]}"
    )


@pytest.mark.parametrize(
    "snippet", [s for _, s in SAFE + ADDITIVE], ids=[i for i, _ in SAFE + ADDITIVE]
)
def test_safe_snippet_is_accepted(guard, snippet):
    report = guard(snippet)
    assert report.ok, [str(f) for f in report.findings if f.refused]


def test_finding_names_file_line_and_object(guard):
    report = guard("SELECT 1;\n\nALTER TABLE public.events DROP COLUMN received_at;")
    (finding,) = [f for f in report.refused() if f.kind == "drop"]
    assert (finding.migration, finding.line) == ("0099_snippet.sql", 3)
    assert "public.events.received_at" in str(finding)


def test_waiver_needs_the_matching_object(guard):
    snippet = (
        "-- selfheal:allow-destructive drop index public.other_idx: reviewed\n"
        "DROP INDEX public.events_user_id_idx;"
    )
    assert not guard(snippet).ok


def test_a_failing_file_stops_the_guard_and_names_what_was_not_checked(
    admin_dsn, tmp_path, project_baseline
):
    files = {
        "0097_bad.sql": "CREATE TABLE IF NOT EXISTS a (x int);\nBROKEN;",
        "0098_next.sql": "SELECT 1;",
    }
    report = _sequel(admin_dsn, project_baseline, tmp_path, files)
    (error,) = report.refused()
    assert (error.kind, error.line) == ("error", 2)
    assert report.unchecked == ["0098_next.sql"]


@pytest.mark.parametrize(
    ("old", "new", "widening"),
    [
        ("character varying(10)", "character varying(20)", True),
        ("character varying(10)", "character varying", True),
        ("character varying", "character varying(10)", False),
        ("numeric(10,2)", "numeric(12,2)", True),
        ("numeric(10,2)", "numeric(10,3)", False),
        ("integer", "bigint", True),
        ("bigint", "integer", False),
        ("integer", "numeric(5,0)", False),
        ("text[]", "text[]", True),
        ("timestamp with time zone", "timestamp without time zone", False),
    ],
)
def test_is_widening(old, new, widening):
    assert is_widening(old, new) is widening


# Identifiers PostgreSQL accepts: spaces, quotes, capitals, unicode, reserved words, 63 bytes.
IDENTIFIER = st.one_of(
    st.sampled_from(
        ["select", "Order", "user", "table", 'we"ird', "has space", "ünï cødé", "x" * 63, "é" * 31]
    ),
    st.text(
        alphabet=string.ascii_letters + string.digits + ' _-"$é✓', min_size=1, max_size=30
    ).filter(lambda s: len(s.encode()) <= 63 and s.strip() == s and s),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=IDENTIFIER, column=IDENTIFIER)
def test_guard_handles_any_identifier(admin_dsn, tmp_path_factory, project_baseline, table, column):
    folder = tmp_path_factory.mktemp("ident")
    assume(table not in DOMAIN_TABLES and column != "other")
    create = sql.SQL(
        "CREATE TABLE IF NOT EXISTS public.{t} ({c} int, other int);\n"
        "ALTER TABLE public.{t} ENABLE ROW LEVEL SECURITY;"
    ).format(t=sql.Identifier(table), c=sql.Identifier(column))
    drop = sql.SQL("ALTER TABLE public.{} DROP COLUMN {};").format(
        sql.Identifier(table), sql.Identifier(column)
    )
    files = {"0098_create.sql": create.as_string(None), "0099_drop.sql": drop.as_string(None)}
    report = _sequel(admin_dsn, project_baseline, folder, files)
    assert not report.refused("0098_create.sql")
    (finding,) = [f for f in report.refused("0099_drop.sql") if f.kind == "drop"]
    assert finding.line == 1
    assert column in finding.object.replace('""', '"')


def _cascade_snippet(*waived: str) -> str:
    waivers = "".join(
        f"-- selfheal:allow-destructive drop {obj}: replaced in PR 7\n" for obj in waived
    )
    return waivers + "DROP TABLE IF EXISTS public.corpus_t CASCADE;"


def test_cascade_names_every_object_it_takes(guard):
    report = guard(_cascade_snippet("table public.corpus_t"))
    refused = {f.object for f in report.refused("0099_snippet.sql")}
    assert refused == {"view public.corpus_view", "materialized view public.corpus_mv"}


def test_cascade_passes_when_each_object_is_waived(guard):
    snippet = _cascade_snippet(
        "table public.corpus_t", "view public.corpus_view", "materialized view public.corpus_mv"
    )
    report = guard(snippet)
    assert report.ok, [str(f) for f in report.refused()]
    assert len([f for f in report.findings if f.waived_because]) == 3


def test_finding_says_how_to_waive_it(guard):
    report = guard("UPDATE public.etl_runs SET error = NULL;")
    (finding,) = report.refused()
    assert finding.waiver == (
        "-- selfheal:allow-destructive data-rewrite table public.etl_runs: <why this is intended>"
    )
    assert "error changed in 200 of 200 rows" in str(finding)


def test_unseedable_table_is_reported_not_fatal(admin_dsn, tmp_path, project_baseline):
    snippet = (
        "CREATE TABLE IF NOT EXISTS public.odd (id int PRIMARY KEY, shape point NOT NULL);\n"
        "ALTER TABLE public.odd ENABLE ROW LEVEL SECURITY;"
    )
    files = {"0097_odd.sql": snippet, "0098_next.sql": "SELECT 1;"}
    report = _sequel(admin_dsn, project_baseline, tmp_path, files)
    assert report.ok, [str(f) for f in report.refused()]
    assert any("public.odd: not seeded" in note and "shape" in note for note in report.notes)


# Row keys and values the seeded tables and the migrations under test write: any text.
ROW_TEXT = st.text(alphabet=string.printable + "é✓'\"$;", min_size=1, max_size=20)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    table=IDENTIFIER,
    column=IDENTIFIER,
    keys=st.lists(ROW_TEXT, min_size=2, max_size=5, unique=True),
    rewrite=st.booleans(),
)
def test_rows_seeded_under_any_name_are_guarded(
    admin_dsn, tmp_path_factory, project_baseline, table, column, keys, rewrite
):
    """The guard seeds a table of any name, and sees a drawn row deleted or rewritten."""
    assume(column != "id" and table not in DOMAIN_TABLES)
    folder = tmp_path_factory.mktemp("rows")
    target = sql.Identifier("public", table)
    create = sql.SQL(
        "CREATE TABLE IF NOT EXISTS {t} (id text PRIMARY KEY, {c} text);\n"
        "ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\n"
        "INSERT INTO {t} (id, {c}) SELECT k, k FROM unnest({keys}::text[]) k ON CONFLICT DO NOTHING;"
    ).format(t=target, c=sql.Identifier(column), keys=sql.Literal(keys))
    change = (
        sql.SQL("UPDATE {t} SET {c} = {c} || 'x' WHERE id = {k};")
        if rewrite
        else sql.SQL("DELETE FROM {t} WHERE id = {k};")
    ).format(t=target, c=sql.Identifier(column), k=sql.Literal(keys[0]))
    files = {
        "0098_create.sql": create.as_string(None),
        "0099_change.sql": "SELECT 1;\n" + change.as_string(None),
    }
    report = _sequel(admin_dsn, project_baseline, folder, files)
    assert not report.refused("0098_create.sql"), [str(f) for f in report.refused()]
    assert not report.notes
    (finding,) = [f for f in report.refused("0099_change.sql") if f.kind.startswith("data-")]
    assert finding.kind == ("data-rewrite" if rewrite else "data-loss")
    assert finding.line == 2
    label = sql.Identifier("public", table).as_string(None)
    assert table in finding.object.replace('""', '"') or label in finding.object
    if rewrite:
        assert column in finding.detail.replace('""', '"') and "in 1 of" in finding.detail
    else:
        assert "1 of its" in finding.detail


SHAPES = """
DO $$ BEGIN
  IF to_regtype('public.shape_mood') IS NULL THEN CREATE TYPE public.shape_mood AS ENUM ('ok', 'meh'); END IF;
  IF to_regtype('public.shape_pos') IS NULL THEN CREATE DOMAIN public.shape_pos AS int CHECK (VALUE > 0); END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.shape_parent (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  code char(3) NOT NULL UNIQUE CHECK (code IN ('AAA', 'BBB', 'CCC', 'DDD')),
  mood public.shape_mood NOT NULL,
  tags text[] NOT NULL,
  size public.shape_pos NOT NULL
);
CREATE TABLE IF NOT EXISTS public.shape_child (
  parent_id bigint NOT NULL REFERENCES public.shape_parent (id),
  n int NOT NULL CHECK (n BETWEEN 5 AND 9), price numeric(6,2) NOT NULL CHECK (price > 0),
  doubled int GENERATED ALWAYS AS (n * 2) STORED,
  at timestamptz NOT NULL,
  PRIMARY KEY (parent_id, n, at)
) PARTITION BY RANGE (at);
CREATE TABLE IF NOT EXISTS public.shape_child_2030 PARTITION OF public.shape_child
  FOR VALUES FROM ('2030-01-01') TO ('2031-01-01');
ALTER TABLE public.shape_parent ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.shape_child ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.shape_child_2030 ENABLE ROW LEVEL SECURITY;
"""


def test_seeding_meets_keys_foreign_keys_checks_enums_domains_and_partitions(
    admin_dsn, tmp_path, project_baseline
):
    files = {
        "0097_shapes.sql": SHAPES,
        "0098_delete.sql": "DELETE FROM public.shape_child;\nDELETE FROM public.shape_parent;",
    }
    report = _sequel(admin_dsn, project_baseline, tmp_path, files)
    assert not report.notes, report.notes
    lost = {(f.object, f.line) for f in report.refused("0098_delete.sql") if f.kind == "data-loss"}
    assert lost == {("table public.shape_child_2030", 1), ("table public.shape_parent", 2)}


def test_a_constraint_the_sample_rows_break_is_noted_not_refused(admin_dsn, tmp_path, guard):
    snippet = (
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'label_short') THEN "
        "ALTER TABLE public.corpus_t ADD CONSTRAINT label_short CHECK (length(label) < 3); "
        "END IF; END $$;"
    )
    report = guard(snippet)
    assert report.ok, [str(f) for f in report.refused()]
    (note,) = report.notes
    assert "0099_snippet.sql:1" in note and "public.corpus_t" in note and "label_short" in note


def test_not_null_column_without_default_fails_on_rows(guard):
    report = guard("ALTER TABLE public.etl_runs ADD COLUMN IF NOT EXISTS owner text NOT NULL;")
    (error,) = report.refused()
    assert (error.kind, error.line) == ("error", 1)
    assert "sample rows" in error.detail


def test_one_waiver_allows_a_removal_and_its_second_run(guard):
    report = guard(
        "-- selfheal:allow-destructive data-loss table public.etl_quarantine: emptied in PR 9\n"
        "DELETE FROM public.etl_quarantine;"
    )
    assert report.ok, [str(f) for f in report.refused()]
    waived = {(f.kind, f.object) for f in report.findings if f.waived_because}
    assert waived == {
        ("data-loss", "table public.etl_quarantine"),
        ("not-idempotent", "table public.etl_quarantine"),
    }


def test_a_second_runs_removal_names_the_waiver_that_covers_both_runs(guard):
    report = guard("DELETE FROM public.etl_quarantine;")
    (again,) = [f for f in report.refused() if f.kind == "not-idempotent"]
    assert "a second run does delete again" in again.detail
    assert again.waiver.startswith(
        "-- selfheal:allow-destructive delete table public.etl_quarantine"
    )


def test_a_second_run_that_writes_the_catalog_without_ddl_is_not_idempotent(
    admin_dsn, tmp_path, project_baseline
):
    """No event trigger sees a direct catalog UPDATE; the second run's catalog is still read."""
    files = {
        "0099_comment.sql": "COMMENT ON TABLE public.etl_runs IS 'runs';\n",
        "0100_append.sql": "UPDATE pg_catalog.pg_description SET description = description || '.' "
        "WHERE objoid = 'public.etl_runs'::regclass AND objsubid = 0;\n",
    }
    report = _sequel(admin_dsn, project_baseline, tmp_path, files)
    again = [(f.migration, f.kind, f.object) for f in report.refused()]
    assert again == [("0100_append.sql", "not-idempotent", "table public.etl_runs")]
