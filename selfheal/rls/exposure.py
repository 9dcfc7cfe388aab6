"""Lints of what the API exposes beyond row-level security, with splinter's names and keys.

Extensions, materialized views and foreign tables reachable over the API, views over
`auth.users`, policies trusting user-editable JWT metadata, foreign keys to a non-primary auth
key, reg* columns that block pg_upgrade, pgmq queues without RLS, sensitive columns without
RLS, and indexes the statistics collector has never seen used. "Readable by the API" means a
SELECT grant to `anon`, `authenticated` or PUBLIC, as `has_table_privilege` sees direct grants.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import psycopg

from selfheal.catalog import Constraint
from selfheal.core.identifiers import qualified
from selfheal.rls.lint_model import (
    ERROR,
    INFO,
    WARN,
    LintConfig,
    LintFinding,
    LintIndex,
    UsageStatistics,
    enable_rls,
    finding,
)

# Reg* types whose OIDs pg_upgrade cannot carry over (regclass, regtype and regrole it can).
UNSUPPORTED_REG_TYPES = frozenset(
    {
        "regcollation",
        "regconfig",
        "regdictionary",
        "regnamespace",
        "regoper",
        "regoperator",
        "regproc",
        "regprocedure",
    }
)
# Column names that hold credentials, identifiers, financial, health or device data (splinter's
# list), compared lower-cased with '-' read as '_'.
SENSITIVE_COLUMNS = frozenset(
    """password passwd pwd passphrase secret secret_key private_key api_key apikey auth_key
    token jwt access_token refresh_token oauth_token session_token bearer_token auth_code
    session_id session_key session_secret recovery_code backup_code verification_code otp
    two_factor 2fa_secret 2fa_code ssn social_security social_security_number driver_license
    drivers_license license_number passport_number passport_id national_id tax_id credit_card
    card_number cvv cvc cvn bank_account account_number routing_number iban swift_code bic
    health_record medical_record patient_id insurance_number health_insurance
    medical_insurance treatment mac_address macaddr imei device_uuid pgp_key gpg_key ssh_key
    certificate license_key activation_key facial_recognition""".split()  # noqa: SIM905
)
# Schemas whose indexes are the platform's, not the project's, to drop.
UNUSED_INDEX_IGNORED = ("pg_catalog", "information_schema", "auth", "storage", "vault", "pgsodium")
USER_METADATA = re.compile(
    r"(jwt\(\)|current_setting\(.*request\.jwt\.claims.*\)).*user_metadata",
    re.IGNORECASE | re.DOTALL,
)
_REFERENCED_COLUMNS = re.compile(r"REFERENCES\s+.+?\((.+?)\)(?:\s|$)", re.DOTALL)

INDEX_SCANS = """
SELECT schemaname, indexrelname, idx_scan FROM pg_catalog.pg_stat_user_indexes
"""


def read_usage(conn: psycopg.Connection) -> UsageStatistics:
    """Index scans counted by the statistics collector since its last reset."""
    rows = conn.execute(INDEX_SCANS).fetchall()
    return UsageStatistics(index_scans={(schema, name): scans for schema, name, scans in rows})


def _revoke_api(label: str) -> str:
    return f"REVOKE SELECT ON {label} FROM anon, authenticated, PUBLIC"  # noqa: S608


def extension_in_public(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for extension in ix.snapshot.extensions.values():
        if extension.schema not in config.exposed_schemas or extension.name == "plpgsql":
            continue
        yield finding(
            "extension_in_public",
            WARN,
            extension,
            f"extension is installed in the exposed schema {extension.schema}: its functions "
            "and types are reachable over the API",
            f"CREATE SCHEMA IF NOT EXISTS extensions; ALTER EXTENSION {qualified(extension.name)} "
            "SET SCHEMA extensions; a non-relocatable extension is dropped and re-created there",
            f"extension_in_public_{extension.name}",
        )


def extension_versions_outdated(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for extension in ix.snapshot.extensions.values():
        if extension.default_version in ("", extension.version):
            continue
        yield finding(
            "extension_versions_outdated",
            WARN,
            extension,
            f"extension is at version {extension.version} while this server ships "
            f"{extension.default_version}: fixes of the versions between are missing",
            f"ALTER EXTENSION {qualified(extension.name)} UPDATE",
            f"extension_versions_outdated_{extension.name}_{extension.version}",
        )


def _api_readable(
    ix: LintIndex, schemas: Callable[[str], bool], relkind: str, lint: str, what: str
) -> Iterator[LintFinding]:
    for relation in ix.relations(relkind):
        if not schemas(relation.schema):
            continue
        readers = ix.api_readers(relation.schema, relation.name)
        if readers:
            yield finding(
                lint,
                WARN,
                relation,
                f"{what} is selectable by {', '.join(readers)}: row-level security does not "
                f"apply to a {what}",
                f"{_revoke_api(relation.label)}; or move it to a schema the API does not expose",
                f"{lint}_{relation.schema}_{relation.name}",
            )


def materialized_view_in_api(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    """In any schema but the platform's: a grant alone makes it readable once exposed."""

    def project_owned(schema: str) -> bool:
        return schema not in config.ignored_schemas

    yield from _api_readable(
        ix, project_owned, "m", "materialized_view_in_api", "materialized view"
    )


def foreign_table_in_api(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    def exposed(schema: str) -> bool:
        return schema in config.exposed_schemas and schema not in config.ignored_schemas

    yield from _api_readable(ix, exposed, "f", "foreign_table_in_api", "foreign table")


def auth_users_exposed(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for view in ix.relations("v", "m"):
        if view.schema not in config.exposed_schemas or ("auth", "users") not in view.reads:
            continue
        readers = ix.api_readers(view.schema, view.name)
        if readers:
            yield finding(
                "auth_users_exposed",
                ERROR,
                view,
                f"{view.kind.replace('_', ' ')} reads auth.users and is selectable by "
                f"{', '.join(readers)}: it may expose every user's account data",
                f"{_revoke_api(view.label)}; or select only the columns users may see through "
                "a security_invoker view",
                f"auth_users_exposed_{view.schema}_{view.name}",
            )


def rls_references_user_metadata(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for policy in ix.snapshot.policies.values():
        if policy.schema in config.ignored_schemas:
            continue
        if any(USER_METADATA.search(text or "") for text in (policy.using, policy.check)):
            yield finding(
                "rls_references_user_metadata",
                ERROR,
                policy,
                "policy trusts the JWT's user_metadata, which every user can edit for themselves",
                "decide on app_metadata (only the server writes it) or on a table the user "
                "cannot write",
                f"rls_references_user_metadata_{policy.schema}_{policy.table}_{policy.name}",
            )


def _split_names(text: str) -> tuple[str, ...]:
    """`a, "B c"` -> ("a", "B c"): identifiers of a column list as the catalog names them."""
    names = re.findall(r'"((?:[^"]|"")*)"|([^\s,]+)', text)
    return tuple(quoted.replace('""', '"') if quoted else plain for quoted, plain in names)


def _primary_key(ix: LintIndex, schema: str, table: str) -> tuple[str, ...] | None:
    for constraint in ix.snapshot.constraints.values():
        if (constraint.schema, constraint.table, constraint.type) == (schema, table, "p"):
            return constraint.columns
    return None


def _references_non_primary_key(ix: LintIndex, fk: Constraint) -> bool:
    if fk.referenced_table is None or fk.referenced_table[0] != "auth":
        return False
    match = _REFERENCED_COLUMNS.search(fk.definition)
    primary = _primary_key(ix, *fk.referenced_table)
    return bool(match and primary) and set(_split_names(match.group(1))) != set(primary)


def fkey_to_auth_unique(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for fk in ix.snapshot.constraints.values():
        if fk.type != "f" or fk.inherited or not _references_non_primary_key(ix, fk):
            continue
        target = qualified(*fk.referenced_table)
        yield finding(
            "fkey_to_auth_unique",
            ERROR,
            fk,
            f"foreign key references a unique key of {target} other than its primary key: "
            "the auth service may change or drop that key",
            f"ALTER TABLE {qualified(fk.schema, fk.table)} DROP CONSTRAINT {qualified(fk.name)}; "
            f"reference {target} by its primary key instead",
            f"fkey_to_auth_unique_{fk.schema}_{fk.table}_{fk.name}",
        )


def unsupported_reg_types(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for column in ix.snapshot.columns.values():
        if column.type not in UNSUPPORTED_REG_TYPES or column.schema == "pgsodium":
            continue
        yield finding(
            "unsupported_reg_types",
            WARN,
            column,
            f"column has type {column.type}, whose OIDs pg_upgrade cannot carry over: the "
            "database cannot be upgraded while it exists",
            f"ALTER TABLE {qualified(column.schema, column.table)} ALTER COLUMN "
            f"{qualified(column.name)} TYPE text USING {qualified(column.name)}::text",
            f"unsupported_reg_types_{column.schema}_{column.table}_{column.name}",
        )


def insecure_queue_exposed_in_api(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    if "pgmq_public" not in config.exposed_schemas:
        return
    for queue in ix.tables():
        if queue.schema != "pgmq" or not queue.name.startswith("q_") or queue.rls_enabled:
            continue
        readers = ix.api_readers(queue.schema, queue.name)
        if readers:
            yield finding(
                "insecure_queue_exposed_in_api",
                ERROR,
                queue,
                f"queue table is reachable through pgmq_public by {', '.join(readers)} "
                "without row-level security",
                enable_rls(queue),
                f"rls_disabled_in_public_{queue.schema}_{queue.name}",
            )


def sensitive_columns_exposed(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    for table in ix.tables():
        if table.schema not in config.exposed_schemas or table.schema in config.ignored_schemas:
            continue
        if table.rls_enabled or not ix.api_readers(table.schema, table.name):
            continue
        sensitive = sorted(
            column.name
            for column in ix.snapshot.columns_of(table.schema, table.name)
            if column.name.lower().replace("-", "_") in SENSITIVE_COLUMNS
        )
        if sensitive:
            yield finding(
                "sensitive_columns_exposed",
                ERROR,
                table,
                f"table is readable over the API without row-level security and holds "
                f"sensitive columns: {', '.join(sensitive)}",
                enable_rls(table),
                f"sensitive_columns_exposed_{table.schema}_{table.name}",
            )


def unused_index(ix: LintIndex, config: LintConfig) -> Iterator[LintFinding]:
    """Never scanned since statistics were last reset (splinter's rule, no size threshold: the
    health audit's unused_index check warns only above its size threshold)."""
    if ix.usage is None:
        return
    for index in ix.snapshot.indexes.values():
        if index.unique or index.schema in UNUSED_INDEX_IGNORED:
            continue
        if ix.usage.index_scans.get((index.schema, index.name)) == 0:
            yield finding(
                "unused_index",
                INFO,
                index,
                "index has never been scanned since statistics were last reset",
                f"DROP INDEX CONCURRENTLY {index.label}; only once a full business cycle shows no "
                "query needs it",
                f"unused_index_{index.schema}_{index.table}_{index.name}",
            )


EXPOSURE_LINTS = (
    extension_in_public,
    extension_versions_outdated,
    materialized_view_in_api,
    foreign_table_in_api,
    auth_users_exposed,
    rls_references_user_metadata,
    fkey_to_auth_unique,
    unsupported_reg_types,
    insecure_queue_exposed_in_api,
    sensitive_columns_exposed,
    unused_index,
)
