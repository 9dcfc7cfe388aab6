"""Write probes: after a file, a new row still lands in each table and an existing row updates.

All tables are probed in one query: a function in the guard's schema runs each table's probe in
a subtransaction that is always rolled back, with triggers and rules active, so a trigger or
rule that swallows writes, a constraint no row can meet, or a changed function the table's
writes depend on shows as a probe that landed before the file and does not after. The probe's
statements are composed here; the function only runs them and counts.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from selfheal.migrate.seeding import CannotSeed, Table, insert_query

_PROBE_START = 1_000_003  # row numbers no seeded row used
_SWALLOWED_INSERT = "a new row does not land (a trigger or rule swallows it)"
_SWALLOWED_UPDATE = "an UPDATE of an existing row does not land (a trigger or rule swallows it)"

INSTALL = """
CREATE FUNCTION selfheal_guard.probe(count_rows text, insert_row text, update_row text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  rows_before bigint;
  rows_after bigint;
  landed bigint;
  outcome text;
BEGIN
  BEGIN
    EXECUTE count_rows INTO rows_before;
    EXECUTE insert_row;
    GET DIAGNOSTICS landed = ROW_COUNT;
    EXECUTE count_rows INTO rows_after;
    IF landed <> 1 OR rows_after <> rows_before + 1 THEN
      outcome := 'insert';
    ELSIF update_row IS NOT NULL THEN
      EXECUTE update_row;
      GET DIAGNOSTICS landed = ROW_COUNT;
      IF landed <> 1 THEN
        outcome := 'update';
      END IF;
    END IF;
    RAISE SQLSTATE 'SHG01';  -- undo the probe's writes
  EXCEPTION
    WHEN SQLSTATE 'SHG01' THEN NULL;
    WHEN OTHERS THEN outcome := 'error ' || SQLERRM;
  END;
  RETURN outcome;
END $$;
"""


def probe(
    conn: psycopg.Connection, tables: dict[int, Table], parents: dict[int, int]
) -> dict[int, str | None]:
    """Per table: None when both writes land, else what failed (one line). Changes nothing."""
    outcomes: dict[int, str | None] = {}
    statements: list[tuple[int, str, str, str | None]] = []
    for oid, table in tables.items():
        try:
            statements.append((oid, *_statements(conn, table, parents)))
        except CannotSeed as reason:
            outcomes[oid] = f"no probe row can be built: {reason}"
    if statements:
        rows = conn.execute(
            "SELECT o, selfheal_guard.probe(c, i, u) "
            "FROM unnest(%s::oid[], %s::text[], %s::text[], %s::text[]) AS t(o, c, i, u)",
            [list(column) for column in zip(*statements, strict=True)],
        )
        outcomes.update((oid, _explain(outcome)) for oid, outcome in rows)
    return outcomes


def _statements(
    conn: psycopg.Connection, table: Table, parents: dict[int, int]
) -> tuple[str, str, str | None]:
    """The probe's count, INSERT and UPDATE statements for the table, as text."""
    target = sql.Identifier(table.schema, table.name)
    count = sql.SQL("SELECT count(*) FROM {}").format(target)
    insert = insert_query(table, _PROBE_START, 1, parents, skip_duplicates=False)
    column = next((c.name for c in table.columns if not c.automatic), None)
    update = None
    if column is not None:
        update = sql.SQL(
            "UPDATE {t} SET {c} = {c} WHERE ctid = (SELECT ctid FROM {t} ORDER BY ctid LIMIT 1)"
        ).format(t=target, c=sql.Identifier(column))
    return (
        count.as_string(conn),
        insert.as_string(conn),
        update.as_string(conn) if update else None,
    )


def _explain(outcome: str | None) -> str | None:
    if outcome is None:
        return None
    if outcome == "insert":
        return _SWALLOWED_INSERT
    if outcome == "update":
        return _SWALLOWED_UPDATE
    return f"a write fails: {outcome.removeprefix('error ')}"
