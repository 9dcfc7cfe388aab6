"""The platform's share of the expected privileges: what the target's own default privileges give.

On Supabase, every table and function a migration creates in `public` is granted to `anon`,
`authenticated` and `service_role` by Supabase's default privileges, not by the migration. A
plain PostgreSQL may have no such defaults, and the same migrations must give the same verdict
on both. So the expected snapshot is built twice, with and without Supabase's defaults, and the
privileges only the first build has are marked `defaulted` (a migration that revokes one keeps it
out of both). Against a live snapshot, a defaulted privilege stays expected only where the live
`pg_default_acl` gives it too: the owner's defaults in the object's schema or in every schema
(any role's, for an object the target lacks yet).
"""

from __future__ import annotations

from dataclasses import replace

from selfheal.catalog import CatalogSnapshot, DefaultedPrivilege, Function, Grant


def defaulted_privileges(
    with_defaults: CatalogSnapshot, without: CatalogSnapshot
) -> frozenset[DefaultedPrivilege]:
    """The privileges of `with_defaults` that `without` (the same migrations, no platform
    defaults) lacks."""
    found = set()
    for key, grant in with_defaults.grants.items():
        bare = without.grants.get(key)
        kept = bare.privileges if bare else ()
        found |= {
            DefaultedPrivilege("TABLES", key, grant.grantee, privilege)
            for privilege in grant.privileges
            if privilege not in kept
        }
    for key, function in with_defaults.functions.items():
        bare = without.functions.get(key)
        kept = bare.acl if bare else ()
        found |= {
            DefaultedPrivilege("FUNCTIONS", key, *entry.split("=", 1))
            for entry in function.acl
            if entry not in kept
        }
    return frozenset(found)


def for_target(expected: CatalogSnapshot, live: CatalogSnapshot) -> CatalogSnapshot:
    """`expected` without the defaulted privileges the live database's defaults would not give;
    nothing is left marked defaulted, so resolving twice changes nothing."""
    withheld = {d for d in expected.defaulted if not _given(d, live)}
    resolved = replace(expected, defaulted=frozenset())
    resolved.grants = _grants_without(expected.grants, withheld)
    resolved.functions = {
        key: _function_without(function, withheld) for key, function in expected.functions.items()
    }
    return resolved


def _given(privilege: DefaultedPrivilege, live: CatalogSnapshot) -> bool:
    """True when the live defaults give `privilege` to an object of its kind and place."""
    schema = privilege.key[0]
    owner = _live_owner(privilege, live)
    return any(
        default.objects == privilege.objects
        and default.schema in (schema, "")
        and owner in (None, default.role)
        and default.grantee == privilege.grantee
        and privilege.privilege in default.privileges
        for default in live.default_privileges.values()
    )


def _live_owner(privilege: DefaultedPrivilege, live: CatalogSnapshot) -> str | None:
    """Whose defaults applied: the live object's owner; None when the target lacks it."""
    if privilege.objects == "TABLES":
        relation = live.relations.get(privilege.key[:2])
        return relation.owner if relation else None
    function = live.functions.get(privilege.key)
    return function.owner if function else None


def _grants_without(
    grants: dict[tuple, Grant], withheld: set[DefaultedPrivilege]
) -> dict[tuple, Grant]:
    result = {}
    for key, grant in grants.items():
        dropped = {d.privilege for d in withheld if d.objects == "TABLES" and d.key == key}
        privileges = tuple(p for p in grant.privileges if p not in dropped)
        if privileges:
            result[key] = replace(grant, privileges=privileges) if dropped else grant
    return result


def _function_without(function: Function, withheld: set[DefaultedPrivilege]) -> Function:
    dropped = {
        f"{d.grantee}={d.privilege}"
        for d in withheld
        if d.objects == "FUNCTIONS" and d.key == function.key
    }
    if not dropped:
        return function
    return replace(function, acl=tuple(entry for entry in function.acl if entry not in dropped))
