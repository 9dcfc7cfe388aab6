"""Write probes: after a file, a new row still lands in each table and an existing row updates.

Each probe runs in a savepoint that is always rolled back, with triggers and rules active, so
a trigger or rule that swallows writes, a constraint no row can meet, or a changed function the
table's writes depend on shows as a probe that landed before the file and does not after.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from selfheal.core.text import first_line
from selfheal.migrate.seeding import CannotSeed, Table, insert_rows

_PROBE_START = 1_000_003  # row numbers no seeded row used


class _Undo(Exception):
    pass


def probe(conn: psycopg.Connection, table: Table, parents: dict[int, int]) -> str | None:
    """None when both writes land, else what failed (one line). Leaves the table unchanged."""
    target = sql.Identifier(table.schema, table.name)
    count = sql.SQL("SELECT count(*) FROM {}").format(target)
    outcome: str | None = None
    try:
        with conn.transaction():
            rows = conn.execute(count).fetchone()[0]
            inserted = insert_rows(conn, table, _PROBE_START, 1, parents, skip_duplicates=False)
            if inserted != 1 or conn.execute(count).fetchone()[0] != rows + 1:
                outcome = "a new row does not land (a trigger or rule swallows it)"
            elif not _update_lands(conn, table, target):
                outcome = (
                    "an UPDATE of an existing row does not land (a trigger or rule swallows it)"
                )
            raise _Undo
    except _Undo:
        pass
    except CannotSeed as reason:
        outcome = f"no probe row can be built: {reason}"
    except psycopg.Error as error:
        outcome = f"a write fails: {first_line(error)}"
    return outcome


def _update_lands(conn: psycopg.Connection, table: Table, target: sql.Composable) -> bool:
    column = next((c.name for c in table.columns if not c.automatic), None)
    if column is None:
        return True
    update = sql.SQL(
        "UPDATE {t} SET {c} = {c} WHERE ctid = (SELECT ctid FROM {t} ORDER BY ctid LIMIT 1)"
    ).format(t=target, c=sql.Identifier(column))
    return conn.execute(update).rowcount == 1
