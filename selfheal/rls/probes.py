"""Behaviour probes: prove row-level security by impersonating API roles.

Each probe runs in its own transaction that is always rolled back: `SET LOCAL ROLE <role>` plus
`set_config('request.jwt.claims', <claims>, true)`, exactly what PostgREST does per request.
What a role sees is compared with a privileged count taken as the session user (who must bypass
RLS). Read probes go through the read-only executor (selfheal.core.readonly): READ ONLY transactions,
one statement at a time. Write probes (opt-in, `--rls-write-probes`) are the one explicit
exception: they need a writable session and still roll back. A probe that errors (permission
denied, a claim that is not a uuid) saw nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from selfheal.catalog import Column
from selfheal.core.readonly import Reader, ReadTransaction
from selfheal.core.shim import PREPARE_REMEDY, platform_gaps
from selfheal.rls.access import TableAccess

_SAMPLE_OWNERS = 3


class ProbeUnavailable(RuntimeError):
    """The probes of a table cannot run here (no table, a missing role, no membership, no
    privileged count): `str()` says why in one line, `remedy` what to do."""

    def __init__(self, label: str, reason: str, remedy: str):
        super().__init__(f"cannot probe {label}: {reason}")
        self.remedy = remedy


@dataclass(frozen=True)
class Baseline:
    """What the table holds, counted as a role that bypasses RLS."""

    total: int
    by_owner: dict[str, int]  # owner id (text) -> rows; the most frequent owners only


@dataclass(frozen=True)
class Seen:
    rows: int
    foreign: int  # rows whose owner is not the impersonated user (owner-scoped tables)
    error: str | None = None


@dataclass(frozen=True)
class Violation:
    table: str
    role: str
    claims: str | None
    message: str


def claims_for(role: str, sub: str | None = None) -> str:
    payload: dict[str, str] = {"role": role}
    if sub is not None:
        payload["sub"] = sub
    return json.dumps(payload)


@contextmanager
def impersonating(conn: psycopg.Connection, role: str, claims: str | None) -> Iterator[None]:
    """A writable, rolled-back transaction in which `role` with `claims` is the current user
    (write probes only; reads impersonate through the read-only executor)."""
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
        conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (claims or "",))
        yield


def _table(access: TableAccess) -> sql.Identifier:
    return sql.Identifier(access.schema, access.table)


def _unavailable(tx: ReadTransaction, access: TableAccess, table: str) -> tuple[str, str] | None:
    """Why the probes of `access` cannot run on this target and the remedy, or None."""
    if not tx.value("SELECT to_regclass(%s) IS NOT NULL", (table,)):
        return (
            "the table does not exist on the target, yet checks/rls_access.toml declares its access",
            "apply the migrations, or remove the table from checks/rls_access.toml",
        )
    gaps = platform_gaps(tx)
    if gaps:
        return "; ".join(gap.message for gap in gaps), PREPARE_REMEDY
    bypasses, user = tx.one(
        "SELECT r.rolsuper OR r.rolbypassrls OR (c.relowner = r.oid AND NOT "
        "c.relforcerowsecurity), current_user FROM pg_roles r, pg_class c "
        "WHERE r.rolname = current_user AND c.oid = %s::regclass",
        (table,),
    )
    if not bypasses:
        return (
            f"the session's role {user} does not bypass row-level security, so it cannot count "
            "what the table holds",
            "connect as a role with BYPASSRLS (or the table's owner)",
        )
    return None


def baseline(conn: psycopg.Connection, access: TableAccess) -> Baseline:
    """What the table holds; raises ProbeUnavailable saying why when it cannot be probed."""
    table = _table(access).as_string(conn)
    with Reader(conn).transaction() as tx:
        unavailable = _unavailable(tx, access, table)
        if unavailable:
            raise ProbeUnavailable(access.label, *unavailable)
        total = tx.value(sql.SQL("SELECT count(*) FROM {}").format(_table(access)))
        by_owner: dict[str, int] = {}
        if access.owner_column:
            rows = tx.rows(
                sql.SQL(
                    "SELECT {col}::text, count(*) FROM {t} WHERE {col} IS NOT NULL GROUP BY 1 "
                    "ORDER BY 2 DESC, 1 LIMIT %s"
                ).format(col=sql.Identifier(access.owner_column), t=_table(access)),
                (_SAMPLE_OWNERS,),
            )
            by_owner = dict(rows)
    return Baseline(total=total or 0, by_owner=by_owner)


def seen(
    conn: psycopg.Connection, access: TableAccess, role: str, claims: str | None, user: str | None
) -> Seen:
    """How many rows `role` with `claims` sees, and how many of them are not `user`'s."""
    foreign = sql.SQL("0")
    if access.owner_column:
        foreign = sql.SQL("count(*) FILTER (WHERE {}::text IS DISTINCT FROM %(user)s)").format(
            sql.Identifier(access.owner_column)
        )
    query = sql.SQL("SELECT count(*), {} FROM {}").format(foreign, _table(access))
    try:
        claims_setting = {"request.jwt.claims": claims or ""}
        row = Reader(conn).fetch(query, {"user": user}, role=role, settings=claims_setting).rows[0]
    except psycopg.Error as error:
        return Seen(0, 0, error.diag.message_primary or type(error).__name__)
    return Seen(row[0], row[1]) if row else Seen(0, 0)


def normalized_sub(claims: str | None) -> str | None:
    """The claims' `sub` as PostgreSQL's uuid text, or None when absent or not a uuid."""
    try:
        sub = json.loads(claims or "").get("sub")
        return str(uuid.UUID(sub)) if isinstance(sub, str) else None
    except (ValueError, AttributeError, TypeError):
        return None


def allowed(access: TableAccess, role: str, user: str | None, base: Baseline) -> int:
    """Rows `role` acting as `user` may see under the declaration."""
    declared = access.roles[role]
    if declared.mode == "all":
        return base.total
    if declared.mode == "owner" and user is not None:
        return base.by_owner.get(user, 0)
    return 0


def exact_violations(
    conn: psycopg.Connection, access: TableAccess, base: Baseline, extra_users: tuple[str, ...] = ()
) -> list[Violation]:
    """Each role with well-formed claims sees exactly what the declaration allows."""
    cases: list[tuple[str, str | None]] = [("anon", None), ("service_role", None)]
    users = [*base.by_owner, *extra_users] or [str(uuid.uuid4())]
    cases += [("authenticated", user) for user in users]
    found = []
    for role, user in cases:
        claims = claims_for(role, user)
        got = seen(conn, access, role, claims, user)
        want = allowed(access, role, user, base)
        if got.rows != want:
            reason = f" ({got.error})" if got.error else ""
            found.append(
                Violation(
                    access.label,
                    role,
                    claims,
                    f"{role} as {user or 'nobody'} sees {got.rows} rows, "
                    f"declared {access.roles[role].mode}: {want}{reason}",
                )
            )
        elif access.roles[role].mode == "owner" and got.foreign:
            found.append(
                Violation(
                    access.label,
                    role,
                    claims,
                    f"{role} as {user} sees {got.foreign} rows of other users",
                )
            )
    return found


def claims_violation(
    conn: psycopg.Connection, access: TableAccess, base: Baseline, role: str, claims: str | None
) -> Violation | None:
    """Any claims (missing, malformed, escalating) grant `role` nothing beyond its declaration."""
    user = normalized_sub(claims)
    got = seen(conn, access, role, claims, user)
    limit = allowed(access, role, user, base)
    if got.rows > limit:
        return Violation(
            access.label,
            role,
            claims,
            f"{role} with claims {claims!r} sees {got.rows} rows, at most {limit} "
            f"allowed ({access.roles[role].mode})",
        )
    if access.roles[role].mode == "owner" and got.foreign:
        return Violation(
            access.label,
            role,
            claims,
            f"{role} with claims {claims!r} sees {got.foreign} rows of other users",
        )
    return None


# A value of each type family for a probe row: only whether the row is refused matters.
_SAMPLE_VALUES = (
    (("timestamp", "date"), "2000-01-01"),
    (("uuid",), "00000000-0000-4000-8000-000000000000"),
    (("json",), "{}"),
    (("boolean",), "false"),
    (("smallint", "integer", "bigint", "numeric", "real", "double"), "0"),
    (("text", "character"), "selfheal-probe"),
)


def _sample(column: Column) -> str | None:
    if column.type.endswith("[]"):
        return "{}"
    return next((v for prefixes, v in _SAMPLE_VALUES if column.type.startswith(prefixes)), None)


def _probe_insert(access: TableAccess, columns: list[Column], owner: str) -> sql.Composed | None:
    """An INSERT of one row owned by `owner`; None when a required column has no sample."""
    required = [c for c in columns if c.not_null and c.default is None and not c.identity]
    if access.owner_column and all(c.name != access.owner_column for c in required):
        required += [c for c in columns if c.name == access.owner_column]
    values = []
    for column in required:
        value = owner if column.name == access.owner_column else _sample(column)
        if value is None:
            return None
        values.append(sql.SQL("CAST({} AS {})").format(sql.Literal(value), sql.SQL(column.type)))
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        _table(access),
        sql.SQL(", ").join(sql.Identifier(c.name) for c in required),
        sql.SQL(", ").join(values),
    )


def _write_statements(access: TableAccess, columns: list[Column]) -> dict[str, sql.Composable]:
    first = sql.Identifier(columns[0].name)
    statements: dict[str, sql.Composable] = {
        "UPDATE": sql.SQL("UPDATE {t} SET {c} = {c}").format(t=_table(access), c=first),
        "DELETE": sql.SQL("DELETE FROM {}").format(_table(access)),
    }
    insert = _probe_insert(access, columns, str(uuid.uuid4()))  # owned by someone else
    if insert is not None:
        statements["INSERT"] = insert
    return statements


def write_violations(
    conn: psycopg.Connection, access: TableAccess, columns: list[Column]
) -> list[Violation]:
    """A stranger (anon, or an authenticated user who owns nothing) inserts a row owned by
    another user, updates and deletes: every one must change nothing.

    Needs a writable session; every statement runs in a transaction that is rolled back.
    """
    claims_by_role = {
        role: claims_for(role, str(uuid.uuid4())) for role in ("anon", "authenticated")
    }
    found = []
    for role, claims in claims_by_role.items():
        for verb, statement in _write_statements(access, columns).items():
            try:
                with impersonating(conn, role, claims):
                    changed = conn.execute(statement).rowcount
            except psycopg.Error:
                changed = 0  # refused: permission denied, a policy or a constraint
            if changed > 0:
                message = f"{role} as a stranger could {verb} {changed} rows"
                found.append(Violation(access.label, role, claims, message))
    return found
