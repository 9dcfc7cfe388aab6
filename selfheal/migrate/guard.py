"""The guard: PostgreSQL itself judges whether a migration is destructive or not idempotent.

In a scratch database the migrations are applied in order, statement by statement, while
instruments record what really happens:
- an event trigger on `sql_drop` logs every object dropped (table, column, index, constraint,
  policy, function, type, schema, ...);
- statement-level BEFORE TRUNCATE / DELETE triggers on every table log data removal;
- catalog snapshots keyed by OID before and after each file show renames, narrowed column types
  and disabled row-level security; a `ddl_command_end` event trigger tells which statement
  touched each object.
Each finding carries the line of the statement that caused it. Right after, the file is applied
a second time: it must succeed and change nothing (catalog and row counts).

A reviewed exception is waived in the migration itself with a comment:
    -- selfheal:allow-destructive <kind> <object>: <reason>
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from selfheal.core.db import connect, scratch_database
from selfheal.core.shim import apply_shim
from selfheal.core.text import first_line
from selfheal.migrate.files import MigrationFile
from selfheal.migrate.statements import split_statements

KINDS = ("drop", "rename", "narrow", "disable-rls", "truncate", "delete", "not-idempotent", "error")
WAIVER = re.compile(
    r"--\s*selfheal:allow-destructive\s+(?P<kind>[a-z-]+)\s+(?P<object>.+?):\s*(?P<reason>\S.*)$",
    re.MULTILINE,
)
# Dropping these is not destruction of anything a migration owns.
_IGNORED_DROP_TYPES = {"default value"}
_ABSENT_DROP = (
    "DROP of an object the migrations do not create here; on a live database it would be dropped"
)

_INSTRUMENTS = """
CREATE SCHEMA selfheal_guard;
CREATE TABLE selfheal_guard.log (
    id bigint GENERATED ALWAYS AS IDENTITY, kind text, object text, classid oid, objid oid,
    objsubid int
);
CREATE FUNCTION selfheal_guard.on_drop() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO selfheal_guard.log (kind, object, classid, objid, objsubid)
  SELECT CASE WHEN is_temporary THEN 'temp-drop' ELSE 'drop' END,
         object_type || ' ' || object_identity, classid, objid, objsubid
  FROM pg_event_trigger_dropped_objects()
  WHERE original;
END $$;
CREATE EVENT TRIGGER selfheal_guard_drop ON sql_drop EXECUTE FUNCTION selfheal_guard.on_drop();
CREATE FUNCTION selfheal_guard.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO selfheal_guard.log (kind, object, classid, objid, objsubid)
  SELECT 'ddl', command_tag, classid, objid, 0 FROM pg_event_trigger_ddl_commands();
END $$;
CREATE EVENT TRIGGER selfheal_guard_ddl ON ddl_command_end EXECUTE FUNCTION selfheal_guard.on_ddl();
CREATE FUNCTION selfheal_guard.on_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO selfheal_guard.log (kind, object)
  VALUES (lower(TG_OP), 'table ' || quote_ident(TG_TABLE_SCHEMA) || '.' || quote_ident(TG_TABLE_NAME));
  RETURN NULL;
END $$;
"""

# Objects that exist, keyed by (catalog, oid, sub-id), with a name, a type and flags.
_OBJECTS = """
SELECT 'pg_class'::regclass::oid, c.oid, 0, c.relname,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
         WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'I' THEN 'partitioned index'
         WHEN 'S' THEN 'sequence' ELSE 'foreign table' END
       || ' ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       '', c.relrowsecurity::text || c.relforcerowsecurity::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
  AND c.relkind IN ('r', 'p', 'v', 'm', 'i', 'I', 'S', 'f')
UNION ALL
SELECT 'pg_class'::regclass::oid, a.attrelid, a.attnum, a.attname,
       'column ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.' || quote_ident(a.attname),
       format_type(a.atttypid, a.atttypmod), ''
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
UNION ALL
SELECT 'pg_constraint'::regclass::oid, o.oid, 0, o.conname,
       'constraint ' || quote_ident(o.conname) || ' on ' || o.conrelid::regclass::text, '', ''
FROM pg_constraint o JOIN pg_namespace n ON n.oid = o.connamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard')
UNION ALL
SELECT 'pg_policy'::regclass::oid, p.oid, 0, p.polname,
       'policy ' || quote_ident(p.polname) || ' on ' || p.polrelid::regclass::text, '', ''
FROM pg_policy p
UNION ALL
SELECT 'pg_proc'::regclass::oid, p.oid, 0, p.proname, 'function ' || p.oid::regprocedure::text, '', ''
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard')
UNION ALL
SELECT 'pg_type'::regclass::oid, t.oid, 0, t.typname, 'type ' || t.oid::regtype::text, '', ''
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
  AND t.typtype IN ('e', 'd', 'c') AND (t.typrelid = 0 OR t.typtype = 'c' AND
      (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
UNION ALL
SELECT 'pg_trigger'::regclass::oid, t.oid, 0, t.tgname,
       'trigger ' || quote_ident(t.tgname) || ' on ' || t.tgrelid::regclass::text, '', ''
FROM pg_trigger t WHERE NOT t.tgisinternal AND t.tgname NOT LIKE 'selfheal\\_guard\\_%'
UNION ALL
SELECT 'pg_extension'::regclass::oid, e.oid, 0, e.extname, 'extension ' || e.extname, '', ''
FROM pg_extension e
UNION ALL
SELECT 'pg_namespace'::regclass::oid, n.oid, 0, n.nspname, 'schema ' || quote_ident(n.nspname), '', ''
FROM pg_namespace n
WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT IN ('information_schema', 'selfheal_guard')
"""

# A description of everything a migration could change, for the idempotency comparison.
_FINGERPRINT = """
SELECT 'rel ' || c.oid::regclass::text || ' ' || c.relkind::text || ' ' || c.relrowsecurity
       || ' ' || c.relforcerowsecurity || ' ' || coalesce(c.relacl::text, '') || ' '
       || coalesce(obj_description(c.oid, 'pg_class'), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
UNION ALL
SELECT 'col ' || a.attrelid::regclass::text || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
UNION ALL
SELECT 'idx ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
UNION ALL
SELECT 'con ' || o.conrelid::regclass::text || ' ' || o.conname || ' ' || pg_get_constraintdef(o.oid)
FROM pg_constraint o JOIN pg_namespace n ON n.oid = o.connamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard')
UNION ALL
SELECT 'pol ' || p.polrelid::regclass::text || ' ' || p.polname || ' ' || p.polcmd::text || ' ' || p.polpermissive
       || ' ' || p.polroles::text || ' ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '')
       || ' ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
FROM pg_policy p
UNION ALL
SELECT 'fn ' || p.oid::regprocedure::text || ' ' || md5(pg_get_functiondef(p.oid)) || ' '
       || coalesce(p.proacl::text, '')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard') AND p.prokind <> 'a'
UNION ALL
SELECT 'trg ' || pg_get_triggerdef(t.oid) FROM pg_trigger t
WHERE NOT t.tgisinternal AND t.tgname NOT LIKE 'selfheal\\_guard\\_%'
UNION ALL
SELECT 'typ ' || t.oid::regtype::text || ' ' || coalesce((SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder)
       FROM pg_enum WHERE enumtypid = t.oid), '')
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast') AND t.typtype IN ('e', 'd')
UNION ALL
SELECT 'nsp ' || nspname || ' ' || coalesce(nspacl::text, '') FROM pg_namespace
UNION ALL
SELECT 'ext ' || extname || ' ' || extversion FROM pg_extension
UNION ALL
SELECT 'def ' || defaclrole::regrole::text || ' ' || defaclnamespace || ' ' || defaclobjtype::text || ' '
       || defaclacl::text FROM pg_default_acl
"""


@dataclass(frozen=True)
class Finding:
    migration: str
    kind: str
    object: str
    detail: str
    line: int | None = None
    waived_because: str | None = None

    @property
    def refused(self) -> bool:
        return self.waived_because is None

    def __str__(self) -> str:
        where = f"{self.migration}:{self.line}" if self.line else self.migration
        waived = f" (waived: {self.waived_because})" if self.waived_because else ""
        return f"{where}: {self.kind} {self.object}: {self.detail}{waived}"


@dataclass
class GuardReport:
    migrations: list[str]
    findings: list[Finding] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # after a file that failed to apply

    def refused(self, migration: str | None = None) -> list[Finding]:
        return [
            f
            for f in self.findings
            if f.refused and (migration is None or f.migration == migration)
        ]

    @property
    def ok(self) -> bool:
        return not self.refused() and not self.unchecked


@dataclass(frozen=True)
class _DbObject:
    own_name: str  # the object's own name: a change is a rename
    name: str  # kind and qualified name, for people
    type_name: str
    flags: str


def _objects(conn: psycopg.Connection) -> dict[tuple[int, int, int], _DbObject]:
    return {(r[0], r[1], r[2]): _DbObject(*r[3:]) for r in conn.execute(_OBJECTS)}


def _fingerprint(conn: psycopg.Connection) -> set[str]:
    rows = {row[0] for row in conn.execute(_FINGERPRINT)}
    tables = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN "
        "('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')"
    ).fetchall()
    for schema, table in tables:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
        rows.add(f"rows {schema}.{table} {conn.execute(query).fetchone()[0]}")
    return rows


def _arm_removal_triggers(conn: psycopg.Connection) -> None:
    """A statement-level TRUNCATE/DELETE trigger on every table that exists now."""
    conn.execute("""
    DO $$
    DECLARE t regclass;
    BEGIN
      FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
      LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER selfheal_guard_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION selfheal_guard.on_remove()', t);
        EXECUTE format('CREATE OR REPLACE TRIGGER selfheal_guard_delete BEFORE DELETE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION selfheal_guard.on_remove()', t);
      END LOOP;
    END $$;
    """)


_WIDENINGS = {
    ("smallint", "integer"),
    ("smallint", "bigint"),
    ("integer", "bigint"),
    ("smallint", "numeric"),
    ("integer", "numeric"),
    ("bigint", "numeric"),
    ("real", "double precision"),
    ("character varying", "text"),
    ("character", "text"),
    ("character", "character varying"),
    ("json", "jsonb"),
}


def _split_type(type_name: str) -> tuple[str, list[int]]:
    match = re.fullmatch(r"(.+?)\(([\d,]+)\)(\[\])?", type_name)
    if not match:
        return type_name, []
    return match[1] + (match[3] or ""), [int(n) for n in match[2].split(",")]


def is_widening(old: str, new: str) -> bool:
    """True when every value of type `old` fits in `new` unchanged."""
    old_base, old_mods = _split_type(old)
    new_base, new_mods = _split_type(new)
    if old == new:
        return True
    if old_base == new_base:
        if not new_mods:
            return True
        if not old_mods:
            return False
        if old_base == "numeric":
            old_scale = old_mods[1] if len(old_mods) > 1 else 0
            new_scale = new_mods[1] if len(new_mods) > 1 else 0
            return new_scale >= old_scale and new_mods[0] - new_scale >= old_mods[0] - old_scale
        return new_mods[0] >= old_mods[0]
    if new_base == "numeric" and new_mods:
        return False  # a bounded numeric may not hold every integer
    return (old_base, new_base) in _WIDENINGS


def _changes(before: dict, after: dict) -> Iterator[tuple[tuple, str, str, str]]:
    """(key, kind, object, detail) of each rename, narrowed type and disabled RLS."""
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            continue  # dropped: reported by the event trigger
        if new.own_name != old.own_name:
            yield key, "rename", old.name, f"renamed to {new.own_name}"
        if old.type_name and not is_widening(old.type_name, new.type_name):
            yield key, "narrow", new.name, f"type {old.type_name} -> {new.type_name} may lose data"
        table = new.name.split(" ", 1)[1]
        if old.flags[:4] == "true" and not new.flags.startswith("true"):
            yield key, "disable-rls", table, "row level security disabled"
        elif old.flags.endswith("truetrue") and new.flags.endswith("false"):
            yield key, "disable-rls", table, "forced row level security removed"


def _waive(migration: MigrationFile, findings: Iterable[Finding]) -> list[Finding]:
    waivers = {
        (m["kind"], m["object"].strip()): m["reason"].strip()
        for m in WAIVER.finditer(migration.sql)
    }
    result = []
    for f in findings:
        object_name = f.object.split(" ", 1)[1] if " " in f.object else f.object
        reason = waivers.get((f.kind, f.object)) or waivers.get((f.kind, object_name))
        result.append(Finding(f.migration, f.kind, f.object, f.detail, f.line, reason))
    return result


@dataclass(frozen=True)
class _LogEntry:
    kind: str
    object: str
    key: tuple[int, int, int] | None  # (catalog, oid, sub-id) of a dropped object


def _read_log(conn: psycopg.Connection, since: int) -> tuple[int, list[_LogEntry]]:
    rows = conn.execute(
        "SELECT id, kind, object, classid, objid, objsubid FROM selfheal_guard.log "
        "WHERE id > %s ORDER BY id",
        (since,),
    ).fetchall()
    entries = [
        _LogEntry(r[1], r[2], (r[3], r[4], r[5]) if r[3] is not None else None) for r in rows
    ]
    return (rows[-1][0] if rows else since), entries


class _StatementFailed(Exception):
    def __init__(self, finding: Finding):
        super().__init__(str(finding))
        self.finding = finding


def _destroyed_existing(entry: _LogEntry, before: dict, snapshot_catalogs: set[int]) -> bool:
    """Whether a logged removal hit something that existed before the file ran."""
    if entry.kind != "drop":
        return True
    if entry.object.split(" ", 1)[0] in _IGNORED_DROP_TYPES:
        return False
    if entry.key is None or entry.key[0] not in snapshot_catalogs:
        return True  # a kind of object we do not snapshot: assume it existed
    return entry.key in before


def _apply_instrumented(
    conn: psycopg.Connection, migration: MigrationFile, log_id: int
) -> tuple[list[Finding], int]:
    """Apply one file statement by statement; findings for what it destroyed or altered."""
    name = migration.filename
    before = _objects(conn)
    catalogs = {key[0] for key in before}
    findings: list[Finding] = []
    touched_at: dict[tuple[int, int], int] = {}  # (catalog, oid) -> line of the last DDL on it
    # A no-transaction file (CREATE INDEX CONCURRENTLY) runs as the runner runs it: autocommit.
    with conn.transaction() if migration.in_transaction else nullcontext():
        _arm_removal_triggers(conn)
        for statement in split_statements(migration.sql):
            try:
                conn.execute(statement.text)
            except psycopg.Error as error:
                failure = f"does not apply: {first_line(error)}"
                raise _StatementFailed(
                    Finding(name, "error", name, failure, statement.line)
                ) from None
            log_id, entries = _read_log(conn, log_id)
            for entry in entries:
                if entry.kind == "ddl" and entry.key:
                    touched_at[entry.key[:2]] = statement.line
                elif entry in _removals([entry]) and _destroyed_existing(entry, before, catalogs):
                    detail = f"{entry.kind} by the migration"
                    findings.append(Finding(name, entry.kind, entry.object, detail, statement.line))
            if statement.words[:1] == ("DROP",) and not any("drop" in e.kind for e in entries):
                target = " ".join(statement.text.split())[5:80]
                findings.append(Finding(name, "drop", target, _ABSENT_DROP, statement.line))
        after = _objects(conn)
    for key, kind, obj, detail in _changes(before, after):
        findings.append(Finding(name, kind, obj, detail, touched_at.get(key[:2])))
    return findings, log_id


def _removals(entries: list[_LogEntry]) -> list[_LogEntry]:
    """Drops of permanent objects and data removals; not DDL notes or temporary objects."""
    return [e for e in entries if e.kind not in ("ddl", "temp-drop")]


def _reapply(
    conn: psycopg.Connection, migration: MigrationFile, log_id: int
) -> tuple[list[Finding], int]:
    """Apply the file again right away: it must succeed and change nothing."""
    name = migration.filename
    before = _fingerprint(conn)
    objects = _objects(conn)
    catalogs = {key[0] for key in objects}
    try:
        if migration.in_transaction:
            with conn.transaction():
                conn.execute(migration.sql)
        else:
            for statement in split_statements(migration.sql):
                conn.execute(statement.text)
    except psycopg.Error as error:
        return [
            Finding(
                name,
                "not-idempotent",
                name,
                f"fails when applied a second time: {first_line(error)}",
            )
        ], log_id
    log_id, entries = _read_log(conn, log_id)
    after = _fingerprint(conn)
    findings = [
        Finding(name, "not-idempotent", e.object, f"a second run does {e.kind}")
        for e in _removals(entries)
        if _destroyed_existing(e, objects, catalogs)
    ]
    findings += [
        Finding(name, "not-idempotent", line.split(" ")[1], f"a second run adds {line!r}")
        for line in sorted(after - before)
    ]
    findings += [
        Finding(name, "not-idempotent", line.split(" ")[1], f"a second run removes {line!r}")
        for line in sorted(before - after)
    ]
    return findings, log_id


def check_migrations(admin_dsn: str, migrations: list[MigrationFile]) -> GuardReport:
    """Run the guard in a scratch database created through `admin_dsn` (a superuser DSN)."""
    report = GuardReport(migrations=[m.filename for m in migrations])
    with scratch_database(admin_dsn, "guard") as dsn, connect(dsn, autocommit=True) as conn:
        apply_shim(conn)
        conn.execute(_INSTRUMENTS)
        log_id = 0
        for index, migration in enumerate(migrations):
            try:
                findings, log_id = _apply_instrumented(conn, migration, log_id)
            except _StatementFailed as failure:
                report.findings.append(failure.finding)
                report.unchecked = [m.filename for m in migrations[index + 1 :]]
                return report
            repeated, log_id = _reapply(conn, migration, log_id)
            report.findings.extend(_waive(migration, findings + repeated))
    return report
