"""What each role can do, before and after a file: never wider, never silently narrower.

The snapshot lists, for `anon`, `authenticated`, `service_role` and PUBLIC: table, sequence,
column, function and schema privileges (the built-in defaults included: a function nobody
granted is executable by PUBLIC), default privileges, role memberships and attributes, and each
row level security policy (command, permissive or restrictive, the normalised USING and WITH
CHECK) per role it applies to.

Comparing two snapshots of the same objects: anything added for anon/authenticated/PUBLIC is an
exposure, anything a role loses is an access-loss. Objects created by the migrations are judged
on their effect once every file has run: a table anon can reach without row level security, a
view that does not run as the caller (security_invoker), a materialized view, or a SECURITY
DEFINER function anon can execute.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg

EXPOSED = ("anon", "authenticated", "PUBLIC")
WATCHED = (*EXPOSED[:2], "service_role", "PUBLIC")
_SNAPSHOT = """
WITH watched AS (
  SELECT oid, rolname::text AS name FROM pg_roles
  WHERE rolname IN ('anon', 'authenticated', 'service_role')
  UNION ALL SELECT 0, 'PUBLIC'
), rels AS (
  SELECT c.oid, c.relkind, c.relowner, c.relacl,
         CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view'
           WHEN 'm' THEN 'materialized view' ELSE 'table' END
         || ' ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS label
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
    AND c.relpersistence <> 't'
)
SELECT 'privilege', r.oid, r.oid, r.label, w.name, a.privilege_type
FROM rels r, aclexplode(coalesce(r.relacl, acldefault(CASE WHEN r.relkind = 'S' THEN 's'
                                                      ELSE 'r' END::"char", r.relowner))) a
JOIN watched w ON w.oid = a.grantee
UNION ALL
SELECT 'privilege', r.oid, r.oid, 'column ' || substr(r.label, strpos(r.label, ' ') + 1) || '.'
       || quote_ident(t.attname), w.name, a.privilege_type
FROM rels r JOIN pg_attribute t ON t.attrelid = r.oid AND t.attnum > 0 AND t.attacl IS NOT NULL,
     aclexplode(t.attacl) a JOIN watched w ON w.oid = a.grantee
UNION ALL
SELECT 'privilege', p.oid, p.oid, 'function ' || selfheal_guard.fn(p.oid), w.name, a.privilege_type
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
     aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a JOIN watched w ON w.oid = a.grantee
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
UNION ALL
SELECT 'privilege', n.oid, n.oid, 'schema ' || quote_ident(n.nspname), w.name, a.privilege_type
FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
JOIN watched w ON w.oid = a.grantee
WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT IN ('information_schema', 'selfheal_guard')
UNION ALL
SELECT 'policy', p.polrelid, p.oid, r.label, w.name,
       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
         WHEN 'd' THEN 'DELETE' ELSE 'ALL' END
       || CASE WHEN p.polpermissive THEN ' permissive' ELSE ' restrictive' END
       || ' USING ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '-')
       || ' WITH CHECK ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-')
FROM pg_policy p JOIN rels r ON r.oid = p.polrelid, unnest(p.polroles) g(role)
JOIN watched w ON w.oid = g.role
UNION ALL
SELECT 'rls', r.oid, r.oid, r.label, '*', 'enabled'
FROM rels r JOIN pg_class c ON c.oid = r.oid WHERE c.relrowsecurity
UNION ALL
SELECT 'invoker', r.oid, r.oid, r.label, '*', 'runs as the caller (security_invoker)'
FROM rels r JOIN pg_class c ON c.oid = r.oid
WHERE c.relkind = 'v' AND ('security_invoker=true' = ANY(c.reloptions)
                           OR 'security_invoker=on' = ANY(c.reloptions))
UNION ALL
SELECT 'default', d.oid, d.oid, 'default privileges of ' || d.defaclrole::regrole::text
       || coalesce(' in schema ' || d.defaclnamespace::regnamespace::text, '') || ' on '
       || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
            WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END,
       w.name, a.privilege_type
FROM pg_default_acl d, aclexplode(d.defaclacl) a JOIN watched w ON w.oid = a.grantee
UNION ALL
SELECT 'role', w.oid, w.oid, 'role ' || quote_ident(w.name), w.name, 'member of ' || m.roleid::regrole::text
FROM watched w JOIN pg_auth_members m ON m.member = w.oid
UNION ALL
SELECT 'role', r.oid, r.oid, 'role ' || quote_ident(r.rolname), r.rolname, attr
FROM pg_roles r JOIN watched w ON w.oid = r.oid,
     LATERAL (VALUES (CASE WHEN r.rolsuper THEN 'SUPERUSER' END),
                     (CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END),
                     (CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END)) v(attr)
WHERE attr IS NOT NULL
"""


@dataclass(frozen=True)
class Grant:
    """One thing one role can do on one object."""

    kind: str  # privilege | policy | rls | invoker | default | role
    object_oid: int  # the table of a policy, else the object itself
    source_oid: int  # the policy itself, else the object: what a statement's DDL touched
    object: str  # for people: "table public.events", "function public.f(jsonb)"
    role: str
    what: str  # "SELECT", "SELECT permissive USING (...) WITH CHECK -", "member of x"


def snapshot(conn: psycopg.Connection) -> set[Grant]:
    return {Grant(*row) for row in conn.execute(_SNAPSHOT)}


@dataclass(frozen=True)
class AccessChange:
    kind: str  # exposure | access-loss
    object: str
    detail: str
    oids: tuple[int, ...]  # objects a statement must have touched to have done it
    words: str  # the object's bare name, to find a GRANT/REVOKE statement naming it


def compare(before: set[Grant], after: set[Grant], existing: set[int]) -> list[AccessChange]:
    """Exposures and access losses on the `existing` objects (OIDs present before and after).

    Policies count only where row level security is on before and after: enabling it is what
    policies are for, switching it off is a `disable-rls` finding of its own.
    """
    secured = {g.object_oid for g in before if g.kind == "rls"} & {
        g.object_oid for g in after if g.kind == "rls"
    }

    def judged(grant: Grant) -> bool:
        if grant.kind == "policy":
            return grant.object_oid in secured
        return grant.kind in ("default", "role") or (
            grant.kind in ("privilege", "invoker") and grant.object_oid in existing
        )

    gained = defaultdict(list)
    lost = defaultdict(list)
    for grant in filter(judged, after - before):
        gained[_group(grant)].append(grant)
    for grant in filter(judged, before - after):
        lost[_group(grant)].append(grant)
    changes = []
    for group in sorted(set(gained) | set(lost)):
        changes.extend(_judge(gained.get(group, []), lost.get(group, [])))
    return changes


def _group(grant: Grant) -> tuple[str, str, str, str]:
    """Grants compared together: a policy's old and new expression are one change."""
    what = grant.what.split(" USING ", 1)[0] if grant.kind == "policy" else grant.what
    return grant.object, grant.role, grant.kind, what


def _judge(gained: list[Grant], lost: list[Grant]) -> Iterator[AccessChange]:
    sample = (gained or lost)[0]
    oids = tuple({g.source_oid for g in gained + lost} | {sample.object_oid})
    bare = sample.object.split(" ", 1)[1].split("(")[0].split(".")[-1].strip('"')
    role = sample.role
    if sample.kind == "invoker":
        if lost:
            detail = "the view no longer runs as the caller: it reads with its owner's rights"
            yield AccessChange("exposure", sample.object, detail, oids, bare)
        return
    if sample.kind == "policy":
        yield from _judge_policy(sample, gained, lost, oids, bare)
        return
    exposed = role in EXPOSED
    for grant in gained:
        if exposed:
            yield AccessChange("exposure", sample.object, f"{role} gains {grant.what}", oids, bare)
    for grant in lost:
        yield AccessChange("access-loss", sample.object, f"{role} loses {grant.what}", oids, bare)


def _judge_policy(
    sample: Grant, gained: list[Grant], lost: list[Grant], oids: tuple[int, ...], bare: str
) -> Iterator[AccessChange]:
    role, restrictive = sample.role, " restrictive" in sample.what
    command = sample.what.split(" USING ", 1)[0]
    old = "; ".join(g.what.split(" ", 2)[-1] for g in lost) or "none"
    new = "; ".join(g.what.split(" ", 2)[-1] for g in gained) or "none"
    detail = f"policy for {role} on {command}: {old} -> {new}"
    wider = (gained and not restrictive) or (lost and restrictive)
    if role in EXPOSED and wider:
        yield AccessChange("exposure", sample.object, detail, oids, bare)
    elif lost or restrictive:
        yield AccessChange("access-loss", sample.object, detail, oids, bare)


_NEW_EXPOSED = """
SELECT c.oid, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                ELSE 'table' END || ' ' || selfheal_guard.rel(c.oid),
       CASE WHEN c.relkind IN ('r', 'p') THEN 'readable by {roles} without row level security'
            WHEN c.relkind = 'v' THEN 'a view {roles} can read that does not run as the caller '
                                      '(add WITH (security_invoker = true))'
            ELSE 'a materialized view {roles} can read: it has no row level security' END
FROM pg_class c
WHERE c.oid = ANY(%(oids)s) AND c.relkind IN ('r', 'p', 'v', 'm')
  AND CASE WHEN c.relkind IN ('r', 'p') THEN NOT c.relrowsecurity
           WHEN c.relkind = 'v' THEN NOT coalesce('security_invoker=true' = ANY(c.reloptions)
                                                  OR 'security_invoker=on' = ANY(c.reloptions), false)
           ELSE true END
  AND EXISTS (SELECT FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
              WHERE a.grantee = ANY(%(exposed)s) AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE'))
UNION ALL
SELECT p.oid, 'function ' || selfheal_guard.fn(p.oid),
       'SECURITY DEFINER function {roles} can execute: it runs with its owner''s rights'
FROM pg_proc p
WHERE p.oid = ANY(%(oids)s) AND p.prosecdef
  AND EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
              WHERE a.grantee = ANY(%(exposed)s) AND a.privilege_type = 'EXECUTE')
"""


def exposed_new_objects(conn: psycopg.Connection, oids: list[int]) -> list[tuple[int, str, str]]:
    """(oid, object, detail) of each of the given new relations/functions anon can reach."""
    if not oids:
        return []
    exposed = [
        r[0]
        for r in conn.execute(
            "SELECT oid FROM pg_roles WHERE rolname IN ('anon', 'authenticated') UNION ALL SELECT 0"
        )
    ]
    query = _NEW_EXPOSED.replace("{roles}", "anon, authenticated or PUBLIC")
    return conn.execute(query, {"oids": oids, "exposed": exposed}).fetchall()
