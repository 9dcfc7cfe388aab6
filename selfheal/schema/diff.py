"""The one diff of an expected and a live catalog snapshot.

- `Missing`: an expected object the live database lacks (always additive: the delta creates it).
- `Difference`: an object both hold whose compared field differs; `additive` when the delta can
  reconcile it without dropping, narrowing or replacing anything (enable RLS, a missing default,
  a missing privilege or enum label), else it is left to a human.
- `Drift`: an object in live that no migration creates, within the schemas the migrations use.
  Drift is reported, never a failure.
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
    EnumType,
    Grant,
    Relation,
    Schema,
)


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
        if isinstance(self.obj, Grant | EnumType):
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


Problem = Missing | Difference


@dataclass
class SchemaDiff:
    expected: CatalogSnapshot
    live: CatalogSnapshot
    missing: list[Missing] = field(default_factory=list)
    differing: list[Difference] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    _by_object: dict[int, list[Problem]] = field(default_factory=dict, repr=False)
    _by_table: dict[tuple[str, str], list[Problem]] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        """Counts only (it holds both snapshots): a repr can end up in a message or a traceback."""
        counts = f"{len(self.missing)} missing, {len(self.differing)} differing"
        return f"SchemaDiff({counts}, {len(self.drift)} drift)"

    @property
    def clean(self) -> bool:
        return not self.missing and not self.differing

    @property
    def irreconcilable(self) -> list[Difference]:
        return [d for d in self.differing if not d.additive]

    def problems_for(self, obj: CatalogObject) -> list[Problem]:
        """What is wrong with one expected object (empty when live matches)."""
        if not self._by_object:
            for problem in [*self.missing, *self.differing]:
                self._by_object.setdefault(id(problem.obj), []).append(problem)
        return self._by_object.get(id(obj), [])

    def problems_within(self, relation: Relation) -> list[Problem]:
        """What is wrong with a relation and everything on it (columns, indexes, policies...)."""
        if not self._by_table:
            for problem in [*self.missing, *self.differing]:
                key = _table_of(problem.obj) or problem.obj.key[:2]
                self._by_table.setdefault(key, []).append(problem)
        return self._by_table.get(relation.key, [])

    def summary(self) -> list[str]:
        lines = [m.message for m in self.missing]
        lines += [d.message + ("" if d.additive else " (needs a human)") for d in self.differing]
        lines += [d.message for d in self.drift]
        return lines


def _is_additive(expected: CatalogObject, name: str, want: Any, have: Any) -> bool:
    """True where the delta can close the gap by adding, never by dropping or replacing."""
    if isinstance(expected, Relation):
        return name in ("rls_enabled", "rls_forced") and want is True
    if isinstance(expected, Column):
        return (name == "not_null" and want is True) or (name == "default" and have is None)
    return isinstance(expected, EnumType | Grant)


def _compare(expected: CatalogObject, live: CatalogObject) -> list[Difference]:
    differences = []
    for name in expected.COMPARED:
        want, have = getattr(expected, name), getattr(live, name)
        if isinstance(expected, Grant | EnumType):
            # A live database may hold more privileges or enum labels than promised, not fewer.
            want = tuple(v for v in want if v not in have)
            if not want:
                continue
        elif want == have:
            continue
        differences.append(
            Difference(expected, live, name, want, have, _is_additive(expected, name, want, have))
        )
    return differences


def _table_of(obj: CatalogObject) -> tuple[str, str] | None:
    table = getattr(obj, "table", None)
    return (obj.schema_name, table) if table else None


def diff(expected: CatalogSnapshot, live: CatalogSnapshot) -> SchemaDiff:
    """Missing, differing and drifted objects of `live` against `expected`."""
    result = SchemaDiff(expected=expected, live=live)
    scope = {obj.schema_name for obj in expected.objects()}
    for name in COLLECTIONS:
        want, have = expected.collection(name), live.collection(name)
        for key, obj in want.items():
            if key not in have:
                result.missing.append(Missing(obj))
            else:
                result.differing.extend(_compare(obj, have[key]))
        for key, obj in have.items():
            if key in want or obj.schema_name not in scope or isinstance(obj, Schema):
                continue
            parent = _table_of(obj)
            if parent and parent not in expected.relations:
                continue  # reported once, as the drifted table itself
            result.drift.append(Drift(obj))
    return result
