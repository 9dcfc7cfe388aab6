"""Static lints of row-level security and schema hygiene over one catalog snapshot.

Names, levels and meanings follow the Supabase linter (splinter), so a finding reads the same
as in the Supabase dashboard; `rls_no_select_policy` is ours. Where splinter's users complain,
these go further: a waiver list keyed by lint and object (see waivers.py), partitions judged
with their parent, foreign keys covered by any index whose leading columns are the key's columns
(a composite primary key included), and no dependency on Supabase: plain PostgreSQL works.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import lru_cache

import sqlglot
from psycopg import sql
from sqlglot import exp

from selfheal.catalog import (
    CatalogObject,
    CatalogSnapshot,
    Constraint,
    Function,
    Index,
    Policy,
    Relation,
)
from selfheal.core.identifiers import qualified, quote_ident
from selfheal.rls import exposure
from selfheal.rls.lint_model import (
    COMMANDS,
    ERROR,
    INFO,
    PUBLIC_ROLES,
    WARN,
    LintConfig,
    LintFinding,
    LintIndex,
    UsageStatistics,
    enable_rls,
    finding,
)

__all__ = ["ERROR", "INFO", "WARN", "LintConfig", "LintFinding", "UsageStatistics"]


def rls_disabled_in_public(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for table in ix.tables():
        if table.schema in config.exposed_schemas and not table.rls_enabled:
            what = (
                "partition (queried directly, its parent's policies do not apply)"
                if table.partition_of
                else "table"
            )
            yield finding(
                "rls_disabled_in_public",
                ERROR,
                table,
                f"{what} is exposed in schema {table.schema} without row-level security",
                enable_rls(table),
                f"rls_disabled_in_public_{table.schema}_{table.name}",
            )


def policy_exists_rls_disabled(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for table in ix.tables():
        policies = ix.policies.get(table.key, [])
        if policies and not table.rls_enabled:
            names = ", ".join(p.name for p in policies)
            yield finding(
                "policy_exists_rls_disabled",
                ERROR,
                table,
                f"policies ({names}) exist but row-level security is disabled, so "
                "none of them applies",
                f"ALTER TABLE {table.label} ENABLE ROW LEVEL SECURITY",
                f"policy_exists_rls_disabled_{table.schema}_{table.name}",
            )


def rls_enabled_no_policy(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    """A partition too: queried directly, only its own policies apply (splinter's rule)."""
    for table in ix.tables():
        if table.schema in config.ignored_schemas:
            continue
        if table.rls_enabled and not ix.policies.get(table.key):
            yield finding(
                "rls_enabled_no_policy",
                INFO,
                table,
                "row-level security is enabled but no policy exists: only roles that "
                "bypass RLS can read or write",
                f"CREATE POLICY ... ON {table.label}",
                f"rls_enabled_no_policy_{table.schema}_{table.name}",
            )


def rls_no_select_policy(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for table in ix.tables():
        policies = ix.policies.get(table.key, [])
        readable = any(p.command in ("SELECT", "ALL") for p in policies)
        if table.rls_enabled and policies and not readable:
            yield finding(
                "rls_no_select_policy",
                WARN,
                table,
                "policies exist but none allows SELECT: no API role can read a row",
                f"CREATE POLICY ... ON {table.label} FOR SELECT TO ... USING (...)",
                f"rls_no_select_policy_{table.schema}_{table.name}",
            )


ALWAYS_TRUE = ("true", "1=1")


def _always_true(expression: str | None) -> bool:
    """`true`, `(1 = 1)` and the like, whatever the spacing and parentheses."""
    if expression is None:
        return False
    return "".join(expression.lower().split()).strip("()") in ALWAYS_TRUE


def _unrestricted(policy: Policy) -> list[str]:
    """Which of the policy's clauses let any row through (splinter's rule: a missing USING on a
    permissive UPDATE/DELETE/ALL, a missing WITH CHECK on INSERT, or on UPDATE/ALL whose USING
    is always true, count as always true)."""
    using = policy.command in ("UPDATE", "DELETE", "ALL") and (
        _always_true(policy.using) or policy.using is None
    )
    check = (
        _always_true(policy.check)
        or (policy.check is None and policy.command == "INSERT")
        or (
            policy.check is None
            and policy.command in ("UPDATE", "ALL")
            and _always_true(policy.using)
        )
    )
    return [name for name, loose in (("USING", using), ("WITH CHECK", check)) if loose]


def rls_policy_always_true(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for policy in ix.snapshot.policies.values():
        table = ix.snapshot.table(policy.schema, policy.table)
        if table is None or not table.rls_enabled or not policy.permissive:
            continue
        if policy.schema in config.ignored_schemas or not set(_roles(policy)) & set(PUBLIC_ROLES):
            continue
        loose = _unrestricted(policy)
        if loose:
            yield finding(
                "rls_policy_always_true",
                WARN,
                policy,
                f"permissive {policy.command} policy for {', '.join(policy.roles)} has "
                f"{' and '.join(loose)} always true: any such role may write any row",
                "restrict USING / WITH CHECK to the rows the role owns, e.g. "
                "((select auth.uid()) = user_id)",
                f"rls_policy_always_true_{policy.schema}_{policy.table}_{policy.name}",
            )


def _roles(policy: Policy) -> tuple[str, ...]:
    return PUBLIC_ROLES if "public" in policy.roles else policy.roles


def multiple_permissive_policies(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for key, policies in ix.policies.items():
        table = ix.snapshot.table(*key)
        if table is None or not table.rls_enabled:
            continue
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for policy in policies:
            if not policy.permissive:
                continue
            commands = COMMANDS if policy.command == "ALL" else (policy.command,)
            for role in _roles(policy):
                for command in commands:
                    groups[(role, command)].append(policy.name)
        for (role, command), names in sorted(groups.items()):
            if len(names) > 1:
                yield finding(
                    "multiple_permissive_policies",
                    WARN,
                    table,
                    f"role {role} has {len(names)} permissive {command} policies "
                    f"({', '.join(sorted(names))}); each is evaluated for every row",
                    "merge them into one policy whose USING ORs the conditions",
                    f"multiple_permissive_policies_{table.schema}_{table.name}_{role}_{command}",
                )


@lru_cache(maxsize=4096)
def _per_row_calls(expression: str) -> tuple[str, ...]:
    """auth.<fn>() / current_setting() calls outside a (select ...): evaluated once per row.
    Cached: a thousand tables' policies mostly repeat a handful of expressions."""
    try:
        tree = sqlglot.parse_one(expression, read="postgres")
    except sqlglot.errors.ParseError:
        lowered = expression.lower()
        hits = ("auth." in lowered and "select auth." not in lowered) or (
            "current_setting(" in lowered and "select current_setting(" not in lowered
        )
        return (expression,) if hits else ()
    calls = []
    for call in tree.find_all(exp.Anonymous):
        name = call.name.lower()
        qualifier = call.parent.this if isinstance(call.parent, exp.Dot) else None
        is_auth = qualifier is not None and qualifier.name.lower() == "auth"
        if (is_auth or name == "current_setting") and call.find_ancestor(exp.Select) is None:
            calls.append(f"{'auth.' if is_auth else ''}{name}()")
    return tuple(calls)


def _initplan_key(policy: Policy) -> str:
    return f"auth_rls_init_plan_{policy.schema}_{policy.table}_{policy.name}"


def auth_rls_initplan(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for policy in ix.snapshot.policies.values():
        table = ix.snapshot.table(policy.schema, policy.table)
        if table is None or not table.rls_enabled:
            continue
        calls = [c for text in (policy.using, policy.check) if text for c in _per_row_calls(text)]
        if calls:
            yield finding(
                "auth_rls_initplan",
                WARN,
                policy,
                f"{', '.join(sorted(set(calls)))} is re-evaluated for each row",
                "wrap the call in a sub-select: (select auth.uid())",
                _initplan_key(policy),
            )


INVOKER_OPTIONS = {f"security_invoker={value}" for value in ("1", "true", "yes", "on")}


def security_definer_view(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    """A view without security_invoker that the API roles may read (splinter's rule), or that
    sits in an exposed schema over RLS-protected tables (ours: a grant may come later)."""
    for view in ix.relations("v"):
        if view.schema in config.ignored_schemas:
            continue
        if INVOKER_OPTIONS & {option.lower() for option in view.options}:
            continue
        readers = ix.api_readers(view.schema, view.name)
        protected = [
            t
            for t in (ix.snapshot.table(*ref) for ref in view.reads)
            if t is not None and t.rls_enabled
        ]
        if not readers and not (protected and view.schema in config.exposed_schemas):
            continue
        bypassed = ", ".join(t.label for t in protected) or "the tables it reads"
        yield finding(
            "security_definer_view",
            ERROR,
            view,
            f"view runs with its owner's rights, bypassing the RLS of {bypassed}",
            f"ALTER VIEW {view.label} SET (security_invoker = true)",
            f"security_definer_view_{view.schema}_{view.name}",
        )


def _search_path_key(function: Function) -> str:
    """Splinter keys a function by the md5 of its source: overloads get keys of their own."""
    source = hashlib.md5(function.body.encode()).hexdigest()
    return f"function_search_path_mutable_{function.schema}_{function.name}_{source}"


def function_search_path_mutable(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for function in ix.snapshot.functions.values():
        if function.schema in config.ignored_schemas or function.fixed_search_path:
            continue
        yield finding(
            "function_search_path_mutable",
            WARN,
            function,
            "function has no fixed search_path: a caller's search_path can hijack "
            "the names it uses",
            f"ALTER FUNCTION {function.label} SET search_path = ''",
            _search_path_key(function),
        )


def _covered(fk: Constraint, snapshot: CatalogSnapshot) -> bool:
    wanted = set(fk.columns)
    for index in snapshot.indexes.values():
        if (index.schema, index.table) != (fk.schema, fk.table):
            continue
        if index.valid and not index.partial and set(index.columns[: len(wanted)]) == wanted:
            return True
    return False


def covering_index_statement(fk: Constraint) -> str:
    """`CREATE INDEX CONCURRENTLY` on the foreign key's columns, every identifier quoted."""
    statement = sql.SQL("CREATE INDEX CONCURRENTLY ON {} ({})").format(
        sql.Identifier(fk.schema, fk.table), sql.SQL(", ").join(map(sql.Identifier, fk.columns))
    )
    return statement.as_string(None)


def unindexed_foreign_keys(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for fk in ix.snapshot.constraints.values():
        if fk.type != "f" or fk.inherited or fk.schema in config.ignored_schemas:
            continue
        if not _covered(fk, ix.snapshot):
            columns = ", ".join(fk.columns)
            yield finding(
                "unindexed_foreign_keys",
                INFO,
                fk,
                f"foreign key ({columns}) has no covering index: joins and deletes "
                "on the referenced table scan this one",
                covering_index_statement(fk),
                # splinter formats the schema as regnamespace text, the rest raw
                f"unindexed_foreign_keys_{quote_ident(fk.schema)}_{fk.table}_{fk.name}",
            )


def unindexed_foreign_key_constraints(snapshot: CatalogSnapshot) -> list[Constraint]:
    """Foreign keys outside the platform's schemas that no valid, non-partial index leads with."""
    findings = run_lints(snapshot, only=("unindexed_foreign_keys",))
    return [finding.obj for finding in findings]


def no_primary_key(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    keyed = {(c.schema, c.table) for c in ix.snapshot.constraints.values() if c.type == "p"}
    for table in ix.tables():
        if table.schema in config.ignored_schemas or table.key in keyed:
            continue  # a partition of a keyed parent holds the key's inherited copy
        yield finding(
            "no_primary_key",
            INFO,
            table,
            "table has no primary key: rows cannot be addressed or replicated safely",
            f"ALTER TABLE {table.label} ADD PRIMARY KEY (...)",
            f"no_primary_key_{table.schema}_{table.name}",
        )


def array_text(names: list[str]) -> str:
    """`names` as PostgreSQL prints a text array (splinter's duplicate_index key holds one)."""

    def element(name: str) -> str:
        if name and name.upper() != "NULL" and not _ARRAY_QUOTED.search(name):
            return name
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "{" + ",".join(element(name) for name in names) + "}"


# What makes PostgreSQL quote an array element: its delimiters, quote, backslash, ASCII space.
_ARRAY_QUOTED = re.compile(r'[{},"\\ \t\n\r\v\f]')


def _drop(index: Index) -> str:
    """How to drop one copy: its constraint when it backs one, else the index itself (a
    partition's copy goes with its parent's)."""
    if index.inherited:
        return f"drop {quote_ident(index.name)}'s parent index on the partitioned table"
    if index.constraint:
        return f"ALTER TABLE {qualified(index.schema, index.table)} DROP CONSTRAINT " + (
            quote_ident(index.constraint)
        )
    return f"DROP INDEX CONCURRENTLY {index.label}"


def duplicate_index(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    """Indexes of one table identical but for their names (splinter compares the definitions
    without the name); the fix keeps the one backing a constraint, if any."""
    copies: dict[tuple, list[Index]] = defaultdict(list)
    for index in ix.snapshot.indexes.values():
        if index.schema not in config.ignored_schemas and index.body is not None:
            copies[(index.schema, index.table, index.unique, index.body)].append(index)
    for (schema, name, _, _), same in sorted(copies.items()):
        table = ix.snapshot.table(schema, name)
        if len(same) < 2 or table is None:
            continue
        kept, *dropped = sorted(same, key=lambda i: (i.constraint is None, i.name))
        names = sorted(i.name for i in same)
        yield finding(
            "duplicate_index",
            WARN,
            table,
            f"indexes {', '.join(names)} are identical: each write maintains every copy",
            "; ".join(_drop(index) for index in dropped) + f"; keeps {kept.name}",
            f"duplicate_index_{schema}_{name}_{array_text(names)}",
        )


LINTS: dict[str, Callable[[LintIndex, LintConfig], Iterator[LintFinding]]] = {
    fn.__name__: fn
    for fn in (
        rls_disabled_in_public,
        policy_exists_rls_disabled,
        rls_enabled_no_policy,
        rls_no_select_policy,
        rls_policy_always_true,
        multiple_permissive_policies,
        auth_rls_initplan,
        security_definer_view,
        function_search_path_mutable,
        unindexed_foreign_keys,
        no_primary_key,
        duplicate_index,
        *exposure.EXPOSURE_LINTS,
    )
}


def run_lints(
    snapshot: CatalogSnapshot,
    config: LintConfig | None = None,
    only: tuple[str, ...] | None = None,
    usage: UsageStatistics | None = None,
) -> list[LintFinding]:
    """Every finding of every lint (or of the lints named in `only`), in lint order. Lints that
    need the statistics collector (unused_index) run only when `usage` is given."""
    config = config or LintConfig()
    ix = LintIndex(snapshot, usage)
    return [
        finding
        for name, lint in LINTS.items()
        if only is None or name in only
        for finding in lint(ix, config)
    ]


def _is_table(obj: CatalogObject) -> bool:
    return isinstance(obj, Relation) and obj.is_table


def _relkind(*relkinds: str) -> Callable[[CatalogObject], bool]:
    return lambda obj: isinstance(obj, Relation) and obj.relkind in relkinds


def _everything(obj: CatalogObject) -> bool:
    return True


def _foreign_key(obj: CatalogObject) -> bool:
    return isinstance(obj, Constraint) and obj.type == "f"


# What each lint's findings are about: the objects a per-object check is parametrized over.
TARGETS: dict[str, tuple[str, Callable[[CatalogObject], bool]]] = {
    "rls_disabled_in_public": ("relations", _is_table),
    "policy_exists_rls_disabled": ("relations", _is_table),
    "rls_enabled_no_policy": ("relations", _is_table),
    "rls_no_select_policy": ("relations", _is_table),
    "multiple_permissive_policies": ("relations", _is_table),
    "no_primary_key": ("relations", _is_table),
    "duplicate_index": ("relations", _relkind("r", "p", "m")),
    "rls_policy_always_true": ("policies", _everything),
    "auth_rls_initplan": ("policies", _everything),
    "security_definer_view": ("relations", _relkind("v")),
    "function_search_path_mutable": ("functions", lambda o: isinstance(o, Function)),
    "unindexed_foreign_keys": ("constraints", _foreign_key),
    "extension_in_public": ("extensions", _everything),
    "extension_versions_outdated": ("extensions", _everything),
    "materialized_view_in_api": ("relations", _relkind("m")),
    "foreign_table_in_api": ("relations", _relkind("f")),
    "auth_users_exposed": ("relations", _relkind("v", "m")),
    "rls_references_user_metadata": ("policies", _everything),
    "fkey_to_auth_unique": ("constraints", _foreign_key),
    "unsupported_reg_types": ("columns", _everything),
    "insecure_queue_exposed_in_api": ("relations", _is_table),
    "sensitive_columns_exposed": ("relations", _is_table),
    "unused_index": ("indexes", _everything),
}


def lint_targets(snapshot: CatalogSnapshot) -> list[tuple[str, CatalogObject]]:
    """(lint, object) for every object of `snapshot` each lint could report."""
    return [
        (lint, obj)
        for lint, (collection, wanted) in TARGETS.items()
        for obj in snapshot.collection(collection).values()
        if wanted(obj)
    ]
