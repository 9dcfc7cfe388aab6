"""The one diff of an expected and a live catalog snapshot.

- `Missing`: an expected object the live database lacks (always additive: the delta creates it).
- `Difference`: an object both hold whose compared field differs; `additive` when the delta can
  reconcile it without dropping, narrowing or replacing anything (enable RLS, a missing default,
  a missing privilege or enum label), else the doctor restores it from the lock or a human does.
- `Drift`: an object in live that no migration creates, within the schemas the migrations use.
  Drift is reported, never a failure, unless it is an exposure.
- An **exposure** lets `anon`, `authenticated` or PUBLIC see or change more than the migrations
  declare: RLS off (or not forced) where they turn it on, a policy unlike its migration, a
  privilege beyond the declared ones, a function that runs with its owner's rights or with a
  search path not fixed, or a permissive policy or API grant no migration creates.
Schema checks, `selfheal delta` and the doctor all read this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfheal.catalog import (
    COLLECTIONS,
    CatalogObject,
    CatalogSnapshot,
    Column,
    DefaultPrivilege,
    EnumType,
    Function,
    Grant,
    Index,
    Policy,
    Relation,
    Schema,
)
from selfheal.core.identifiers import qualified
from selfheal.schema.platform import for_target

# The roles a Supabase API request runs as (and PUBLIC, which every role is a member of).
API_ROLES = ("anon", "authenticated", "public")
# Compared like sets: a live database may hold more of these than promised, not fewer (except
# privileges an API role gains: `excess`).
_AT_LEAST = (Grant, EnumType, DefaultPrivilege)


@dataclass(frozen=True)
class _WholeObject:
    """A problem about an object as a whole: its kind and label are the object's."""

    obj: CatalogObject

    @property
    def kind(self) -> str:
        return self.obj.kind

    @property
    def label(self) -> str:
        return self.obj.label


@dataclass(frozen=True)
class Missing(_WholeObject):
    @property
    def message(self) -> str:
        return f"{self.kind} {self.label} is missing from the live database"


@dataclass(frozen=True)
class Difference:
    obj: CatalogObject  # the expected object
    live: CatalogObject
    field: str
    expected_value: Any
    live_value: Any
    additive: bool
    exposure: bool = False

    @property
    def kind(self) -> str:
        """What is wrong, for the doctor: e.g. rls_disabled, column_type, policy_using."""
        if isinstance(self.obj, Relation) and self.field == "rls_enabled":
            return "rls_disabled"
        if isinstance(self.obj, Relation) and self.field == "rls_forced":
            return "rls_not_forced"
        return f"{self.obj.kind}_{self.field}"

    @property
    def label(self) -> str:
        return self.obj.label

    @property
    def message(self) -> str:
        if self.field == "excess":
            return f"{self.obj.kind} {self.label}: live also grants {', '.join(self.live_value)}"
        if self.field == "validated":
            return (
                f"constraint {self.label} is NOT VALID: it guards new rows, but the rows written "
                "before it were never checked against it"
            )
        if isinstance(self.obj, _AT_LEAST):
            return f"{self.obj.kind} {self.label}: live lacks {self.field} {self.expected_value!r}"
        return (
            f"{self.obj.kind} {self.label}: {self.field} expected {self.expected_value!r}, "
            f"live has {self.live_value!r}"
        )


@dataclass(frozen=True)
class Drift(_WholeObject):
    @property
    def message(self) -> str:
        return f"{self.kind} {self.label} exists in live but no migration creates it"

    @property
    def exposure(self) -> bool:
        """A permissive policy, or an API role's privileges on a table, that no migration
        declares (default privileges no migration sets are the platform's: Supabase's own)."""
        if isinstance(self.obj, Policy):
            return self.obj.permissive
        return isinstance(self.obj, Grant) and self.obj.grantee in API_ROLES


@dataclass(frozen=True)
class Renamed(_WholeObject):
    """An expected table missing under its name while a table no migration creates has the
    same columns and constraints: it was renamed (its rows, indexes and policies went along)."""

    live: Relation

    @property
    def kind(self) -> str:
        return "table_renamed"

    @property
    def message(self) -> str:
        return (
            f"table {self.label} is missing and {self.live.label} has its columns and "
            "constraints: it was renamed"
        )


Problem = Missing | Difference | Renamed


@dataclass
class SchemaDiff:
    expected: CatalogSnapshot
    live: CatalogSnapshot
    missing: list[Missing] = field(default_factory=list)
    differing: list[Difference] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    renamed: list[Renamed] = field(default_factory=list)
    _by_object: dict[tuple, list[Problem]] = field(default_factory=dict, repr=False)
    _by_table: dict[tuple[str, str], list[Problem]] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        """Counts only (it holds both snapshots): a repr can end up in a message or a traceback."""
        counts = f"{len(self.missing)} missing, {len(self.differing)} differing"
        return f"SchemaDiff({counts}, {len(self.drift)} drift)"

    @property
    def clean(self) -> bool:
        return not self.missing and not self.differing and not self.renamed

    def cause_of(self, problem: Problem) -> Problem:
        """The root cause a problem shares with others: the renamed or missing table an object
        of it belongs to, the missing constraint an index backs or the missing column it is built
        on; else the problem itself."""
        table = _table_of(problem.obj)
        causes: list[Problem] = [*self.renamed, *self.missing]
        for cause in causes:
            if isinstance(cause.obj, Relation) and table == cause.obj.key:
                return cause
        if not isinstance(problem, Missing):
            return problem
        backing = getattr(problem.obj, "constraint", None)
        if backing:
            key = (*problem.obj.key[:1], problem.obj.table, backing)
            return next((m for m in self.missing if m.obj.key == key), problem)
        return self._missing_column_under(problem) or problem

    def _missing_column_under(self, problem: Missing) -> Missing | None:
        """The missing column an index is built on: dropping a column drops its indexes."""
        columns = {(*_table_of(problem.obj), name) for name in getattr(problem.obj, "columns", ())}
        return next(
            (m for m in self.missing if isinstance(m.obj, Column) and m.obj.key in columns), None
        )

    def renamed_from(self, obj: CatalogObject) -> Renamed | None:
        """The rename that explains `obj` (an expected table or an object of it), if any."""
        key = _table_of(obj) or obj.key
        return next((r for r in self.renamed if r.obj.key == key), None)

    @property
    def irreconcilable(self) -> list[Difference]:
        return [d for d in self.differing if not d.additive]

    @property
    def exposures(self) -> list[Difference | Drift]:
        """Every difference and drift that gives an API role more than the migrations do."""
        return [d for d in [*self.differing, *self.drift] if d.exposure]

    def problems_for(self, obj: CatalogObject) -> list[Problem]:
        """What is wrong with one expected object (empty when live matches), found by kind and
        key: the diff's expected snapshot is `obj`'s resolved for the target (platform.py)."""
        if not self._by_object:
            for problem in [*self.missing, *self.differing, *self.renamed]:
                self._by_object.setdefault(_identity(problem.obj), []).append(problem)
        return self._by_object.get(_identity(obj), [])

    def problems_within(self, relation: Relation) -> list[Problem]:
        """What is wrong with a relation and everything on it (columns, indexes, policies...)."""
        if not self._by_table:
            for problem in [*self.missing, *self.differing, *self.renamed]:
                key = _table_of(problem.obj) or problem.obj.key[:2]
                self._by_table.setdefault(key, []).append(problem)
        return self._by_table.get(relation.key, [])

    def summary(self) -> list[str]:
        lines = [r.message for r in self.renamed]
        lines += [m.message for m in self.missing]
        lines += [d.message + ("" if d.additive else " (needs a human)") for d in self.differing]
        lines += [d.message for d in self.drift]
        return lines


def _is_additive(expected: CatalogObject, name: str, want: Any, have: Any) -> bool:
    """True where the delta can close the gap by adding, never by dropping or replacing."""
    if isinstance(expected, Relation):
        return name in ("rls_enabled", "rls_forced") and want is True
    if isinstance(expected, Column):
        return (name == "not_null" and want is True) or (name == "default" and have is None)
    return isinstance(expected, _AT_LEAST)


def _is_exposure(expected: CatalogObject, name: str, want: Any, have: Any) -> bool:
    """True where live lets an API role do more than the migrations (see the module's doc)."""
    if isinstance(expected, Relation):
        return name in ("rls_enabled", "rls_forced") and want is True
    if isinstance(expected, Function):
        if name == "acl":
            return any(entry.split("=", 1)[0] in API_ROLES for entry in set(have) - set(want))
        return (name == "security_definer" and have is True) or name == "config"
    return isinstance(expected, Policy)


def _compare(expected: CatalogObject, live: CatalogObject) -> list[Difference]:
    differences = []
    for name in expected.COMPARED:
        want, have = getattr(expected, name), getattr(live, name)
        if isinstance(expected, _AT_LEAST):
            # A live database may hold more privileges or enum labels than promised, not fewer.
            want = tuple(v for v in want if v not in have)
            if not want:
                continue
        elif want == have or (name == "validated" and not want):  # validated: stricter, fine
            continue
        additive = _is_additive(expected, name, want, have)
        exposure = _is_exposure(expected, name, want, have)
        differences.append(Difference(expected, live, name, want, have, additive, exposure))
    return differences + _excess(expected, live)


def _excess(expected: CatalogObject, live: CatalogObject) -> list[Difference]:
    """Privileges an API role holds beyond the declared ones: an exposure to revoke."""
    if not isinstance(expected, Grant | DefaultPrivilege) or expected.grantee not in API_ROLES:
        return []
    extra = tuple(p for p in live.privileges if p not in expected.privileges)
    if not extra:
        return []
    return [Difference(expected, live, "excess", (), extra, additive=False, exposure=True)]


def root_of(obj: CatalogObject) -> str:
    """The table an object belongs to (or the object itself: a table, a function): the repair
    it is part of."""
    table = getattr(obj, "table", None)
    if table and not isinstance(obj, Relation):
        return qualified(obj.schema_name, table)
    return obj.label


def _identity(obj: CatalogObject) -> tuple:
    return (type(obj), obj.key)


def _table_of(obj: CatalogObject) -> tuple[str, str] | None:
    table = getattr(obj, "table", None)
    return (obj.schema_name, table) if table else None


def diff(expected: CatalogSnapshot, live: CatalogSnapshot) -> SchemaDiff:
    """Missing, differing and drifted objects of `live` against `expected`, whose privileges
    from the platform's defaults are expected only where the live defaults give them."""
    expected = for_target(expected, live)
    result = SchemaDiff(expected=expected, live=live)
    scope = {obj.schema_name for obj in expected.objects()}
    for name in COLLECTIONS:
        want, have = expected.collection(name), live.collection(name)
        for key, obj in want.items():
            if key not in have or _elsewhere(obj, have[key]):
                result.missing.append(Missing(obj))
            else:
                result.differing.extend(_compare(obj, have[key]))
        for key, obj in have.items():
            # Default privileges no migration sets are the platform's (Supabase's, the shim's).
            if (
                key in want
                or obj.schema_name not in scope
                or isinstance(obj, Schema | DefaultPrivilege)
            ):
                continue
            parent = _table_of(obj)
            if parent and parent not in expected.relations:
                continue  # reported once, as the drifted table itself
            result.drift.append(Drift(obj))
    _find_renames(result)
    return result


def _elsewhere(expected: CatalogObject, live: CatalogObject) -> bool:
    """An index whose name another table's index holds: this table lacks it (restoring it
    must not touch the other table's index)."""
    return isinstance(expected, Index) and (expected.table != live.table)


def _shape(snapshot: CatalogSnapshot, table: Relation) -> tuple:
    """What survives a rename: the columns (name, type, nullability, in order) and the
    constraints' definitions."""
    columns = tuple((c.name, c.type, c.not_null) for c in snapshot.columns_of(*table.key))
    constraints = sorted(
        (c.type, c.definition)
        for c in snapshot.constraints.values()
        if (c.schema, c.table) == table.key
    )
    return (columns, tuple(constraints))


def _find_renames(result: SchemaDiff) -> None:
    """A missing table whose shape exactly one drifted table of its schema has was renamed."""
    for missing in [m for m in result.missing if isinstance(m.obj, Relation) and m.obj.is_table]:
        shape = _shape(result.expected, missing.obj)
        candidates = [
            d
            for d in result.drift
            if isinstance(d.obj, Relation)
            and d.obj.is_table
            and d.obj.schema == missing.obj.schema
            and _shape(result.live, d.obj) == shape
        ]
        if len(candidates) == 1:
            result.missing.remove(missing)
            result.drift.remove(candidates[0])
            result.renamed.append(Renamed(missing.obj, candidates[0].obj))
