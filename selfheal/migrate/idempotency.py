"""A fingerprint of everything a migration could change, to see that a second run changes nothing.

The catalog (relations, columns, defaults, indexes, constraints, policies, functions, triggers,
types, schemas, extensions, privileges, default privileges) and every table's row count.
"""

from __future__ import annotations

import psycopg

from selfheal.migrate.seeding import row_counts

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

_TABLES = """
SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
"""


def fingerprint(conn: psycopg.Connection) -> set[str]:
    lines = {row[0] for row in conn.execute(_FINGERPRINT)}
    tables = [row[0] for row in conn.execute(_TABLES)]
    names = dict(
        conn.execute(
            "SELECT oid, oid::regclass::text FROM pg_class WHERE oid = ANY(%s)", (tables,)
        ).fetchall()
    )
    lines |= {f"rows {names[oid]} {count}" for oid, count in row_counts(conn, tables).items()}
    return lines
