import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from psycopg import sql

from selfheal.migrate.files import discover, read_migration
from selfheal.migrate.guard import check_migrations, is_widening
from tests.foundation.guard_corpus import DESTRUCTIVE, FIXTURE, SAFE

DOMAIN_TABLES = {
    "events",
    "ads_source_a",
    "ads_source_b",
    "daily_metrics",
    "etl_runs",
    "etl_quarantine",
}
MIGRATIONS = discover(Path(__file__).resolve().parents[2] / "migrations")


def _guard(admin_dsn: str, tmp_path: Path, snippet: str, with_fixture: bool = True):
    files = []
    if with_fixture:
        (tmp_path / "0098_fixture.sql").write_text(FIXTURE)
        files.append(read_migration(tmp_path / "0098_fixture.sql"))
    (tmp_path / "0099_snippet.sql").write_text(snippet)
    files.append(read_migration(tmp_path / "0099_snippet.sql"))
    return check_migrations(admin_dsn, MIGRATIONS + files)


def test_corpus_is_large_enough():
    assert len(DESTRUCTIVE) >= 40 and len(SAFE) >= 40


def test_project_migrations_pass_the_guard(admin_dsn):
    report = check_migrations(admin_dsn, MIGRATIONS)
    assert report.ok, [str(f) for f in report.findings]


def test_fixture_passes_the_guard(admin_dsn, tmp_path):
    report = _guard(admin_dsn, tmp_path, "SELECT 1;")
    assert report.ok, [str(f) for f in report.findings]


@pytest.mark.parametrize(
    ("kind", "snippet"), [(k, s) for _, k, s in DESTRUCTIVE], ids=[i for i, _, _ in DESTRUCTIVE]
)
def test_destructive_snippet_is_refused(admin_dsn, tmp_path, kind, snippet):
    report = _guard(admin_dsn, tmp_path, snippet)
    refused = report.refused("0099_snippet.sql")
    assert refused, f"guard accepted: {snippet}"
    assert kind in {f.kind for f in refused}, [str(f) for f in refused]
    located = [f for f in refused if f.kind == kind and kind != "not-idempotent"]
    assert all(f.line for f in located), "destructive findings carry the statement's line"


@pytest.mark.parametrize("snippet", [s for _, s in SAFE], ids=[i for i, _ in SAFE])
def test_safe_snippet_is_accepted(admin_dsn, tmp_path, snippet):
    report = _guard(admin_dsn, tmp_path, snippet)
    assert report.ok, [str(f) for f in report.findings if f.refused]


def test_finding_names_file_line_and_object(admin_dsn, tmp_path):
    report = _guard(
        admin_dsn, tmp_path, "SELECT 1;\n\nALTER TABLE public.events DROP COLUMN received_at;"
    )
    (finding,) = [f for f in report.refused() if f.kind == "drop"]
    assert (finding.migration, finding.line) == ("0099_snippet.sql", 3)
    assert "public.events.received_at" in str(finding)


def test_waiver_needs_the_matching_object(admin_dsn, tmp_path):
    snippet = (
        "-- selfheal:allow-destructive drop index public.other_idx: reviewed\n"
        "DROP INDEX public.events_user_id_idx;"
    )
    assert not _guard(admin_dsn, tmp_path, snippet).ok


def test_a_failing_file_stops_the_guard_and_names_what_was_not_checked(admin_dsn, tmp_path):
    (tmp_path / "0097_bad.sql").write_text("CREATE TABLE IF NOT EXISTS a (x int);\nBROKEN;")
    (tmp_path / "0098_next.sql").write_text("SELECT 1;")
    report = check_migrations(
        admin_dsn,
        MIGRATIONS
        + [read_migration(tmp_path / "0097_bad.sql"), read_migration(tmp_path / "0098_next.sql")],
    )
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
def test_guard_handles_any_identifier(admin_dsn, tmp_path_factory, table, column):
    folder = tmp_path_factory.mktemp("ident")
    assume(table not in DOMAIN_TABLES and column != "other")
    create = sql.SQL("CREATE TABLE IF NOT EXISTS public.{} ({} int, other int);").format(
        sql.Identifier(table), sql.Identifier(column)
    )
    drop = sql.SQL("ALTER TABLE public.{} DROP COLUMN {};").format(
        sql.Identifier(table), sql.Identifier(column)
    )
    (folder / "0098_create.sql").write_text(create.as_string(None))
    (folder / "0099_drop.sql").write_text(drop.as_string(None))
    files = [read_migration(folder / "0098_create.sql"), read_migration(folder / "0099_drop.sql")]
    report = check_migrations(admin_dsn, MIGRATIONS + files)
    assert not report.refused("0098_create.sql")
    (finding,) = [f for f in report.refused("0099_drop.sql") if f.kind == "drop"]
    assert finding.line == 1
    assert column in finding.object.replace('""', '"')
