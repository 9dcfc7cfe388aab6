"""Properties of the vetting of rule SQL, over texts assembled from hostile pieces.

Whatever the text, vetting either refuses it with a message for people (UnsafeSql) or returns a
rendering that is one statement, calls no denied function and vets to itself again (what runs is
what was vetted); run through the executor on a writable connection, an accepted rendering
writes nothing, by the server's own counters and the catalog.
"""

from __future__ import annotations

import contextlib

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from sqlglot.dialects.postgres import Postgres
from sqlglot.tokens import TokenType

from selfheal.core.db import connect
from selfheal.core.readonly import Reader, ReadRefused
from selfheal.core.usersql import UnsafeSql, denied, functions_called, vet_condition, vet_query
from tests.hostile_rules.conftest import flushed, state, written

SCHEMAS = {"public"}
PIECES = [
    "note = 'x'", "id > 1", "true", "false", " AND ", " OR ", " NOT ", "(", ")", ";", ",",
    " COMMIT", " BEGIN READ WRITE", " DELETE FROM public.victim", " DROP TABLE public.victim",
    " UPDATE public.victim SET note = 'y'", " INSERT INTO public.victim VALUES (1)",
    "pg_sleep(1)", "set_config('role', 'postgres', false)", "nextval('s')", "public.zap()",
    "/*", "*/", "--", "\n", "$$", "$a$", "'", "E'\\''", "U&'\\0041'", "U&\"x\"", "\\",
    " IN (SELECT id FROM public.victim)", " IN (SELECT 1 FROM auth.users)", "pg_authid",
    " WITH d AS (DELETE FROM public.victim RETURNING id) SELECT id FROM d", " FOR UPDATE",
    "SELECT ", " FROM public.victim", " INTO stolen", "lo_import('/etc/passwd')", " LIMIT 1",
]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join)
RUN = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_safe(rendered: str) -> None:
    __tracebackhide__ = True
    tokens = Postgres().tokenize(rendered)
    assert all(token.token_type != TokenType.SEMICOLON for token in tokens), rendered
    assert not any(denied(name) for _, name in functions_called(rendered)), rendered


def run_without_writing(dsn: str, query: sql.Composable) -> None:
    before, counters = state(dsn), written(dsn)
    with connect(dsn, autocommit=True) as writable:
        with contextlib.suppress(psycopg.Error, ReadRefused):  # failing is fine; writing is not
            Reader(writable).fetch(query)
        flushed(writable)
    assert written(dsn) == counters
    assert state(dsn) == before


@RUN
@given(text=texts)
def test_a_where_is_refused_or_runs_without_writing(text: str, victim_db: str) -> None:
    try:
        rendered = vet_condition(text, SCHEMAS)
    except UnsafeSql as refused:
        assert str(refused)
        return
    assert_safe(rendered)
    assert vet_condition(rendered, SCHEMAS) == rendered
    query = sql.SQL("SELECT count(*) FROM public.victim WHERE {}").format(sql.SQL(rendered))
    run_without_writing(victim_db, query)


@RUN
@given(text=texts.map(lambda t: "SELECT id FROM public.victim WHERE " + t))
def test_a_custom_query_is_refused_or_runs_without_writing(text: str, victim_db: str) -> None:
    try:
        rendered = vet_query(text, SCHEMAS)
    except UnsafeSql as refused:
        assert str(refused)
        return
    assert_safe(rendered)
    assert vet_query(rendered, SCHEMAS) == rendered
    run_without_writing(victim_db, sql.SQL(rendered))
