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
from dataclasses import dataclass

import psycopg

from selfheal.migrate.catalog_changes import DbObject, Key

_TABLES = """
SELECT c.oid, selfheal_guard.rel(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
"""
# Rows inserted, updated and deleted so far per table and system catalog, as this session's
# statistics count them. Counts of earlier transactions not yet flushed are included (the server
# flushes them at most once a second), so what a run did is the difference of two readings
# taken in its transaction.
_COUNTERS = """
SELECT c.oid, c.relnamespace = 'pg_catalog'::regnamespace,
       pg_stat_get_xact_tuples_inserted(c.oid) + pg_stat_get_xact_tuples_deleted(c.oid),
       pg_stat_get_xact_tuples_updated(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('information_schema', 'selfheal_guard', 'pg_toast')
"""


def all_tables(conn: psycopg.Connection) -> dict[int, str]:
    """oid -> schema.table of every permanent table (partitions included)."""
    return dict(conn.execute(_TABLES).fetchall())


@dataclass(frozen=True)
class Counters:
    """A reading of the row counters, to tell what a run in the same transaction wrote."""

    rows: dict[int, tuple[bool, int, int]]  # oid -> (system catalog, inserted + deleted, updated)

    @classmethod
    def read(cls, conn: psycopg.Connection) -> Counters:
        return cls({oid: tuple(counts) for oid, *counts in conn.execute(_COUNTERS)})

    def moved_tables(self, conn: psycopg.Connection) -> dict[int, str]:
        """oid -> schema.table of each table the run inserted rows into or deleted from."""
        now = Counters.read(conn).rows
        moved = [
            o for o, (system, rows, _) in now.items() if not system and self._was(o)[1] != rows
        ]
        return dict(conn.execute(_TABLES + "  AND c.oid = ANY(%s)", (moved,)).fetchall())

    def catalog_written(self, conn: psycopg.Connection) -> bool:
        """Whether the run wrote a row of a system catalog: every change to what
        `catalog_changes.objects` reads does (DDL, GRANT, COMMENT, even a direct UPDATE)."""
        now = Counters.read(conn).rows
        return any(counts != self._was(o) for o, counts in now.items() if counts[0])

    def _was(self, oid: int) -> tuple[bool, int, int]:
        return self.rows.get(oid, (False, 0, 0))


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
