"""Applying a file a second time must change nothing: what a second run changed.

The catalog is compared through two snapshots of `catalog_changes.objects` (relations, columns,
defaults, indexes, constraints, policies, functions, triggers, types, schemas, extensions,
privileges, default privileges, the Supabase roles), by name: an object a second run creates,
removes or changes is a finding. Rows are compared through the table statistics of the second
run's transaction: a table into which it inserted or from which it deleted rows is counted
before and after it. The same statistics of the system catalogs tell when a transactional second
run wrote no catalog row at all: then the catalog is the first run's, and is not read again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg

from selfheal.migrate.catalog_changes import DbObject, Key

_TABLES = """
SELECT c.oid, selfheal_guard.rel(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
"""
# Of those, the ones into which this transaction inserted rows or from which it deleted some.
_MOVED = (
    _TABLES + "  AND pg_stat_get_xact_tuples_inserted(c.oid) + "
    "pg_stat_get_xact_tuples_deleted(c.oid) > 0"
)

# Whether this transaction inserted, updated or deleted a row of a system catalog: every change
# to what `catalog_changes.objects` reads (DDL, GRANT, COMMENT, even a direct catalog UPDATE) does.
_CATALOG_WRITTEN = """
SELECT EXISTS (SELECT FROM pg_class c WHERE c.relnamespace = 'pg_catalog'::regnamespace
  AND c.relkind = 'r' AND pg_stat_get_xact_tuples_inserted(c.oid)
      + pg_stat_get_xact_tuples_updated(c.oid) + pg_stat_get_xact_tuples_deleted(c.oid) > 0)
"""


def all_tables(conn: psycopg.Connection) -> dict[int, str]:
    """oid -> schema.table of every permanent table (partitions included)."""
    return dict(conn.execute(_TABLES).fetchall())


def moved_tables(conn: psycopg.Connection) -> dict[int, str]:
    """oid -> schema.table of each table this transaction inserted rows into or deleted from."""
    return dict(conn.execute(_MOVED).fetchall())


def catalog_written(conn: psycopg.Connection) -> bool:
    """Whether this transaction wrote a row of a system catalog."""
    return conn.execute(_CATALOG_WRITTEN).fetchone()[0]


def _states(objects: dict[Key, DbObject]) -> dict[str, str]:
    return {
        o.name: f"{o.type_name} {json.dumps(o.attributes, sort_keys=True)} {o.definition}"
        for o in objects.values()
    }


def catalog_changes(
    before: dict[Key, DbObject], after: dict[Key, DbObject]
) -> Iterator[tuple[str, str]]:
    """(object, detail) of each object a second run created, removed or changed."""
    old, new = _states(before), _states(after)
    for name in sorted(new.keys() - old.keys()):
        yield name, "a second run creates it"
    for name in sorted(old.keys() - new.keys()):
        yield name, "a second run removes it"
    for name in sorted(old.keys() & new.keys()):
        if old[name] != new[name]:
            yield name, "a second run changes its definition, settings or privileges"
