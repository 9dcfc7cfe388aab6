"""Exact restores from the expected schema (the lock): what the additive delta cannot do.

Where the live database holds an object differently from the migrations, the expected snapshot
holds its exact definition, so the object can be put back as declared:

- **exposures** (`exposure_steps`) first: RLS enabled and forced, a policy as declared (or,
  with no declared counterpart, a permissive policy dropped: a policy holds no data), privileges
  an API role holds beyond the declared ones revoked, a function's definition (search path,
  security) and its EXECUTE privileges exactly as declared. Each step narrows access to what the
  migrations declare, never beyond, and says how to undo it.
- **restores** (`restore_steps`): a function's body and owner, a column's default and
  nullability, a column's type when changing it back loses nothing (a guard counts the values
  that would not survive the round trip and refuses), a constraint (checks and foreign keys come
  back NOT VALID, so they protect new rows at once, and are validated after), an index.

Every step names its **root**: the table or function it repairs. The doctor runs each root's
steps in one transaction, so a repair is applied whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from psycopg import sql

from selfheal.catalog import (
    CatalogObject,
    Column,
    Constraint,
    DefaultPrivilege,
    Function,
    Grant,
    Index,
    Policy,
    Relation,
)
from selfheal.core.identifiers import qualified
from selfheal.schema.delta import (
    create_policy,
    default_privileges,
    function_privileges,
    function_target,
    validate_constraint,
)
from selfheal.schema.diff import Difference, Drift, SchemaDiff, root_of

GUARD_TAG = "selfheal_restore"


@dataclass(frozen=True)
class Step:
    """One statement of a repair, for people: what it does and why it is safe."""

    root: str  # the table or function whose repair this is part of
    statement: sql.Composable
    why: str
    exposure: bool = False
    after_commit: bool = False  # runs once its root's transaction committed (VALIDATE)

    @property
    def text(self) -> str:
        return self.statement.as_string(None)


def _name(*parts: str) -> sql.Identifier:
    return sql.Identifier(*parts)


def _role(role: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if role == "public" else sql.Identifier(role)


def _privileges(privileges: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL(p) for p in privileges)


# --- exposures -------------------------------------------------------------------------------


def exposure_steps(diff: SchemaDiff) -> list[Step]:
    """What closes every exposure of `diff`, one restore per object, in catalog order."""
    steps: list[Step] = []
    seen: set[tuple[str, tuple, str]] = set()
    for found in diff.exposures:
        if diff.renamed_from(found.obj):
            continue  # a renamed table's objects come back with its name
        # One restore per object (a function's definition and its privileges are two).
        part = found.field if isinstance(found.obj, Function) and found.field == "acl" else ""
        identity = (found.obj.kind, found.obj.key, part)
        if identity in seen and not isinstance(found.obj, Grant | DefaultPrivilege):
            continue
        seen.add(identity)
        steps += [Step(root_of(found.obj), s, why, exposure=True) for s, why in _close(found, diff)]
    return steps


def _close(found: Difference | Drift, diff: SchemaDiff) -> Iterator[tuple[sql.Composable, str]]:
    obj = found.obj
    if isinstance(found, Drift):
        yield from _close_drift(obj)
    elif isinstance(obj, Relation):
        verb, undo = (
            ("ENABLE", "DISABLE") if found.field == "rls_enabled" else ("FORCE", "NO FORCE")
        )
        yield (
            sql.SQL("ALTER TABLE {} {} ROW LEVEL SECURITY").format(
                _name(obj.schema, obj.name), sql.SQL(verb)
            ),
            f"as the migrations declare; no row changes (undo: ALTER TABLE {obj.label} {undo} "
            "ROW LEVEL SECURITY)",
        )
    elif isinstance(obj, Policy):
        yield from _restore_policy(obj, diff.live.policies.get(obj.key))
    elif isinstance(obj, Grant):
        yield (
            sql.SQL("REVOKE {} ON TABLE {} FROM {}").format(
                _privileges(found.live_value), _name(obj.schema, obj.table), _role(obj.grantee)
            ),
            f"the migrations do not grant {', '.join(found.live_value)} to {obj.grantee} "
            f"(undo: GRANT {', '.join(found.live_value)} ON {qualified(obj.schema, obj.table)} "
            f"TO {obj.grantee})",
        )
    elif isinstance(obj, DefaultPrivilege):
        yield (
            default_privileges(obj, "REVOKE", found.live_value),
            f"the migrations do not make new {obj.objects.lower()} grant "
            f"{', '.join(found.live_value)} to {obj.grantee}",
        )
    elif isinstance(obj, Function):
        yield from _restore_function(obj, found, diff.live.functions.get(obj.key))


def _close_drift(obj: CatalogObject) -> Iterator[tuple[sql.Composable, str]]:
    if isinstance(obj, Policy):
        undo = create_policy(obj).as_string(None)
        yield (
            sql.SQL("DROP POLICY {} ON {}").format(_name(obj.name), _name(obj.schema, obj.table)),
            f"no migration creates this permissive policy and a policy holds no data "
            f"(undo: {undo})",
        )
    elif isinstance(obj, Grant):
        yield (
            sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(
                _name(obj.schema, obj.table), _role(obj.grantee)
            ),
            f"no migration grants {obj.grantee} anything on it (undo: GRANT "
            f"{', '.join(obj.privileges)} ON {qualified(obj.schema, obj.table)} TO {obj.grantee})",
        )
    elif isinstance(obj, DefaultPrivilege):
        yield (
            default_privileges(obj, "REVOKE", obj.privileges),
            f"no migration makes new {obj.objects.lower()} grant {obj.grantee} anything",
        )


def _restore_policy(expected: Policy, live: Policy | None) -> Iterator[tuple[sql.Composable, str]]:
    """Drop and create again, in one transaction: the policy exactly as the migration made it."""
    undo = create_policy(live).as_string(None) if live else ""
    yield (
        sql.SQL("DROP POLICY IF EXISTS {} ON {}").format(
            _name(expected.name), _name(expected.schema, expected.table)
        ),
        "replaced in the same transaction by the declared policy",
    )
    yield (
        create_policy(expected),
        f"the policy exactly as its migration creates it; a policy holds no data (undo: drop it "
        f"and {undo})",
    )


def _restore_function(
    expected: Function, found: Difference, live: Function | None
) -> Iterator[tuple[sql.Composable, str]]:
    if found.field != "acl":
        yield (
            sql.SQL(expected.definition.rstrip().rstrip(";")),
            "the function exactly as its migration defines it (search path, security, body); "
            "its privileges are kept",
        )
        return
    for statement in function_privileges(expected):
        yield (
            statement,
            f"EXECUTE exactly as the migrations grant it ({', '.join(expected.executors)}); "
            f"before: {', '.join(live.executors) if live else 'none'}",
        )


# --- renames ---------------------------------------------------------------------------------


def rename_steps(diff: SchemaDiff) -> list[Step]:
    """A renamed table gets its name back: its rows, indexes, constraints and policies with it."""
    return [
        Step(
            renamed.obj.label,
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                _name(renamed.live.schema, renamed.live.name), _name(renamed.obj.name)
            ),
            f"{renamed.live.label} has the columns and constraints of {renamed.obj.label}, "
            f"whose name is free; no row moves (undo: ALTER TABLE {renamed.obj.label} RENAME TO "
            f"{renamed.live.name})",
        )
        for renamed in diff.renamed
    ]


# --- exact restores --------------------------------------------------------------------------


def restore_steps(diff: SchemaDiff) -> list[Step]:
    """What puts back every non-additive difference the lock can restore without data loss."""
    steps: list[Step] = []
    seen: set[tuple] = set()
    for found in diff.differing:
        if found.additive or found.exposure or diff.renamed_from(found.obj):
            continue  # a renamed table's objects come back with its name
        for statement, why, after in _restore(found, seen):
            steps.append(Step(root_of(found.obj), statement, why, after_commit=after))
    return steps


def _restore(found: Difference, seen: set[tuple]) -> Iterator[tuple[sql.Composable, str, bool]]:
    obj = found.obj
    if obj.key in seen:  # an object with several differing fields is restored once
        return
    if isinstance(obj, Function):
        if found.field == "owner":
            yield (
                sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(
                    function_target(obj), _name(obj.owner)
                ),
                f"the owner the migrations gave it (was {found.live_value})",
                False,
            )
            return
        seen.add(obj.key)
        yield (
            sql.SQL(obj.definition.rstrip().rstrip(";")),
            "the function exactly as its migration defines it; its privileges are kept",
            False,
        )
    elif isinstance(obj, Column):
        yield from _restore_column(obj, found)
    elif isinstance(obj, Constraint) and found.field == "validated":
        yield (
            validate_constraint(obj),
            "checks the rows it never checked; fails, changing nothing, while some violate it",
            True,
        )
    elif isinstance(obj, Constraint):
        seen.add(obj.key)
        yield from _restore_constraint(obj)
    elif isinstance(obj, Index) and found.field == "definition":  # invalid: REINDEX, elsewhere
        seen.add(obj.key)
        yield (
            sql.SQL("DROP INDEX {}").format(_name(obj.schema, obj.name)),
            "replaced in the same transaction by the declared index; an index holds no data",
            False,
        )
        yield (sql.SQL(obj.definition), "the index exactly as its migration creates it", False)


def _restore_column(obj: Column, found: Difference) -> Iterator[tuple[sql.Composable, str, bool]]:
    table, column = _name(obj.schema, obj.table), _name(obj.name)
    if found.field == "default":
        change = (
            sql.SQL("DROP DEFAULT")
            if obj.default is None
            else sql.SQL("SET DEFAULT {}").format(sql.SQL(obj.default))
        )
        yield (
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} {}").format(table, column, change),
            f"a default applies to new rows only (was {found.live_value})",
            False,
        )
    elif found.field == "not_null" and not obj.not_null:
        yield (
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL").format(table, column),
            "the migrations let it be null; no row changes",
            False,
        )
    elif found.field == "type":
        yield (_lossless_guard(obj, found.live_value), _GUARD_WHY, False)
        yield (
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}").format(
                table, column, sql.SQL(obj.type), column, sql.SQL(obj.type)
            ),
            f"back to {obj.type} from {found.live_value}: every value survives the round trip",
            False,
        )


_GUARD_WHY = "refuses (and rolls the repair back) if any value would change on the way back"


def _lossless_guard(obj: Column, live_type: str) -> sql.Composable:
    """A DO block that raises when some value does not survive `live -> expected -> live`."""
    check = sql.SQL(
        "SELECT count(*) FROM {table} WHERE {column} IS NOT NULL AND "
        "{column}::{expected}::{live} IS DISTINCT FROM {column}"
    ).format(
        table=_name(obj.schema, obj.table),
        column=_name(obj.name),
        expected=sql.SQL(obj.type),
        live=sql.SQL(live_type),
    )
    message = f"changing {obj.label} back to {obj.type} would change % value(s)"
    return sql.SQL(
        "DO ${tag}$ DECLARE changed bigint; BEGIN EXECUTE {check} INTO changed; "
        "IF changed > 0 THEN RAISE EXCEPTION {message}, changed; END IF; END ${tag}$"
    ).format(
        tag=sql.SQL(GUARD_TAG),
        check=sql.Literal(check.as_string(None)),
        message=sql.Literal(message),
    )


def _restore_constraint(obj: Constraint) -> Iterator[tuple[sql.Composable, str, bool]]:
    table, name = _name(obj.schema, obj.table), _name(obj.name)
    yield (
        sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(table, name),
        "replaced in the same transaction by the declared constraint",
        False,
    )
    yield from add_constraint(obj)


def add_constraint(obj: Constraint) -> Iterator[tuple[sql.Composable, str, bool]]:
    """A check or foreign key comes back NOT VALID (it guards new rows at once), then is
    validated after the commit; rows that violate it make the validation fail, not the repair."""
    table, name = _name(obj.schema, obj.table), _name(obj.name)
    if obj.type not in ("c", "f"):
        yield (
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                table, name, sql.SQL(obj.definition)
            ),
            "the constraint exactly as its migration declares it",
            False,
        )
        return
    yield (
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID").format(
            table, name, sql.SQL(obj.definition)
        ),
        "NOT VALID: it guards new rows at once without scanning the old ones",
        False,
    )
    if obj.validated:
        yield (
            validate_constraint(obj),
            "validated after the commit; rows violating it are left to a person, with samples",
            True,
        )
