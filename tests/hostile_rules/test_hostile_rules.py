"""Rule files and custom SQL written to write, call functions, end the transaction or read other
schemas: each is refused at collection (`collect_*`) or when it runs (`run_*`), and nothing is
written, by the server's own counters (pg_stat_database) and by the catalog, unchanged.

The checks run on a writable connection on purpose: the executor alone is the boundary here.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg
import pytest

from selfheal.core.db import connect
from selfheal.core.readonly import Reader, ReadRefused
from selfheal.dq.config import ConfigError, load_suite
from selfheal.dq.runner import Runner
from tests.hostile_rules.conftest import flushed, state, written

CORPUS = Path(__file__).parent / "corpus"
RULE_FILES = sorted((CORPUS / "rules").glob("*.toml"))
SQL_FILES = sorted((CORPUS / "sql").glob("*.sql"))


def folder_with(tmp_path: Path, path: Path) -> tuple[Path, Path]:
    """A rules folder and a custom SQL folder holding only `path`."""
    rules, custom = tmp_path / "rules", tmp_path / "sql"
    rules.mkdir()
    custom.mkdir()
    shutil.copy(path, rules if path.suffix == ".toml" else custom)
    return rules, custom


KEY = re.compile(r": table victim: (?:[a-z_]+(?:\[\d+\])?\.)?(?:where|query): ")


@pytest.mark.parametrize("path", RULE_FILES + SQL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_hostile_rule_is_refused_without_any_write(
    path: Path, victim_db: str, tmp_path: Path
) -> None:
    rules_dir, sql_dir = folder_with(tmp_path, path)
    before, counters = state(victim_db), written(victim_db)
    try:
        suite = load_suite(rules_dir, sql_dir)
    except ConfigError as error:
        assert path.name.startswith("collect_"), f"refused at collection: {error}"
        assert any(str(path.name) in line and KEY.search(line) for line in error.problems), (
            f"the collection error names the file and the key: {error}"
        )
    else:
        assert path.name.startswith("run_"), f"{path.name} was not refused at collection"
        with connect(victim_db, autocommit=True) as writable:
            runner = Runner(writable, suite, zone="UTC", statement_timeout_ms=5000)
            results = [runner.result(check_id) for check_id in suite.ids()]
            flushed(writable)
        assert any(r.status == "error" for r in results), [r.message for r in results]
    assert written(victim_db) == counters
    assert state(victim_db) == before


def test_corpus_is_large_enough() -> None:
    assert len(RULE_FILES) + len(SQL_FILES) >= 25
    assert any(p.name.startswith("run_") for p in RULE_FILES + SQL_FILES)


# The executor's own boundary, with no vetting in front: raw text straight to the server.
RAW = {
    "statements after COMMIT": (
        "SELECT 1; COMMIT; BEGIN READ WRITE; DELETE FROM public.victim; SELECT 1"
    ),
    "a bare COMMIT": "COMMIT",
    "a DELETE": "DELETE FROM public.victim",
    "a data-modifying CTE": "WITH d AS (DELETE FROM public.victim RETURNING 1) SELECT * FROM d",
    "a volatile function that deletes": "SELECT public.zap()",
    "read-write after a query": "SELECT set_config('transaction_read_only', 'off', false)",
    "SELECT INTO": "SELECT * INTO public.stolen FROM public.victim",
    "nextval": "SELECT nextval('public.victim_seq')",
    "EXPLAIN ANALYZE": "EXPLAIN ANALYZE DELETE FROM public.victim",
    "a comment first": "/* */ DELETE FROM public.victim",
    "CALL": "CALL public.wipe()",
    "SET ROLE": "SET ROLE postgres",
}


@pytest.mark.parametrize("text", RAW.values(), ids=RAW.keys())
def test_executor_alone_refuses_raw_writes(text: str, victim_db: str) -> None:
    before, counters = state(victim_db), written(victim_db)
    with connect(victim_db, autocommit=True) as writable:
        with pytest.raises((psycopg.Error, ReadRefused)):
            Reader(writable).fetch(text)
        assert Reader(writable).value("SELECT count(*) FROM public.victim") == 10
        flushed(writable)
    assert written(victim_db) == counters
    assert state(victim_db) == before
