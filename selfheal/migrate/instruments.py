"""The guard's instruments in the scratch database: event triggers and removal triggers.

- `sql_drop` logs every object dropped, the ones a statement named and the ones CASCADE took;
- `ddl_command_start` logs each DROP command, so a DROP that dropped nothing here (an object
  only the live database has, also inside EXECUTE) is still seen;
- `ddl_command_end` logs which statement touched which object;
- statement-level BEFORE TRUNCATE / DELETE triggers on every table log data removal;
- `mark(n)`, run after a file's statement n, logs the end of the statement and the watched
  tables and sequences whose rows it changed, so a whole file runs in one round trip.
All are ENABLE ALWAYS: a migration that sets `session_replication_role = replica` does not
blind them (a migration that disables a table's triggers is caught by the row digest instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

SCHEMA = "selfheal_guard"

INSTALL = r"""
CREATE SCHEMA selfheal_guard;
CREATE TABLE selfheal_guard.log (
    id bigint GENERATED ALWAYS AS IDENTITY, kind text, object text, classid oid, objid oid,
    objsubid int, original boolean, relid oid
);
-- Names as pg_event_trigger_dropped_objects() spells them, whatever the search_path.
CREATE FUNCTION selfheal_guard.rel(oid) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1
$$;
CREATE FUNCTION selfheal_guard.fn(oid) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '('
         || array_to_string(ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t), ', ')
         || ')'
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = $1
$$;
CREATE FUNCTION selfheal_guard.on_drop() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO selfheal_guard.log (kind, object) VALUES ('drop-fired', tg_tag);
  INSERT INTO selfheal_guard.log (kind, object, classid, objid, objsubid, original)
  SELECT CASE WHEN is_temporary THEN 'temp-drop' ELSE 'drop' END,
         object_type || ' ' || object_identity, classid, objid, objsubid, original
  FROM pg_event_trigger_dropped_objects()
  WHERE (original OR normal)  -- a view's _RETURN rule is the view itself
    AND NOT (object_type = 'rule' AND object_name = '_RETURN');
END $$;
CREATE EVENT TRIGGER selfheal_guard_drop ON sql_drop EXECUTE FUNCTION selfheal_guard.on_drop();
ALTER EVENT TRIGGER selfheal_guard_drop ENABLE ALWAYS;
CREATE FUNCTION selfheal_guard.on_start() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  -- DROP INDEX CONCURRENTLY must be the first action of its transaction: it is literal anyway.
  -- (It runs alone, so its transaction started with it; a file's statements run in a block.)
  IF tg_tag LIKE 'DROP %' AND NOT (statement_timestamp() = transaction_timestamp()
                                   AND current_query() ~* '\mconcurrently\M') THEN
    INSERT INTO selfheal_guard.log (kind, object) VALUES ('drop-start', tg_tag);
  END IF;
END $$;
CREATE EVENT TRIGGER selfheal_guard_start ON ddl_command_start
  EXECUTE FUNCTION selfheal_guard.on_start();
ALTER EVENT TRIGGER selfheal_guard_start ENABLE ALWAYS;
CREATE FUNCTION selfheal_guard.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO selfheal_guard.log (kind, object, classid, objid, objsubid, relid)
  SELECT 'ddl', command_tag, classid, objid, 0,
         CASE classid WHEN 'pg_class'::regclass THEN objid
           WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = objid)
           WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = objid)
           WHEN 'pg_constraint'::regclass THEN (SELECT conrelid FROM pg_constraint WHERE oid = objid)
           WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = objid)
           WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = objid)
         END
  FROM pg_event_trigger_ddl_commands();
END $$;
CREATE EVENT TRIGGER selfheal_guard_ddl ON ddl_command_end EXECUTE FUNCTION selfheal_guard.on_ddl();
ALTER EVENT TRIGGER selfheal_guard_ddl ENABLE ALWAYS;
-- Per table: rows updated or deleted so far in this transaction, and its file node (a TRUNCATE
-- or a rewrite changes it); per sequence: its last value and file node.
CREATE FUNCTION selfheal_guard.states(rels oid[]) RETURNS TABLE (rel oid, state text)
LANGUAGE sql STABLE AS $$
  SELECT o, CASE WHEN c.relkind = 'S'
    THEN concat_ws(' ', pg_sequence_last_value(o), pg_relation_filenode(o))
    ELSE concat_ws(' ', pg_stat_get_xact_tuples_updated(o) + pg_stat_get_xact_tuples_deleted(o),
                   pg_relation_filenode(o)) END
  FROM unnest(rels) o LEFT JOIN pg_class c ON c.oid = o
$$;
-- The states of the given tables and of every sequence.
CREATE FUNCTION selfheal_guard.activity_of(tables oid[]) RETURNS TABLE (rel oid, state text)
LANGUAGE sql STABLE AS $$
  SELECT * FROM selfheal_guard.states(tables || ARRAY(
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'S' AND n.nspname <> 'selfheal_guard'))
$$;
-- Marks between a file's statements, run in one round trip: `start_marks` records the state of
-- the watched tables and of the sequences that exist (the ones a file creates are not judged),
-- each `mark(n)` logs that statement n ended and which states it changed.
CREATE TABLE selfheal_guard.activity (rel oid PRIMARY KEY, state text);
CREATE FUNCTION selfheal_guard.start_marks(tables oid[]) RETURNS void LANGUAGE sql AS $$
  DELETE FROM selfheal_guard.activity;
  INSERT INTO selfheal_guard.activity SELECT * FROM selfheal_guard.activity_of(tables);
$$;
-- PL/pgSQL keeps its plans across calls: a mark runs after every statement.
CREATE FUNCTION selfheal_guard.mark(statement int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO selfheal_guard.log (kind, object) VALUES ('mark', statement::text);
  WITH changed AS (
    UPDATE selfheal_guard.activity a SET state = s.state
    FROM selfheal_guard.states(ARRAY(SELECT rel FROM selfheal_guard.activity)) s
    WHERE s.rel = a.rel AND s.state IS DISTINCT FROM a.state
    RETURNING a.rel
  )
  INSERT INTO selfheal_guard.log (kind, object, classid, objid)
  SELECT 'activity', statement::text, 'pg_class'::regclass, rel FROM changed;
END $$;
-- Each statement in a subtransaction of its own, in order: the error of each that failed.
CREATE FUNCTION selfheal_guard.run_each(statements text[])
RETURNS TABLE (n int, error text) LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. coalesce(array_length(statements, 1), 0) LOOP
    n := i;
    error := NULL;
    BEGIN
      EXECUTE statements[i];
    EXCEPTION WHEN OTHERS THEN
      error := SQLERRM;
    END;
    RETURN NEXT;
  END LOOP;
END $$;
CREATE FUNCTION selfheal_guard.on_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO selfheal_guard.log (kind, object, classid, objid)
  VALUES (lower(TG_OP), 'table ' || quote_ident(TG_TABLE_SCHEMA) || '.' || quote_ident(TG_TABLE_NAME),
          'pg_class'::regclass, TG_RELID);
  RETURN NULL;
END $$;
"""

_ARM = """
CREATE TRIGGER selfheal_guard_remove BEFORE DELETE OR TRUNCATE ON {table}
  FOR EACH STATEMENT EXECUTE FUNCTION selfheal_guard.on_remove();
ALTER TABLE {table} ENABLE ALWAYS TRIGGER selfheal_guard_remove;
"""

_UNARMED = """
SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'selfheal_guard', 'pg_toast')
  AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid
                  AND t.tgname = 'selfheal_guard_remove')
"""
_EVENT_TRIGGERS = ("selfheal_guard_drop", "selfheal_guard_start", "selfheal_guard_ddl")


def arm_removal_triggers(conn: psycopg.Connection) -> None:
    """A statement-level TRUNCATE and DELETE trigger on every table that lacks one, in one
    transaction during which the event triggers are off (the guard's own DDL is not logged)."""
    tables = conn.execute(_UNARMED).fetchall()
    if not tables:
        return
    toggle = sql.SQL("ALTER EVENT TRIGGER {} {}")
    with conn.transaction():
        statements = [toggle.format(sql.Identifier(t), sql.SQL("DISABLE")) for t in _EVENT_TRIGGERS]
        statements += [sql.SQL(_ARM).format(table=sql.Identifier(s, t)) for _, s, t in tables]
        statements += [
            toggle.format(sql.Identifier(t), sql.SQL("ENABLE ALWAYS")) for t in _EVENT_TRIGGERS
        ]
        conn.execute(sql.SQL(";\n").join(statements))


@dataclass(frozen=True)
class LogEntry:
    kind: str  # drop, temp-drop, drop-fired, drop-start, ddl, truncate, delete, mark, activity
    object: str
    key: tuple[int, int, int] | None  # (catalog, oid, sub-id) of the object
    original: bool | None = None  # for drops: named by the statement (else taken by CASCADE)
    relid: int | None = None  # for DDL: the table the touched object belongs to


class Log:
    """Reads the instruments' log incrementally: each read returns what is new."""

    def __init__(self) -> None:
        self.last_id = 0

    def read(self, conn: psycopg.Connection) -> list[LogEntry]:
        rows = conn.execute(
            "SELECT id, kind, object, classid, objid, objsubid, original, relid FROM selfheal_guard.log "
            "WHERE id > %s ORDER BY id",
            (self.last_id,),
        ).fetchall()
        if rows:
            self.last_id = rows[-1][0]
        return [
            LogEntry(r[1], r[2], (r[3], r[4], r[5] or 0) if r[3] is not None else None, r[6], r[7])
            for r in rows
        ]
