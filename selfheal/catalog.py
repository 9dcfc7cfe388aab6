"""One snapshot of a database's catalog, taken in a handful of queries.

Every object is a frozen dataclass with a `key` (its identity inside one database), a readable
`label` (`public.events.occurred_at`), a `kind` (table, column, index, ...) and `COMPARED`, the
fields whose values must match between the expected and the live database. The schema diff, the
delta generator, the RLS lints and the doctor all read the same `CatalogSnapshot`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import psycopg

from selfheal.core.identifiers import qualified, quote_ident
from selfheal.core.readonly import Reader

# Schemas that belong to PostgreSQL, to selfheal itself or to the Supabase CLI (the ledgers).
IGNORED_SCHEMAS = (
    "pg_catalog",
    "information_schema",
    "pg_toast",
    "selfheal",
    "supabase_migrations",
)
_IGNORED_PATTERN = r"^pg_(temp|toast_temp)_"

RELATION_KINDS = {
    "r": "table",
    "p": "table",
    "v": "view",
    "m": "materialized_view",
    "f": "foreign_table",
}


@dataclass(frozen=True)
class CatalogObject:
    kind: ClassVar[str] = "object"
    COMPARED: ClassVar[tuple[str, ...]] = ()

    @property
    def key(self) -> tuple[str, ...]:
        raise NotImplementedError

    @property
    def label(self) -> str:
        return qualified(*self.key)

    @property
    def schema_name(self) -> str:
        return self.key[0]


@dataclass(frozen=True)
class Schema(CatalogObject):
    kind: ClassVar[str] = "schema"
    name: str

    @property
    def key(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Extension(CatalogObject):
    kind: ClassVar[str] = "extension"
    name: str
    schema: str
    version: str
    default_version: str = ""  # what CREATE EXTENSION would install on this server now

    @property
    def key(self) -> tuple[str, ...]:
        return (self.name,)

    @property
    def schema_name(self) -> str:
        return self.schema


@dataclass(frozen=True)
class EnumType(CatalogObject):
    kind: ClassVar[str] = "enum"
    COMPARED: ClassVar[tuple[str, ...]] = ("labels",)
    schema: str
    name: str
    labels: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return (self.schema, self.name)


@dataclass(frozen=True)
class Function(CatalogObject):
    kind: ClassVar[str] = "function"
    COMPARED: ClassVar[tuple[str, ...]] = (
        "security_definer",
        "config",
        "result",
        "body",
        "owner",
        "acl",
    )
    schema: str
    name: str
    arguments: str  # identity arguments, e.g. "rows jsonb"
    result: str
    security_definer: bool
    config: tuple[str, ...]  # e.g. ("search_path=''",)
    body: str
    definition: str  # CREATE OR REPLACE FUNCTION ... as pg_get_functiondef renders it
    owner: str = ""
    acl: tuple[str, ...] = ()  # "grantee=PRIVILEGE" for every role but the owner ("public=...")

    @property
    def key(self) -> tuple[str, ...]:
        return (self.schema, self.name, self.arguments)

    @property
    def label(self) -> str:
        return f"{qualified(self.schema, self.name)}({self.arguments})"

    @property
    def executors(self) -> tuple[str, ...]:
        """The roles (or "public") that may execute the function, its owner aside."""
        return tuple(entry.split("=", 1)[0] for entry in self.acl if entry.endswith("=EXECUTE"))

    @property
    def fixed_search_path(self) -> bool:
        return any(item.startswith("search_path=") for item in self.config)


@dataclass(frozen=True)
class Relation(CatalogObject):
    """A table (plain or partitioned), a partition, a view, a materialized or foreign table."""

    COMPARED: ClassVar[tuple[str, ...]] = (
        "relkind",
        "rls_enabled",
        "rls_forced",
        "partition_key",
        "view_definition",
    )
    schema: str
    name: str
    relkind: str
    owner: str
    rls_enabled: bool = False
    rls_forced: bool = False
    partition_key: str | None = None  # "RANGE (occurred_at)" on a partitioned table
    partition_of: tuple[str, str] | None = None  # (schema, name) of the parent
    partition_bound: str | None = None  # "FOR VALUES FROM (...) TO (...)"
    view_definition: str | None = None
    options: tuple[str, ...] = ()  # reloptions, e.g. ("security_invoker=true",)
    reads: tuple[tuple[str, str], ...] = ()  # (schema, name) of the relations a view reads

    @property
    def kind(self) -> str:  # type: ignore[override]
        return RELATION_KINDS[self.relkind]

    @property
    def key(self) -> tuple[str, ...]:
        return (self.schema, self.name)

    @property
    def is_table(self) -> bool:
        return self.relkind in ("r", "p")

    @property
    def is_view(self) -> bool:
        return self.relkind in ("v", "m")


@dataclass(frozen=True)
class Column(CatalogObject):
    kind: ClassVar[str] = "column"
    COMPARED: ClassVar[tuple[str, ...]] = ("type", "not_null", "default", "identity", "generated")
    schema: str
    table: str
    name: str
    position: int
    type: str
    not_null: bool
    default: str | None  # the generation expression when `generated` is "s"
    identity: str  # "" | "a" (ALWAYS) | "d" (BY DEFAULT)
    generated: str  # "" | "s" (STORED)
    inherited: bool  # a partition's column that comes from its parent

    @property
    def key(self) -> tuple[str, ...]:
        return (self.schema, self.table, self.name)


@dataclass(frozen=True)
class Constraint(CatalogObject):
    kind: ClassVar[str] = "constraint"
    COMPARED: ClassVar[tuple[str, ...]] = ("type", "definition", "validated")
    schema: str
    table: str
    name: str
    type: str  # p (primary key), u (unique), f (foreign key), c (check), x (exclusion)
    definition: str  # without NOT VALID: whether rows were checked is `validated`
    columns: tuple[str, ...]
    referenced_table: tuple[str, str] | None = None
    inherited: bool = False  # created on a partition by its parent's constraint
    validated: bool = True  # False: added NOT VALID and never validated (old rows unchecked)
    referenced_columns: tuple[str, ...] = ()  # a foreign key's columns in the referenced table

    @property
    def key(self) -> tuple[str, ...]:
        return (self.schema, self.table, self.name)


@dataclass(frozen=True)
class Index(CatalogObject):
    kind: ClassVar[str] = "index"
    COMPARED: ClassVar[tuple[str, ...]] = ("definition", "valid")
    schema: str
    name: str
    table: str
    definition: str
    unique: bool
    valid: bool
    columns: tuple[str, ...]  # key columns in order; "" for an expression
    partial: bool
    constraint: str | None  # the constraint this index backs (primary key, unique)
    inherited: bool  # a partition's index attached to its parent's index
    body: str | None  # the definition after "ON <table> ": "USING btree (col) WHERE ..."

    @property
    def key(self) -> tuple[str, ...]:
        return (self.schema, self.name)


@dataclass(frozen=True)
class Policy(CatalogObject):
    kind: ClassVar[str] = "policy"
    COMPARED: ClassVar[tuple[str, ...]] = ("command", "roles", "permissive", "using", "check")
    schema: str
    table: str
    name: str
    command: str  # ALL, SELECT, INSERT, UPDATE, DELETE
    roles: tuple[str, ...]  # "public" for every role
    permissive: bool
    using: str | None
    check: str | None

    @property
    def key(self) -> tuple[str, ...]:
        return (self.schema, self.table, self.name)


@dataclass(frozen=True)
class Grant(CatalogObject):
    """The table privileges one role holds; a live database may hold more, never fewer."""

    kind: ClassVar[str] = "grant"
    COMPARED: ClassVar[tuple[str, ...]] = ("privileges",)
    schema: str
    table: str
    grantee: str
    privileges: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return (self.schema, self.table, self.grantee)

    @property
    def label(self) -> str:
        return f"{qualified(self.schema, self.table)} to {quote_ident(self.grantee)}"

    def missing_privileges(self, live: Grant) -> tuple[str, ...]:
        return tuple(p for p in self.privileges if p not in live.privileges)


@dataclass(frozen=True)
class DefaultPrivilege(CatalogObject):
    """What one role's future objects of one kind grant one grantee (ALTER DEFAULT PRIVILEGES);
    like a grant, a live database may hold more, never fewer."""

    kind: ClassVar[str] = "default_privilege"
    COMPARED: ClassVar[tuple[str, ...]] = ("privileges",)
    role: str  # whose new objects
    schema: str  # "" when the default holds in every schema
    objects: str  # TABLES, SEQUENCES, FUNCTIONS, TYPES or SCHEMAS
    grantee: str
    privileges: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return (self.schema, self.role, self.objects, self.grantee)

    @property
    def label(self) -> str:
        where = f" in {quote_ident(self.schema)}" if self.schema else ""
        return (
            f"default privileges of {quote_ident(self.role)}{where} on {self.objects.lower()} "
            f"to {quote_ident(self.grantee)}"
        )


@dataclass(frozen=True)
class DefaultedPrivilege:
    """A privilege an expected table or function holds only because the platform's default
    privileges (Supabase's) gave it when a migration created the object, not because a
    migration granted it: expected only where the target's own defaults give it too."""

    objects: str  # TABLES (a table's grant) or FUNCTIONS (a function's acl)
    key: tuple[str, ...]  # the grant's key (schema, table, grantee) or the function's key
    grantee: str
    privilege: str


# The snapshot's collections in dependency order: what a migration creates first comes first.
COLLECTIONS: dict[str, type[CatalogObject]] = {
    "schemas": Schema,
    "extensions": Extension,
    "enums": EnumType,
    "functions": Function,
    "relations": Relation,
    "columns": Column,
    "constraints": Constraint,
    "indexes": Index,
    "policies": Policy,
    "grants": Grant,
    "default_privileges": DefaultPrivilege,
}


@dataclass
class CatalogSnapshot:
    schemas: dict[tuple, Schema] = field(default_factory=dict)
    extensions: dict[tuple, Extension] = field(default_factory=dict)
    enums: dict[tuple, EnumType] = field(default_factory=dict)
    functions: dict[tuple, Function] = field(default_factory=dict)
    relations: dict[tuple, Relation] = field(default_factory=dict)
    columns: dict[tuple, Column] = field(default_factory=dict)
    constraints: dict[tuple, Constraint] = field(default_factory=dict)
    indexes: dict[tuple, Index] = field(default_factory=dict)
    policies: dict[tuple, Policy] = field(default_factory=dict)
    grants: dict[tuple, Grant] = field(default_factory=dict)
    default_privileges: dict[tuple, DefaultPrivilege] = field(default_factory=dict)
    # Of an expected snapshot: which of its privileges come from the platform's defaults.
    defaulted: frozenset[DefaultedPrivilege] = frozenset()

    def __repr__(self) -> str:
        """Sizes only: a snapshot holds thousands of objects, and a repr can end up in a
        message or a traceback."""
        sizes = ", ".join(f"{len(self.collection(name))} {name}" for name in COLLECTIONS)
        return f"CatalogSnapshot({sizes})"

    def collection(self, name: str) -> dict[tuple, CatalogObject]:
        return getattr(self, name)

    def objects(self) -> list[CatalogObject]:
        """Every object, in dependency order."""
        return [obj for name in COLLECTIONS for obj in self.collection(name).values()]

    def table(self, schema: str, name: str) -> Relation | None:
        return self.relations.get((schema, name))

    def columns_of(self, schema: str, table: str) -> list[Column]:
        found = [c for c in self.columns.values() if (c.schema, c.table) == (schema, table)]
        return sorted(found, key=lambda c: c.position)

    def minus(self, baseline: CatalogSnapshot) -> CatalogSnapshot:
        """The objects absent from `baseline` or different there: what a migration added."""
        result = CatalogSnapshot()
        for name in COLLECTIONS:
            before = baseline.collection(name)
            kept = {k: v for k, v in self.collection(name).items() if before.get(k) != v}
            setattr(result, name, kept)
        return result

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {
            name: [asdict(obj) for obj in self.collection(name).values()] for name in COLLECTIONS
        }

    @classmethod
    def from_json(cls, data: dict[str, list[dict[str, Any]]]) -> CatalogSnapshot:
        snapshot = cls()
        for name, kind in COLLECTIONS.items():
            objects = [_from_dict(kind, item) for item in data.get(name, [])]
            setattr(snapshot, name, {obj.key: obj for obj in objects})
        return snapshot


def _from_dict(kind: type[CatalogObject], item: dict[str, Any]) -> CatalogObject:
    """JSON lists back to the tuples the dataclasses hold."""
    values = {f.name: _tupled(item[f.name]) for f in fields(kind)}
    return kind(**values)


# ---------------------------------------------------------------------------------------------
# The queries. Each returns rows in the field order of its dataclass.

_SCOPE = """
    {nsp} NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'selfheal')
    AND {nsp} !~ '^pg_(temp|toast_temp)_'
"""


def _scoped(query: str, nsp: str = "n.nspname") -> str:
    return query.replace("{scope}", _SCOPE.format(nsp=nsp))


_SCHEMAS = _scoped("SELECT n.nspname FROM pg_namespace n WHERE {scope} ORDER BY 1")

_EXTENSIONS = _scoped("""
SELECT e.extname, n.nspname, e.extversion, coalesce(a.default_version, '')
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
LEFT JOIN pg_available_extensions a ON a.name = e.extname
WHERE {scope} ORDER BY 1
""")

_ENUMS = _scoped("""
SELECT n.nspname, t.typname,
       array(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e' AND {scope} ORDER BY 1, 2
""")

# Functions that an extension owns are the extension's business, not a migration's.
_FUNCTIONS = _scoped("""
SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
       pg_get_function_result(p.oid), p.prosecdef, coalesce(p.proconfig, '{}'), p.prosrc,
       pg_get_functiondef(p.oid), pg_get_userbyid(p.proowner),
       array(SELECT CASE WHEN g.grantee = 0 THEN 'public' ELSE pg_get_userbyid(g.grantee) END
                    || '=' || g.privilege_type
             FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) g
             WHERE g.grantee <> p.proowner ORDER BY 1)::text[]
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p') AND {scope}
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1, 2, 3
""")

_RELATIONS = _scoped("""
SELECT n.nspname, c.relname, c.relkind::text, pg_get_userbyid(c.relowner),
       c.relrowsecurity, c.relforcerowsecurity,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relispartition THEN array[pn.nspname, pc.relname]::text[] END,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
       coalesce(c.reloptions, '{}'),
       array(
           SELECT DISTINCT array[rn.nspname, rc.relname]::text[]
           FROM pg_rewrite w
           JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                           AND d.refclassid = 'pg_class'::regclass
           JOIN pg_class rc ON rc.oid = d.refobjid AND rc.oid <> c.oid
           JOIN pg_namespace rn ON rn.oid = rc.relnamespace
           WHERE w.ev_class = c.oid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_inherits i ON c.relispartition AND i.inhrelid = c.oid
LEFT JOIN pg_class pc ON pc.oid = i.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {scope}
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
""")

_COLUMNS = _scoped("""
SELECT n.nspname, c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity::text,
       a.attgenerated::text, NOT a.attislocal
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {scope}
  AND NOT EXISTS (SELECT FROM pg_depend x WHERE x.classid = 'pg_class'::regclass
                  AND x.objid = c.oid AND x.deptype = 'e')
ORDER BY 1, 2, 4
""")

_CONSTRAINTS = _scoped("""
SELECT n.nspname, c.relname, o.conname, o.contype::text,
       regexp_replace(pg_get_constraintdef(o.oid), ' NOT VALID$', ''),
       array(SELECT a.attname FROM unnest(o.conkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = o.conrelid AND a.attnum = k.num
             ORDER BY k.pos)::text[],
       CASE WHEN o.contype = 'f' THEN array[fn.nspname, fc.relname]::text[] END,
       o.conparentid <> 0 OR NOT o.conislocal,
       o.convalidated,
       array(SELECT a.attname FROM unnest(o.confkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = o.confrelid AND a.attnum = k.num
             ORDER BY k.pos)::text[]
FROM pg_constraint o
JOIN pg_class c ON c.oid = o.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class fc ON fc.oid = o.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE o.contype IN ('p', 'u', 'f', 'c', 'x') AND {scope}
ORDER BY 1, 2, 3
""")

_INDEXES = _scoped("""
SELECT n.nspname, ic.relname, tc.relname, pg_get_indexdef(i.indexrelid), i.indisunique,
       i.indisvalid,
       array(SELECT coalesce(a.attname, '') FROM unnest(i.indkey[:i.indnkeyatts - 1])
             WITH ORDINALITY k(num, pos)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
             ORDER BY k.pos)::text[],
       i.indpred IS NOT NULL,
       (SELECT o.conname FROM pg_constraint o WHERE o.conindid = i.indexrelid
          AND o.conrelid = i.indrelid AND o.contype IN ('p', 'u', 'x') LIMIT 1),
       ic.relispartition,
       CASE WHEN starts_with(def.text, def.head) THEN substr(def.text, length(def.head) + 1) END
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
CROSS JOIN LATERAL (
    SELECT pg_get_indexdef(i.indexrelid) AS text,
           format('CREATE %sINDEX %I ON %s%I.%I ',
                  CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END, ic.relname,
                  CASE WHEN tc.relkind = 'p' THEN 'ONLY ' ELSE '' END, n.nspname, tc.relname)
               AS head
) def
WHERE tc.relkind IN ('r', 'p', 'm') AND {scope}
ORDER BY 1, 2
""")

_POLICIES = _scoped("""
SELECT n.nspname, c.relname, p.polname,
       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
       CASE WHEN p.polroles = '{0}' THEN array['public']::text[]
            ELSE array(SELECT rolname FROM pg_roles WHERE oid = ANY (p.polroles)
                       ORDER BY rolname)::text[] END,
       p.polpermissive, pg_get_expr(p.polqual, p.polrelid),
       pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {scope}
ORDER BY 1, 2, 3
""")

# Table privileges granted to roles other than the owner (the owner's are implicit).
_GRANTS = _scoped("""
SELECT n.nspname, c.relname,
       CASE WHEN g.grantee = 0 THEN 'public' ELSE pg_get_userbyid(g.grantee) END,
       array_agg(g.privilege_type ORDER BY g.privilege_type)::text[]
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(c.relacl) g
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND g.grantee <> c.relowner AND {scope}
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
""")


_DEFAULT_PRIVILEGES = _scoped(
    """
SELECT pg_get_userbyid(d.defaclrole), coalesce(n.nspname, ''),
       CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES'
            WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END,
       CASE WHEN g.grantee = 0 THEN 'public' ELSE pg_get_userbyid(g.grantee) END,
       array_agg(g.privilege_type ORDER BY g.privilege_type)::text[]
FROM pg_default_acl d
LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL aclexplode(d.defaclacl) g
WHERE g.grantee <> d.defaclrole AND {scope}
GROUP BY 1, 2, 3, 4
ORDER BY 2, 1, 3, 4
""",
    "coalesce(n.nspname, '')",
)


def _tupled(value: object) -> object:
    """Arrays (nested too) as tuples, so every object stays hashable and comparable."""
    if isinstance(value, list | tuple):
        return tuple(_tupled(v) for v in value)
    return value


def _load(
    rows: Callable[[str], list[Any]], query: str, kind: type[CatalogObject]
) -> dict[tuple, CatalogObject]:
    objects = [kind(*_tupled(row)) for row in rows(query)]
    return {obj.key: obj for obj in objects}


QUERIES: dict[str, str] = {
    "schemas": _SCHEMAS,
    "extensions": _EXTENSIONS,
    "enums": _ENUMS,
    "functions": _FUNCTIONS,
    "relations": _RELATIONS,
    "columns": _COLUMNS,
    "constraints": _CONSTRAINTS,
    "indexes": _INDEXES,
    "policies": _POLICIES,
    "grants": _GRANTS,
    "default_privileges": _DEFAULT_PRIVILEGES,
}


def _read_all(rows: Callable[[str], list[Any]]) -> CatalogSnapshot:
    result = CatalogSnapshot()
    for name, query in QUERIES.items():
        setattr(result, name, _load(rows, query, COLLECTIONS[name]))
    return result


def snapshot(conn: psycopg.Connection) -> CatalogSnapshot:
    """The catalog of the connected database, one query per collection, in one read snapshot.

    Every name in rendered definitions comes out schema-qualified, whatever the session's
    search_path (it is pg_catalog only while reading): the same object reads the same anywhere.
    """
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        reader = Reader(conn)
        settings = {"search_path": "pg_catalog"}
        with reader.transaction(isolation="REPEATABLE READ", settings=settings) as tx:
            return _read_all(tx.rows)
    # Inside the caller's own transaction (a test reading objects it will roll back).
    with conn.transaction():
        conn.execute("SET LOCAL search_path TO pg_catalog")
        return _read_all(lambda query: conn.execute(query).fetchall())
