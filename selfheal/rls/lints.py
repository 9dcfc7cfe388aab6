"""Static lints of row-level security and schema hygiene over one catalog snapshot.

Names, levels and meanings follow the Supabase linter (splinter), so a finding reads the same
as in the Supabase dashboard; `rls_no_select_policy` is ours. Where splinter's users complain,
these go further: a waiver list keyed by lint and object (see waivers.py), partitions judged
with their parent, foreign keys covered by any index whose leading columns are the key's columns
(a composite primary key included), and no dependency on Supabase: plain PostgreSQL works.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import sqlglot
from psycopg import sql
from sqlglot import exp

from selfheal.catalog import CatalogObject, CatalogSnapshot, Constraint, Function, Policy, Relation

ERROR, WARN, INFO = "error", "warn", "info"
DEFAULT_EXPOSED = ("public",)
# Schemas a platform owns: their functions and tables are not the project's to lint.
PLATFORM_SCHEMAS = (
    "auth",
    "storage",
    "extensions",
    "graphql",
    "graphql_public",
    "realtime",
    "supabase_functions",
    "supabase_migrations",
    "vault",
    "pgsodium",
    "net",
    "cron",
    "pgbouncer",
    "pgtle",
    "_realtime",
    "_analytics",
)
WRITE_COMMANDS = ("INSERT", "UPDATE", "DELETE", "ALL")
COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Supabase roles that `TO public` reaches through PostgREST.
PUBLIC_ROLES = ("anon", "authenticated")


@dataclass(frozen=True)
class LintConfig:
    exposed_schemas: tuple[str, ...] = DEFAULT_EXPOSED
    ignored_schemas: tuple[str, ...] = PLATFORM_SCHEMAS


@dataclass(frozen=True)
class LintFinding:
    lint: str  # splinter's name, e.g. rls_disabled_in_public
    level: str  # error | warn | info
    obj: CatalogObject
    detail: str
    remediation: str
    waived_because: str | None = None

    @property
    def label(self) -> str:
        return self.obj.label

    @property
    def message(self) -> str:
        return f"[{self.level}] {self.lint} {self.label}: {self.detail}. Fix: {self.remediation}"


@dataclass
class _Index:
    """Lookups over one snapshot that several lints share."""

    snapshot: CatalogSnapshot
    policies: dict[tuple[str, str], list[Policy]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        grouped: dict[tuple[str, str], list[Policy]] = defaultdict(list)
        for policy in self.snapshot.policies.values():
            grouped[(policy.schema, policy.table)].append(policy)
        self.policies = dict(grouped)

    def tables(self) -> Iterator[Relation]:
        return (r for r in self.snapshot.relations.values() if r.is_table)

    def parent(self, table: Relation) -> Relation | None:
        return self.snapshot.table(*table.partition_of) if table.partition_of else None


def _finding(lint: str, level: str, obj: CatalogObject, detail: str, fix: str) -> LintFinding:
    return LintFinding(lint, level, obj, detail, fix)


def rls_disabled_in_public(ix: _Index, config: LintConfig) -> Iterator[LintFinding]:
    for table in ix.tables():
        if table.schema in config.exposed_schemas and not table.rls_enabled:
            what = (
                "partition (queried directly, its parent's policies do not apply)"
                if table.partition_of
                else "table"
            )
            yield _finding(
                "rls_disabled_in_public",
                ERROR,
                table,
                f"{what} is exposed in schema {table.schema} without row-level security",
                f"ALTER TABLE {table.label} ENABLE ROW LEVEL SECURITY; then add policies",
            )


def policy_exists_rls_disabled(ix: _Index, config: LintConfig) -> Iterator[LintFinding]:
    for table in ix.tables():
        policies = ix.policies.get(table.key, [])
        if policies and not table.rls_enabled:
            names = ", ".join(p.name for p in policies)
            yield _finding(
                "policy_exists_rls_disabled",
                ERROR,
                table,
                f"policies ({names}) exist but row-level security is disabled, so "
                "none of them applies",
                f"ALTER TABLE {table.label} ENABLE ROW LEVEL SECURITY",
            )


def rls_enabled_no_policy(ix: _Index, config: LintConfig) -> Iterator[LintFinding]:
    for table in ix.tables():
        if table.rls_enabled and not ix.policies.get(table.key) and not table.partition_of:
            yield _finding(
                "rls_enabled_no_policy",
                INFO,
                table,
                "row-level security is enabled but no policy exists: only roles that "
                "bypass RLS can read or write",
                f"CREATE POLICY ... ON {table.label}",
            )


def rls_no_select_policy(ix: _Index, config: LintConfig) -> Iterator[LintFinding]:
    for table in ix.tables():
        policies = ix.policies.get(table.key, [])
        readable = any(p.command in ("SELECT", "ALL") for p in policies)
        if table.rls_enabled and policies and not readable:
            yield _finding(
                "rls_no_select_policy",
                WARN,
                table,
                "policies exist but none allows SELECT: no API role can read a row",
                f"CREATE POLICY ... ON {table.label} FOR SELECT TO ... USING (...)",
            )


def _always_true(expression: str | None) -> bool:
    return expression is not None and expression.strip("() ").lower() == "true"


def rls_policy_always_true(ix: _Index, config: LintConfig) -> Iterator[LintFinding]:
    for policy in ix.snapshot.policies.values():
        if not policy.permissive or policy.command not in WRITE_COMMANDS:
            continue
        if set(policy.roles) <= {"service_role"}:
            continue  # service_role bypasses RLS anyway
        if _always_true(policy.using) or _always_true(policy.check):
            yield _finding(
                "rls_policy_always_true",
                WARN,
                policy,
                f"permissive {policy.command} policy for {', '.join(policy.roles)} is "
                "always true: any such role may write any row",
                "restrict USING / WITH CHECK to the rows the role owns, e.g. "
                "((select auth.uid()) = user_id)",
            )


def _roles(policy: Policy) -> tuple[str, ...]:
    return PUBLIC_ROLES if "public" in policy.roles else policy.roles


def multiple_permissive_policies(ix: _Index, config: LintConfig) -> Iterator[LintFinding]:
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
                yield _finding(
                    "multiple_permissive_policies",
                    WARN,
                    table,
                    f"role {role} has {len(names)} permissive {command} policies "
                    f"({', '.join(sorted(names))}); each is evaluated for every row",
                    "merge them into one policy whose USING ORs the conditions",
                )


def _per_row_calls(expression: str) -> list[str]:
    """auth.<fn>() / current_setting() calls outside a (select ...): evaluated once per row."""
    try:
        tree = sqlglot.parse_one(expression, read="postgres")
    except sqlglot.errors.ParseError:
        lowered = expression.lower()
        hits = ("auth." in lowered and "select auth." not in lowered) or (
            "current_setting(" in lowered and "select current_setting(" not in lowered
        )
        return [expression] if hits else []
    calls = []
    for call in tree.find_all(exp.Anonymous):
        name = call.name.lower()
        qualifier = call.parent.this if isinstance(call.parent, exp.Dot) else None
        is_auth = qualifier is not None and qualifier.name.lower() == "auth"
        if (is_auth or name == "current_setting") and call.find_ancestor(exp.Select) is None:
            calls.append(f"{'auth.' if is_auth else ''}{name}()")
    return calls


def auth_rls_initplan(ix: _Index, config: LintConfig) -> Iterator[LintFinding]:
    for policy in ix.snapshot.policies.values():
        table = ix.snapshot.table(policy.schema, policy.table)
        if table is None or not table.rls_enabled:
            continue
        calls = [c for text in (policy.using, policy.check) if text for c in _per_row_calls(text)]
        if calls:
            yield _finding(
                "auth_rls_initplan",
                WARN,
                policy,
                f"{', '.join(sorted(set(calls)))} is re-evaluated for each row",
                "wrap the call in a sub-select: (select auth.uid())",
            )


def security_definer_view(ix: _Index, config: LintConfig) -> Iterator[LintFinding]:
    for view in ix.snapshot.relations.values():
        if view.relkind != "v" or view.schema not in config.exposed_schemas:
            continue
        if "security_invoker=true" in view.options or "security_invoker=on" in view.options:
            continue
        protected = [
            t
            for t in (ix.snapshot.table(*ref) for ref in view.reads)
            if t is not None and t.rls_enabled
        ]
        if protected:
            names = ", ".join(t.label for t in protected)
            yield _finding(
                "security_definer_view",
                ERROR,
                view,
                f"view runs with its owner's rights, bypassing the RLS of {names}",
                f"ALTER VIEW {view.label} SET (security_invoker = true)",
            )


def function_search_path_mutable(ix: _Index, config: LintConfig) -> Iterator[LintFinding]:
    for function in ix.snapshot.functions.values():
        if function.schema in config.ignored_schemas or function.fixed_search_path:
            continue
        yield _finding(
            "function_search_path_mutable",
            WARN,
            function,
            "function has no fixed search_path: a caller's search_path can hijack "
            "the names it uses",
            f"ALTER FUNCTION {function.label} SET search_path = ''",
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


def unindexed_foreign_keys(ix: _Index, config: LintConfig) -> Iterator[LintFinding]:
    for fk in ix.snapshot.constraints.values():
        if fk.type != "f" or fk.inherited or fk.schema in config.ignored_schemas:
            continue
        if not _covered(fk, ix.snapshot):
            columns = ", ".join(fk.columns)
            yield _finding(
                "unindexed_foreign_keys",
                INFO,
                fk,
                f"foreign key ({columns}) has no covering index: joins and deletes "
                "on the referenced table scan this one",
                covering_index_statement(fk),
            )


def unindexed_foreign_key_constraints(snapshot: CatalogSnapshot) -> list[Constraint]:
    """Foreign keys outside the platform's schemas that no valid, non-partial index leads with."""
    findings = run_lints(snapshot, only=("unindexed_foreign_keys",))
    return [finding.obj for finding in findings]


def no_primary_key(ix: _Index, config: LintConfig) -> Iterator[LintFinding]:
    keyed = {(c.schema, c.table) for c in ix.snapshot.constraints.values() if c.type == "p"}
    for table in ix.tables():
        if table.schema in config.ignored_schemas or table.key in keyed:
            continue
        parent = ix.parent(table)
        if parent is not None and parent.key not in keyed:
            continue  # reported once, on the parent
        yield _finding(
            "no_primary_key",
            INFO,
            table,
            "table has no primary key: rows cannot be addressed or replicated safely",
            f"ALTER TABLE {table.label} ADD PRIMARY KEY (...)",
        )


LINTS: dict[str, Callable[[_Index, LintConfig], Iterator[LintFinding]]] = {
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
    )
}


def run_lints(
    snapshot: CatalogSnapshot, config: LintConfig | None = None, only: tuple[str, ...] | None = None
) -> list[LintFinding]:
    """Every finding of every lint (or of the lints named in `only`), in lint order."""
    config = config or LintConfig()
    ix = _Index(snapshot)
    return [
        finding
        for name, lint in LINTS.items()
        if only is None or name in only
        for finding in lint(ix, config)
    ]


def _is_table(obj: CatalogObject) -> bool:
    return isinstance(obj, Relation) and obj.is_table


# What each lint's findings are about: the objects a per-object check is parametrized over.
TARGETS: dict[str, tuple[str, Callable[[CatalogObject], bool]]] = {
    "rls_disabled_in_public": ("relations", _is_table),
    "policy_exists_rls_disabled": ("relations", _is_table),
    "rls_enabled_no_policy": ("relations", _is_table),
    "rls_no_select_policy": ("relations", _is_table),
    "multiple_permissive_policies": ("relations", _is_table),
    "no_primary_key": ("relations", _is_table),
    "rls_policy_always_true": ("policies", lambda o: True),
    "auth_rls_initplan": ("policies", lambda o: True),
    "security_definer_view": ("relations", lambda o: isinstance(o, Relation) and o.relkind == "v"),
    "function_search_path_mutable": ("functions", lambda o: isinstance(o, Function)),
    "unindexed_foreign_keys": (
        "constraints",
        lambda o: isinstance(o, Constraint) and o.type == "f",
    ),
}


def lint_targets(snapshot: CatalogSnapshot) -> list[tuple[str, CatalogObject]]:
    """(lint, object) for every object of `snapshot` each lint could report."""
    return [
        (lint, obj)
        for lint, (collection, wanted) in TARGETS.items()
        for obj in snapshot.collection(collection).values()
        if wanted(obj)
    ]
