"""What a migration file creates, named so that another database can be asked whether it has it.

The guard reads, in its scratch database, the schemas, relations, functions and types each file
created. Preflight then asks the target which of them it already has: a pending file whose
every object exists was applied without its ledger row (or the row was deleted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from selfheal.core.identifiers import qualified, quote_ident
from selfheal.core.readonly import Reader
from selfheal.migrate.catalog_changes import PG_CLASS, PG_NAMESPACE, PG_PROC, PG_TYPE, Key

_NAMES = """
SELECT 'relation', n.nspname, c.relname, '' FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY(%(relations)s)
UNION ALL
SELECT 'function', n.nspname, p.proname, oidvectortypes(p.proargtypes) FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = ANY(%(functions)s)
UNION ALL
SELECT 'type', n.nspname, t.typname, '' FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = ANY(%(types)s)
UNION ALL
SELECT 'schema', '', n.nspname, '' FROM pg_namespace n WHERE n.oid = ANY(%(schemas)s)
ORDER BY 1, 2, 3, 4
"""

# Per kind: does the database have an object of that schema, name (and argument types)?
_EXISTS = {
    "relation": "SELECT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n "
    "ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s AND c.relname = %(name)s)",
    "function": "SELECT EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n "
    "ON n.oid = p.pronamespace WHERE n.nspname = %(schema)s AND p.proname = %(name)s "
    "AND oidvectortypes(p.proargtypes) = %(arguments)s)",
    "type": "SELECT EXISTS (SELECT FROM pg_type t JOIN pg_namespace n "
    "ON n.oid = t.typnamespace WHERE n.nspname = %(schema)s AND t.typname = %(name)s)",
    "schema": "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = %(name)s)",
}
_CATALOG_PARAMETER = {
    PG_CLASS: "relations",
    PG_PROC: "functions",
    PG_TYPE: "types",
    PG_NAMESPACE: "schemas",
}


@dataclass(frozen=True)
class CreatedObject:
    kind: str  # relation, function, type or schema
    schema: str  # '' for a schema
    name: str
    arguments: str = ""  # a function's argument types, as oidvectortypes() writes them

    def __str__(self) -> str:
        name = qualified(self.schema, self.name) if self.schema else quote_ident(self.name)
        return f"{self.kind} {name}" + (f"({self.arguments})" if self.kind == "function" else "")


def created_objects(conn: psycopg.Connection, keys: Iterable[Key]) -> list[CreatedObject]:
    """The objects of these catalog keys (new since a file ran), in a stable order."""
    oids: dict[str, list[int]] = {parameter: [] for parameter in _CATALOG_PARAMETER.values()}
    for catalog, oid, sub_id in keys:
        if sub_id == 0 and catalog in _CATALOG_PARAMETER:
            oids[_CATALOG_PARAMETER[catalog]].append(oid)
    if not any(oids.values()):
        return []
    return [CreatedObject(*row) for row in conn.execute(_NAMES, oids).fetchall()]


def absent(reader: Reader, objects: Iterable[CreatedObject]) -> list[CreatedObject]:
    """Those of `objects` the database does not have."""
    return [o for o in objects if not reader.value(_EXISTS[o.kind], asdict(o))]


def as_rows(objects: Iterable[CreatedObject]) -> tuple[dict[str, str], ...]:
    """The objects as plain rows: a problem's evidence, read back by `from_rows`."""
    return tuple(asdict(o) for o in objects)


def from_rows(rows: Iterable[Mapping[str, Any]]) -> list[CreatedObject]:
    """The objects of `as_rows`; rows of another shape are not objects and are left out."""
    fields = set(CreatedObject.__dataclass_fields__)
    return [CreatedObject(**row) for row in rows if set(row) == fields and row["kind"] in _EXISTS]
