"""Catalog snapshots keyed by OID: what a file renamed, narrowed, loosened or made less secure.

Each snapshot row is an object that exists, keyed by (catalog, oid, sub-id) so that a rename is
the same object with another name. Comparing two snapshots yields renames, narrowed column
types, row level security switched off, NOT NULL dropped, tables made UNLOGGED, triggers
disabled, and security-relevant changes of functions. Sequences lowered or restarted are read
from the sequences themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

_OBJECTS = """
SELECT 'pg_class'::regclass::oid, c.oid, 0, c.relname,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
         WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'I' THEN 'partitioned index'
         WHEN 'S' THEN 'sequence' ELSE 'foreign table' END
       || ' ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       '', jsonb_build_object('rls', c.relrowsecurity, 'force', c.relforcerowsecurity,
                              'persistence', c.relpersistence, 'kind', c.relkind),
       concat_ws(' ', c.relowner::regrole::text, c.relacl::text, c.reloptions::text,
                 obj_description(c.oid, 'pg_class'),
                 CASE WHEN c.relkind IN ('i', 'I') THEN pg_get_indexdef(c.oid) END)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast') AND c.relpersistence <> 't'
  AND c.relkind IN ('r', 'p', 'v', 'm', 'i', 'I', 'S', 'f')
UNION ALL
SELECT 'pg_class'::regclass::oid, a.attrelid, a.attnum, a.attname,
       'column ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.' || quote_ident(a.attname),
       format_type(a.atttypid, a.atttypmod),
       jsonb_build_object('notnull', a.attnotnull AND c.relkind IN ('r', 'p')),
       concat_ws(' ', a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attacl::text)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast') AND c.relpersistence <> 't'
UNION ALL
SELECT 'pg_constraint'::regclass::oid, o.oid, 0, o.conname,
       'constraint ' || quote_ident(o.conname) || ' on ' ||
       coalesce(selfheal_guard.rel(o.conrelid), 'domain ' || o.contypid::regtype::text), '', '{}',
       pg_get_constraintdef(o.oid)
FROM pg_constraint o JOIN pg_namespace n ON n.oid = o.connamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
UNION ALL
SELECT 'pg_policy'::regclass::oid, p.oid, 0, p.polname,
       'policy ' || quote_ident(p.polname) || ' on ' || selfheal_guard.rel(p.polrelid), '', '{}',
       concat_ws(' ', p.polcmd, p.polpermissive, p.polroles::regrole[]::text,
                 pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
FROM pg_policy p
UNION ALL
SELECT 'pg_proc'::regclass::oid, p.oid, 0, p.proname, 'function ' || selfheal_guard.fn(p.oid), '',
       jsonb_build_object('definer', p.prosecdef, 'config', coalesce(p.proconfig, '{}'),
                          'owner', p.proowner::regrole::text, 'auth', n.nspname = 'auth',
                          'body', CASE WHEN p.prosecdef OR n.nspname = 'auth'
                                       THEN md5(pg_get_functiondef(p.oid)) END),
       concat_ws(' ', md5(pg_get_functiondef(p.oid)), p.proacl::text)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard')
  AND p.prokind IN ('f', 'p', 'w')
UNION ALL
SELECT 'pg_type'::regclass::oid, t.oid, 0, t.typname, 'type ' || quote_ident(n.nspname) || '.' || quote_ident(t.typname), '', '{}',
       (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
  AND t.typtype IN ('e', 'd', 'c') AND (t.typrelid = 0 OR t.typtype = 'c' AND
      (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
UNION ALL
SELECT 'pg_trigger'::regclass::oid, t.oid, 0, t.tgname,
       'trigger ' || quote_ident(t.tgname) || ' on ' || selfheal_guard.rel(t.tgrelid), '',
       jsonb_build_object('enabled', t.tgenabled), pg_get_triggerdef(t.oid)
FROM pg_trigger t WHERE NOT t.tgisinternal AND t.tgname NOT LIKE 'selfheal\\_guard\\_%'
UNION ALL
SELECT 'pg_extension'::regclass::oid, e.oid, 0, e.extname, 'extension ' || e.extname, '', '{}',
       e.extversion
FROM pg_extension e
UNION ALL
SELECT 'pg_namespace'::regclass::oid, n.oid, 0, n.nspname, 'schema ' || quote_ident(n.nspname), '',
       '{}', concat_ws(' ', n.nspowner::regrole::text, n.nspacl::text)
FROM pg_namespace n
WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT IN ('information_schema', 'selfheal_guard')
UNION ALL
SELECT 'pg_default_acl'::regclass::oid, d.oid, 0, '',
       'default privileges of ' || d.defaclrole::regrole::text
       || coalesce(' in schema ' || d.defaclnamespace::regnamespace::text, '') || ' on '
       || d.defaclobjtype::text, '', '{}', d.defaclacl::text
FROM pg_default_acl d
UNION ALL
SELECT 'pg_authid'::regclass::oid, r.oid, 0, r.rolname, 'role ' || quote_ident(r.rolname), '', '{}',
       concat_ws(' ', r.rolsuper, r.rolbypassrls, r.rolcreaterole,
                 ARRAY(SELECT m.roleid::regrole::text FROM pg_auth_members m
                       WHERE m.member = r.oid ORDER BY 1)::text)
FROM pg_roles r WHERE r.rolname IN ('anon', 'authenticated', 'service_role')
"""


@dataclass(frozen=True)
class DbObject:
    own_name: str  # the object's own name: a change is a rename
    name: str  # kind and qualified name, for people
    type_name: str  # columns only
    attributes: dict  # the state compared across the file (flags, owner, settings, ...)
    definition: str  # everything else a statement could change (defaults, grants, bodies, ...)


Key = tuple[int, int, int]  # (catalog, oid, sub-id)
PG_CLASS, PG_PROC, PG_TYPE, PG_NAMESPACE = 1259, 1255, 1247, 2615  # fixed in PostgreSQL


def objects(conn: psycopg.Connection) -> dict[Key, DbObject]:
    return {(r[0], r[1], r[2]): DbObject(*r[3:]) for r in conn.execute(_OBJECTS)}


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


Change = tuple[Key, str, str, str]  # (key, kind, object, detail)


def changes(before: dict[Key, DbObject], after: dict[Key, DbObject]) -> Iterator[Change]:
    """Each rename, narrowed type, loosened guarantee and security change of an existing object."""
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            continue  # dropped: reported by the event trigger
        if new.own_name != old.own_name:
            yield key, "rename", old.name, f"renamed to {new.own_name}"
        if old.type_name and not is_widening(old.type_name, new.type_name):
            yield key, "narrow", new.name, f"type {old.type_name} -> {new.type_name} may lose data"
        yield from ((key, *change) for change in _attribute_changes(old, new))


def _attribute_changes(old: DbObject, new: DbObject) -> Iterator[tuple[str, str, str]]:
    was, now = old.attributes, new.attributes
    name = new.name
    table = name.split(" ", 1)[1]
    if was.get("rls") and not now.get("rls"):
        yield "disable-rls", table, "row level security disabled"
    elif was.get("force") and now.get("rls") and not now.get("force"):
        yield "disable-rls", table, "forced row level security removed"
    if was.get("notnull") and not now.get("notnull"):
        yield "loosen", name, "NOT NULL dropped: the column now accepts NULL"
    if was.get("kind") in ("r", "p") and (was["persistence"], now["persistence"]) == ("p", "u"):
        yield "loosen", name, "made UNLOGGED: its rows are lost on a crash and not replicated"
    if was.get("enabled", "D") != "D" and now.get("enabled") == "D":
        yield "loosen", name, "trigger disabled: it no longer runs on writes"
    yield from _function_changes(name, was, now)


def _function_changes(name: str, was: dict, now: dict) -> Iterator[tuple[str, str, str]]:
    if "definer" not in was:
        return
    if now["definer"] and not was["definer"]:
        yield "security", name, "made SECURITY DEFINER: it now runs with its owner's rights"
    elif was["body"] and now["body"] and was["body"] != now["body"]:
        where = "in the auth schema" if was["auth"] else "of a SECURITY DEFINER function"
        yield "security", name, f"definition replaced {where}"
    if was["config"] != now["config"]:
        yield "security", name, f"settings {was['config']} -> {now['config']} (search_path)"
    if was["owner"] != now["owner"]:
        yield "security", name, f"owner {was['owner']} -> {now['owner']}"


_SEQUENCES = """
SELECT c.oid, n.nspname, c.relname, s.seqincrement,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_sequence s ON s.seqrelid = c.oid
WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast') AND c.relpersistence <> 't'
"""


@dataclass(frozen=True)
class SequencePosition:
    name: str
    next_value: int  # the value nextval() would return
    increment: int


def sequence_positions(conn: psycopg.Connection) -> dict[int, SequencePosition]:
    rows = conn.execute(_SEQUENCES).fetchall()
    if not rows:
        return {}
    parts = [
        sql.SQL("SELECT {}::oid, last_value, is_called FROM {}").format(
            sql.Literal(oid), sql.Identifier(schema, name)
        )
        for oid, schema, name, _, _ in rows
    ]
    values = {r[0]: (r[1], r[2]) for r in conn.execute(sql.SQL(" UNION ALL ").join(parts))}
    positions = {}
    for oid, _, _, increment, label in rows:
        last, called = values[oid]
        positions[oid] = SequencePosition(label, last + increment if called else last, increment)
    return positions


def lowered_sequences(
    before: dict[int, SequencePosition], after: dict[int, SequencePosition]
) -> Iterator[tuple[int, str, str]]:
    """(oid, object, detail) of each sequence that would hand out a value it handed out already."""
    for oid, old in before.items():
        new = after.get(oid)
        if new is None or old.increment == 0:
            continue
        backwards = (new.next_value - old.next_value) * (1 if old.increment > 0 else -1) < 0
        if backwards or new.increment * old.increment < 0:
            detail = (
                f"restarted or lowered: next value {old.next_value} -> {new.next_value}, "
                "so it can hand out values existing rows already hold"
            )
            yield oid, f"sequence {old.name}", detail
