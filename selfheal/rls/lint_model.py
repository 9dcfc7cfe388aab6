"""What every lint shares: its configuration, its finding, and lookups over one snapshot.

A finding carries splinter's lint name, level and cache key (the key the Supabase dashboard
dedupes a finding by), so a finding here and one in the dashboard name the same thing. The keys
are splinter's `format()` of raw catalog names (`nspname`, `relname`, `polname`, `conname`),
except where splinter formats a `regnamespace` (quoted as `quote_ident` quotes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from selfheal.catalog import CatalogObject, CatalogSnapshot, Policy, Relation

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
    "pgsodium_masks",
    "net",
    "cron",
    "pgbouncer",
    "pgtle",
    "pgmq",
    "_realtime",
    "_analytics",
)
WRITE_COMMANDS = ("INSERT", "UPDATE", "DELETE", "ALL")
COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE")
# The roles PostgREST serves requests as; `public` (every role) reaches them too.
API_ROLES = ("anon", "authenticated")
PUBLIC_ROLES = API_ROLES


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
    # SQL statements that fix it, then any advice, joined by "; " (advice starts lower-case;
    # a statement with "..." in it is a template to complete)
    remediation: str
    cache_key: str = ""  # splinter's cache key, e.g. rls_disabled_in_public_public_events
    waived_because: str | None = None

    @property
    def label(self) -> str:
        return self.obj.label

    @property
    def message(self) -> str:
        return f"[{self.level}] {self.lint} {self.label}: {self.detail}. Fix: {self.remediation}"


@dataclass(frozen=True)
class UsageStatistics:
    """What the statistics collector knows that the catalog does not: index scans so far."""

    index_scans: dict[tuple[str, str], int] = field(default_factory=dict)  # (schema, index)


@dataclass
class LintIndex:
    """Lookups over one snapshot that several lints share."""

    snapshot: CatalogSnapshot
    usage: UsageStatistics | None = None
    policies: dict[tuple[str, str], list[Policy]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        grouped: dict[tuple[str, str], list[Policy]] = defaultdict(list)
        for policy in self.snapshot.policies.values():
            grouped[(policy.schema, policy.table)].append(policy)
        self.policies = dict(grouped)

    def tables(self) -> Iterator[Relation]:
        return (r for r in self.snapshot.relations.values() if r.is_table)

    def relations(self, *relkinds: str) -> Iterator[Relation]:
        return (r for r in self.snapshot.relations.values() if r.relkind in relkinds)

    def parent(self, table: Relation) -> Relation | None:
        return self.snapshot.table(*table.partition_of) if table.partition_of else None

    def api_readers(self, schema: str, name: str) -> list[str]:
        """The API roles that may SELECT from a relation by a grant to them or to PUBLIC."""
        readers = []
        for role in API_ROLES:
            for grantee in (role, "public"):
                grant = self.snapshot.grants.get((schema, name, grantee))
                if grant is not None and "SELECT" in grant.privileges:
                    readers.append(role)
                    break
        return readers


def finding(
    lint: str, level: str, obj: CatalogObject, detail: str, fix: str, cache_key: str
) -> LintFinding:
    return LintFinding(lint, level, obj, detail, fix, cache_key)


def enable_rls(table: Relation) -> str:
    """The remedy of a table the API reaches without row-level security."""
    return f"ALTER TABLE {table.label} ENABLE ROW LEVEL SECURITY; then add policies"
