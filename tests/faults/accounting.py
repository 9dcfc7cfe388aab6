"""What the fault catalog measures: rows kept, exposures left, and each fault's fate.

- `RowDigest`: every row of every table, as a hash of its columns, keyed by the table's OID (a
  renamed table keeps it), so a heal that loses or rewrites a row is seen, whatever it renames.
- `exposures_left`: what still lets an API role do more than the lock declares.
- `stranded_rows`: rows in tables no migration creates (a rename's leftover copy, say).
- `record`: a fault's fate as a test property; `tests/faults/conftest.py` sums them up at the end
  of the session (`pytest tests/faults` prints the figures).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import psycopg
import pytest
from psycopg import sql

from selfheal.catalog import snapshot
from selfheal.core.settings import Settings
from selfheal.run.tickets import Ticket
from selfheal.schema import diff
from selfheal.schema.expected import locked_or_built

FATE = "fault_fate"

_TABLES = """
SELECT c.oid, n.nspname, c.relname,
       array(SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0
             AND NOT attisdropped ORDER BY attnum)::text[]
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = 'public'
"""


@dataclass
class RowDigest:
    """Per table OID: its name, columns and the hash of each row over those columns."""

    tables: dict[int, tuple[str, list[str], set[str]]]

    @classmethod
    def of(cls, dsn: str, columns_of: dict[int, list[str]] | None = None) -> RowDigest:
        tables = {}
        with psycopg.connect(dsn) as conn:
            for oid, schema, name, columns in conn.execute(_TABLES).fetchall():
                wanted = [c for c in (columns_of or {}).get(oid, columns) if c in columns]
                tables[oid] = (name, wanted, _hashes(conn, schema, name, wanted))
        return cls(tables)

    def lost_in(self, dsn: str) -> dict[str, int]:
        """Rows of this digest that `dsn` no longer holds unchanged, per table name."""
        later = RowDigest.of(dsn, {oid: cols for oid, (_, cols, _) in self.tables.items()})
        lost = {}
        for oid, (name, _, hashes) in self.tables.items():
            kept = later.tables.get(oid, (name, [], set()))[2]
            if hashes - kept:
                lost[name] = len(hashes - kept)
        return lost


def _hashes(conn: psycopg.Connection, schema: str, table: str, columns: list[str]) -> set[str]:
    if not columns:
        return set()
    query = sql.SQL("SELECT md5(row({})::text) FROM {}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema, table)
    )
    return {row[0] for row in conn.execute(query)}


def exposures_left(dsn: str) -> list[str]:
    settings = Settings()
    expected = locked_or_built(settings.migrations_dir, settings.schema_lock)
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [found.message for found in diff(expected, snapshot(conn)).exposures]


def stranded_rows(dsn: str) -> dict[str, int]:
    """Rows in public tables no migration creates."""
    settings = Settings()
    expected = locked_or_built(settings.migrations_dir, settings.schema_lock)
    stranded = {}
    with psycopg.connect(dsn) as conn:
        for _, schema, name, _ in conn.execute(_TABLES).fetchall():
            if (schema, name) in expected.relations:
                continue
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
            stranded[name] = conn.execute(query).fetchone()[0]
    return {name: rows for name, rows in stranded.items() if rows}


@dataclass(frozen=True)
class Fate:
    """What became of one fault."""

    fault: str
    detected: bool
    healed: bool  # healed, proved by a passing re-check
    person: str = ""  # else: why it is left to a person


@dataclass(frozen=True)
class Aftermath:
    """What a story's database holds after its heals."""

    story: str
    duplicate_tickets: int  # open tickets beyond one per fault
    exposures_left: int
    rows_lost: int
    rows_stranded: int


def fate_of(fault: str, ticket: Ticket | None) -> Fate:
    """A fault's fate from its ticket: healed when a heal was proved and the ticket resolved;
    else left to a person, with the doctor's last word on it as the reason."""
    if ticket is None:
        return Fate(fault, detected=False, healed=False)
    healed = ticket.status == "resolved" and any(h.outcome == "healed" for h in ticket.heals)
    reason = ticket.heals[-1].detail if ticket.heals else ""
    return Fate(fault, detected=True, healed=healed, person="" if healed else reason)


def record(request: pytest.FixtureRequest, found: Fate | Aftermath) -> None:
    request.node.user_properties.append((FATE, json.dumps(asdict(found))))


def read(value: str) -> Fate | Aftermath:
    record = json.loads(value)
    return Aftermath(**record) if "story" in record else Fate(**record)


def figures(found: list[Fate | Aftermath]) -> str:
    """The catalog's figures for people."""
    fates = [f for f in found if isinstance(f, Fate)]
    after = [a for a in found if isinstance(a, Aftermath)]
    total = len(fates) or 1
    person = [f for f in fates if f.detected and not f.healed]
    return (
        f"fault catalog: {len(fates)} faults; "
        f"detected {sum(f.detected for f in fates) / total:.0%}, "
        f"healed {sum(f.healed for f in fates) / total:.0%}, "
        f"left to a person {len(person)} ({sum(bool(f.person) for f in person)} with a reason); "
        f"exposures left {sum(a.exposures_left for a in after)}, "
        f"rows lost {sum(a.rows_lost for a in after)}, "
        f"rows stranded {sum(a.rows_stranded for a in after)}, "
        f"duplicate tickets {sum(a.duplicate_tickets for a in after)}"
    )
