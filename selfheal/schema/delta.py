"""The additive delta: a migration holding only what the live database lacks.

Statements come in dependency order (schemas, extensions, types, functions, tables, columns,
constraints, indexes, row-level security, policies, grants) and in idempotent forms (IF NOT
EXISTS, or a DO block that looks in the catalog first), so the file can run twice. It never
drops, renames or changes a type: what cannot be reconciled by adding goes into the file as
comments for a human. Indexes on existing tables are built CONCURRENTLY, and the file is then
marked `-- selfheal: no-transaction` so the runner applies it statement by statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from psycopg import sql

from selfheal.catalog import (
    CatalogObject,
    Column,
    Constraint,
    DefaultPrivilege,
    EnumType,
    Extension,
    Function,
    Grant,
    Index,
    Policy,
    Relation,
    Schema,
)
from selfheal.core.identifiers import qualified
from selfheal.schema.diff import Difference, Drift, SchemaDiff, root_of

_CONSTRAINT_ORDER = {"p": 0, "u": 1, "x": 2, "c": 3, "f": 4}
_TAG = "selfheal_delta"


def _text(composed: sql.Composable) -> str:
    return composed.as_string(None)


def _name(*parts: str) -> sql.Identifier:
    return sql.Identifier(*parts)


def _role(role: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if role == "public" else sql.Identifier(role)


def _guarded(exists: sql.Composable, statement: sql.Composable) -> sql.Composable:
    """`statement` only when the catalog query `exists` finds nothing: CREATE without IF NOT
    EXISTS made idempotent."""
    return sql.SQL(
        "DO ${tag}$ BEGIN IF NOT EXISTS ({exists}) THEN {statement}; END IF; END ${tag}$"
    ).format(tag=sql.SQL(_TAG), exists=exists, statement=statement)


def _regclass(schema: str, name: str) -> sql.Composable:
    return sql.SQL("{}::regclass").format(sql.Literal(_text(_name(schema, name))))


@dataclass(frozen=True)
class DeltaStep:
    """One statement of the delta and its root: the table, function or type whose repair it
    is part of (the doctor applies each root's statements in one transaction)."""

    root: str
    text: str
    depends_on: tuple[str, ...] = ()  # the roots that must exist first (a referenced table)


@dataclass
class Delta:
    steps: list[DeltaStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    concurrent: bool = False

    @property
    def statements(self) -> list[str]:
        return [step.text for step in self.steps]

    def add(self, statement: sql.Composable, about: CatalogObject, *after: str) -> None:
        self.steps.append(DeltaStep(root_of(about), _text(statement) + ";", after))

    def render(self) -> str:
        """The migration text; empty when the live database lacks nothing."""
        if not self.statements and not self.notes:
            return ""
        lines = ["-- selfheal delta: only what the live database lacks; additive and idempotent."]
        if self.concurrent:
            lines.append("-- selfheal: no-transaction")
        if self.statements:
            # SET LOCAL ends with the file's transaction; a no-transaction file's settings are
            # reset by the runner after it.
            setting = "SET" if self.concurrent else "SET LOCAL"
            lines += [f"{setting} check_function_bodies = off;", "", *self.statements]
        if self.notes:
            lines += ["", "-- Not reconciled additively (needs a human):"]
            lines += [f"-- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


# --- one renderer per kind of missing object --------------------------------------------------


def _schema(obj: Schema, delta: Delta) -> None:
    delta.add(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(_name(obj.name)), obj)


def _extension(obj: Extension, delta: Delta) -> None:
    delta.add(
        sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}").format(
            _name(obj.name), _name(obj.schema)
        ),
        obj,
    )


def _enum(obj: EnumType, delta: Delta) -> None:
    exists = sql.SQL(
        "SELECT FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = {} AND t.typname = {}"
    ).format(sql.Literal(obj.schema), sql.Literal(obj.name))
    create = sql.SQL("CREATE TYPE {} AS ENUM ({})").format(
        _name(obj.schema, obj.name), sql.SQL(", ").join(map(sql.Literal, obj.labels))
    )
    delta.add(_guarded(exists, create), obj)


def _enum_labels(obj: EnumType, labels: Iterable[str], delta: Delta) -> None:
    for label in labels:
        delta.add(
            sql.SQL("ALTER TYPE {} ADD VALUE IF NOT EXISTS {}").format(
                _name(obj.schema, obj.name), sql.Literal(label)
            ),
            obj,
        )


def _function(obj: Function, delta: Delta) -> None:
    # The server's own rendering of the function: CREATE OR REPLACE FUNCTION ...
    delta.add(sql.SQL(obj.definition.rstrip().rstrip(";")), obj)
    for statement in function_privileges(obj):
        delta.add(statement, obj)


def function_target(obj: Function) -> sql.Composable:
    """`schema.name(arguments)`, as GRANT and ALTER FUNCTION name a function."""
    return sql.SQL("{}({})").format(_name(obj.schema, obj.name), sql.SQL(obj.arguments))


def function_privileges(obj: Function) -> list[sql.Composable]:
    """Exactly the expected EXECUTE privileges: every grant revoked, the declared ones given."""
    revoke_all = sql.SQL(
        "DO ${tag}$ DECLARE f regprocedure; grantee text; BEGIN "
        "FOR f, grantee IN SELECT p.oid::regprocedure, "
        "CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END "
        "FROM pg_proc p CROSS JOIN LATERAL "
        "aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) g "
        "WHERE p.pronamespace = {schema}::regnamespace AND p.proname = {name} "
        "AND pg_get_function_identity_arguments(p.oid) = {arguments} "
        "AND g.grantee <> p.proowner "
        "LOOP EXECUTE format('REVOKE ALL ON FUNCTION %s FROM %s', f, grantee); END LOOP; "
        "END ${tag}$"
    ).format(
        tag=sql.SQL(_TAG),
        schema=sql.Literal(_text(_name(obj.schema))),
        name=sql.Literal(obj.name),
        arguments=sql.Literal(obj.arguments),
    )
    grants = [
        sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(function_target(obj), _role(role))
        for role in obj.executors
    ]
    return [revoke_all, *grants]


def _column_definition(column: Column) -> sql.Composable:
    parts: list[sql.Composable] = [_name(column.name), sql.SQL(column.type)]
    if column.identity:
        parts.append(
            sql.SQL(
                "GENERATED ALWAYS AS IDENTITY"
                if column.identity == "a"
                else "GENERATED BY DEFAULT AS IDENTITY"
            )
        )
    elif column.generated:
        parts.append(sql.SQL("GENERATED ALWAYS AS ({}) STORED").format(sql.SQL(column.default)))
    elif column.default is not None:
        parts.append(sql.SQL("DEFAULT {}").format(sql.SQL(column.default)))
    if column.not_null and not column.identity:
        parts.append(sql.SQL("NOT NULL"))
    return sql.SQL(" ").join(parts)


def _relation(obj: Relation, diff: SchemaDiff, delta: Delta) -> None:
    target = _name(obj.schema, obj.name)
    if obj.partition_of:
        delta.add(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} {}").format(
                target, _name(*obj.partition_of), sql.SQL(obj.partition_bound or "DEFAULT")
            ),
            obj,
            qualified(*obj.partition_of),
        )
    elif obj.is_table:
        columns = diff.expected.columns_of(obj.schema, obj.name)
        statement = sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
            target, sql.SQL(", ").join(_column_definition(c) for c in columns)
        )
        if obj.partition_key:
            statement += sql.SQL(" PARTITION BY {}").format(sql.SQL(obj.partition_key))
        delta.add(statement, obj)
    elif obj.relkind == "v":
        options = (
            sql.SQL(" WITH ({})").format(sql.SQL(", ".join(obj.options)))
            if obj.options
            else sql.SQL("")
        )
        delta.add(
            sql.SQL("CREATE OR REPLACE VIEW {}{} AS {}").format(
                target, options, sql.SQL(_body(obj.view_definition))
            ),
            obj,
        )
    elif obj.relkind == "m":
        delta.add(
            sql.SQL("CREATE MATERIALIZED VIEW IF NOT EXISTS {} AS {}").format(
                target, sql.SQL(_body(obj.view_definition))
            ),
            obj,
        )
    else:
        delta.notes.append(f"{obj.kind} {obj.label} is missing; create it by hand")


def _body(definition: str | None) -> str:
    return (definition or "").strip().rstrip(";")


def _column(obj: Column, delta: Delta) -> None:
    delta.add(
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {}").format(
            _name(obj.schema, obj.table), _column_definition(obj)
        ),
        obj,
    )


def _constraint(obj: Constraint, delta: Delta) -> None:
    """A check or foreign key is added NOT VALID (it guards new rows at once) and validated by
    its own statement, so rows that violate it fail the validation, not the addition."""
    exists = sql.SQL("SELECT FROM pg_constraint WHERE conrelid = {} AND conname = {}").format(
        _regclass(obj.schema, obj.table), sql.Literal(obj.name)
    )
    deferred = obj.type in ("c", "f")
    add = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}{}").format(
        _name(obj.schema, obj.table),
        _name(obj.name),
        sql.SQL(obj.definition),
        sql.SQL(" NOT VALID" if deferred else ""),
    )
    referenced = (qualified(*obj.referenced_table),) if obj.referenced_table else ()
    delta.add(_guarded(exists, add), obj, *referenced)
    if deferred and obj.validated:
        delta.add(validate_constraint(obj), obj, *referenced)


def validate_constraint(obj: Constraint) -> sql.Composable:
    return sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
        _name(obj.schema, obj.table), _name(obj.name)
    )


def _index(obj: Index, diff: SchemaDiff, delta: Delta) -> None:
    if obj.body is None:
        delta.notes.append(f"index {obj.label} is missing; create it by hand: {obj.definition}")
        return
    table = diff.expected.table(obj.schema, obj.table)
    # Partitioned parents cannot be indexed concurrently; a fresh table has nothing to block.
    concurrent = bool(table and table.relkind != "p" and diff.live.table(obj.schema, obj.table))
    delta.concurrent |= concurrent
    delta.add(name_is_free(obj), obj)
    delta.add(
        sql.SQL("CREATE {unique}INDEX {concurrently}IF NOT EXISTS {name} ON {table} {body}").format(
            unique=sql.SQL("UNIQUE " if obj.unique else ""),
            concurrently=sql.SQL("CONCURRENTLY " if concurrent else ""),
            name=_name(obj.name),
            table=_name(obj.schema, obj.table),
            body=sql.SQL(obj.body),
        ),
        obj,
    )


def name_is_free(obj: Index) -> sql.Composable:
    """A DO block that raises when another relation holds the index's name: `IF NOT EXISTS`
    would silently skip the index, leaving the repair half done."""
    return sql.SQL(
        "DO ${tag}$ DECLARE holder regclass := to_regclass({index}); BEGIN "
        "IF holder IS NOT NULL AND NOT EXISTS (SELECT FROM pg_index WHERE indexrelid = holder "
        "AND indrelid = to_regclass({table})) THEN "
        "RAISE EXCEPTION 'the name % is held by %, not by an index of %', {name}, "
        "(SELECT coalesce((SELECT indrelid::regclass::text FROM pg_index "
        "WHERE indexrelid = holder), holder::text)), {table}; END IF; END ${tag}$"
    ).format(
        tag=sql.SQL(_TAG),
        index=sql.Literal(_text(_name(obj.schema, obj.name))),
        table=sql.Literal(_text(_name(obj.schema, obj.table))),
        name=sql.Literal(obj.name),
    )


def _rls(obj: Relation, delta: Delta, forced: bool) -> None:
    verb = "FORCE" if forced else "ENABLE"
    delta.add(
        sql.SQL("ALTER TABLE {} {} ROW LEVEL SECURITY").format(
            _name(obj.schema, obj.name), sql.SQL(verb)
        ),
        obj,
    )


def create_policy(obj: Policy) -> sql.Composable:
    """CREATE POLICY exactly as the expected snapshot holds it."""
    statement = sql.SQL("CREATE POLICY {} ON {} AS {} FOR {} TO {}").format(
        _name(obj.name),
        _name(obj.schema, obj.table),
        sql.SQL("PERMISSIVE" if obj.permissive else "RESTRICTIVE"),
        sql.SQL(obj.command),
        sql.SQL(", ").join(_role(r) for r in obj.roles),
    )
    if obj.using is not None:
        statement += sql.SQL(" USING ({})").format(sql.SQL(obj.using))
    if obj.check is not None:
        statement += sql.SQL(" WITH CHECK ({})").format(sql.SQL(obj.check))
    return statement


def _policy(obj: Policy, delta: Delta) -> None:
    exists = sql.SQL("SELECT FROM pg_policy WHERE polrelid = {} AND polname = {}").format(
        _regclass(obj.schema, obj.table), sql.Literal(obj.name)
    )
    delta.add(_guarded(exists, create_policy(obj)), obj)


def _grant(obj: Grant, privileges: Iterable[str], delta: Delta) -> None:
    delta.add(
        sql.SQL("GRANT {} ON TABLE {} TO {}").format(
            sql.SQL(", ").join(sql.SQL(p) for p in privileges),
            _name(obj.schema, obj.table),
            _role(obj.grantee),
        ),
        obj,
    )


def default_privileges(
    obj: DefaultPrivilege, verb: str, privileges: Iterable[str]
) -> sql.Composable:
    """ALTER DEFAULT PRIVILEGES ... GRANT (or REVOKE) `privileges` for one grantee."""
    where = sql.SQL(" IN SCHEMA {}").format(_name(obj.schema)) if obj.schema else sql.SQL("")
    return sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}{} {} {} ON {} {} {}").format(
        _name(obj.role),
        where,
        sql.SQL(verb),
        sql.SQL(", ").join(sql.SQL(p) for p in privileges),
        sql.SQL(obj.objects),
        sql.SQL("TO" if verb == "GRANT" else "FROM"),
        _role(obj.grantee),
    )


# --- assembling -------------------------------------------------------------------------------


def _creates_with_parent(obj: CatalogObject, diff: SchemaDiff) -> bool:
    """True for objects another statement of the delta already creates."""
    if isinstance(obj, Column):
        table = diff.expected.table(obj.schema, obj.table)
        return (
            obj.inherited
            or (table is not None and not table.is_table)
            or diff.live.table(obj.schema, obj.table) is None
        )
    if isinstance(obj, Constraint | Index):
        return obj.inherited or (isinstance(obj, Index) and obj.constraint is not None)
    return False


def _sort_key(obj: CatalogObject) -> tuple:
    if isinstance(obj, Relation):
        # Tables, then partitions (parents before children), then views.
        return (obj.is_view, obj.partition_of is not None, obj.key)
    if isinstance(obj, Constraint):
        return (_CONSTRAINT_ORDER[obj.type], obj.key)
    return obj.key


def _missing_by_kind(diff: SchemaDiff) -> dict[type, list[CatalogObject]]:
    grouped: dict[type, list[CatalogObject]] = {}
    for item in diff.missing:
        # A renamed table is renamed back (the doctor), not created again empty beside it.
        if not _creates_with_parent(item.obj, diff) and diff.renamed_from(item.obj) is None:
            grouped.setdefault(type(item.obj), []).append(item.obj)
    return {kind: sorted(objs, key=_sort_key) for kind, objs in grouped.items()}


def _differences(diff: SchemaDiff, kind: type, name: str) -> list[Difference]:
    return [d for d in diff.differing if d.additive and isinstance(d.obj, kind) and d.field == name]


def build_delta(diff: SchemaDiff) -> Delta:
    delta = Delta()
    missing = _missing_by_kind(diff)

    def each(kind: type, render: Callable[[CatalogObject], None]) -> None:
        for obj in missing.get(kind, []):
            render(obj)

    each(Schema, lambda o: _schema(o, delta))
    each(Extension, lambda o: _extension(o, delta))
    each(EnumType, lambda o: _enum(o, delta))
    for d in _differences(diff, EnumType, "labels"):
        _enum_labels(d.obj, d.expected_value, delta)
    each(Function, lambda o: _function(o, delta))
    each(Relation, lambda o: _relation(o, diff, delta))
    each(Column, lambda o: _column(o, delta))
    for d in _differences(diff, Column, "default"):
        delta.add(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                _name(d.obj.schema, d.obj.table), _name(d.obj.name), sql.SQL(d.expected_value)
            ),
            d.obj,
        )
    for d in _differences(diff, Column, "not_null"):
        delta.add(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL").format(
                _name(d.obj.schema, d.obj.table), _name(d.obj.name)
            ),
            d.obj,
        )
    each(Constraint, lambda o: _constraint(o, delta))
    each(Index, lambda o: _index(o, diff, delta))
    _rls_statements(diff, missing.get(Relation, []), delta)
    each(Policy, lambda o: _policy(o, delta))
    each(Grant, lambda o: _grant(o, o.privileges, delta))
    for d in _differences(diff, Grant, "privileges"):
        _grant(d.obj, d.expected_value, delta)
    each(DefaultPrivilege, lambda o: delta.add(default_privileges(o, "GRANT", o.privileges), o))
    for d in _differences(diff, DefaultPrivilege, "privileges"):
        delta.add(default_privileges(d.obj, "GRANT", d.expected_value), d.obj)
    delta.notes += [f"{r.message}: rename it back" for r in diff.renamed]
    delta.notes += [d.message for d in diff.irreconcilable]
    delta.notes += [d.message for d in diff.drift if _worth_a_note(d)]
    return delta


def _rls_statements(diff: SchemaDiff, created: list[CatalogObject], delta: Delta) -> None:
    for forced, name in ((False, "rls_enabled"), (True, "rls_forced")):
        tables = [t for t in created if getattr(t, name)]
        tables += [d.obj for d in _differences(diff, Relation, name)]
        for table in tables:
            _rls(table, delta, forced)


def _worth_a_note(drift: Drift) -> bool:
    """Extra columns and policies matter to a reviewer; extra grants or indexes rarely."""
    return isinstance(drift.obj, Column | Policy | Relation)


def render_delta(diff: SchemaDiff) -> str:
    """The delta migration's text for `diff`; empty when there is nothing to add or report."""
    return build_delta(diff).render()
