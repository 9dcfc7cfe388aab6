"""The guard: PostgreSQL itself judges what each migration does, in a scratch database.

The migrations are applied in order to a scratch database of the embedded server (never the live
one). Before each file every table holds deterministic sample rows (`seeding`), and the guard
knows each table's content digest (`digest`), what each role can do (`access`) and the catalog
(`catalog_changes`). The file then runs statement by statement in one transaction while the
instruments (`instruments`) log drops (also by CASCADE and inside EXECUTE), DDL and
TRUNCATE/DELETE, and per-statement table activity tells which statement touched which rows.
After the last statement, still inside the transaction, the guard compares: rows gone or
rewritten, writes that no longer land (`probes`), access widened or lost, objects renamed,
narrowed, loosened or made less secure. Then the file is applied a second time: it must succeed
and change nothing. Objects the migrations create are judged once all files ran: a table anon
can reach without row level security is an exposure.

Each finding carries the file, the line of the statement that caused it, its kind and object,
and the waiver comment that would allow it (see `waivers`). A transactional file that ends its
transaction or changes the session is refused before it runs.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace

import psycopg
from psycopg import sql

from selfheal.core.db import connect, create_database, drop_database, scratch_database
from selfheal.core.shim import apply_shim
from selfheal.core.text import first_line
from selfheal.migrate import (
    access,
    catalog_changes,
    digest,
    idempotency,
    instruments,
    probes,
    seeding,
)
from selfheal.migrate.catalog_changes import DbObject, Key, is_widening
from selfheal.migrate.created import CreatedObject, created_objects
from selfheal.migrate.files import MigrationFile
from selfheal.migrate.findings import KINDS, Finding, GuardReport
from selfheal.migrate.instruments import LogEntry
from selfheal.migrate.statements import Statement, atomicity_problems, split_statements
from selfheal.migrate.waivers import apply_waivers

__all__ = [
    "KINDS",
    "Baseline",
    "Finding",
    "GuardReport",
    "check_migrations",
    "guard_baseline",
    "is_widening",
]

# Dropping these is not destruction of anything a migration owns.
_IGNORED_DROP_TYPES = {"default value"}
_ABSENT_DROP = (
    "DROP of an object the migrations do not create here; on a live database it would be dropped"
)
_ALTER_DROPS = re.compile(r"\bDROP\s+(COLUMN|CONSTRAINT)\b", re.IGNORECASE)
_DYNAMIC_DROP = re.compile(
    r"\bDROP\s+(?:MATERIALIZED\s+VIEW|FOREIGN\s+TABLE|[A-Z]+)\s+(?:IF\s+EXISTS\s+)?"
    r"(?!IF\s)((?:\"[^\"]+\"|[A-Za-z_][\w$]*)(?:\.(?:\"[^\"]+\"|[A-Za-z_][\w$]*))?)",
    re.IGNORECASE,
)
_SESSION = "SELECT name, setting FROM pg_settings WHERE source = 'session'"


class _Refused(Exception):
    """The file cannot be judged further (does not apply, or is not atomic)."""

    def __init__(self, findings: list[Finding]):
        super().__init__("; ".join(map(str, findings)))
        self.findings = findings


@dataclass
class _Scratch:
    """What the guard knows about the scratch database between files."""

    conn: psycopg.Connection | None
    rows_per_table: int
    log: instruments.Log = field(default_factory=instruments.Log)
    digests: dict[int, digest.TableDigest] = field(default_factory=dict)
    row_counts: dict[int, int] = field(default_factory=dict)
    writable: dict[int, bool] = field(default_factory=dict)
    seen_tables: list[int] = field(default_factory=list)
    new_objects: list[tuple[int, str, int | None]] = field(default_factory=list)
    created: dict[str, list[CreatedObject]] = field(default_factory=dict)  # by migration
    notes: list[tuple[str, str]] = field(default_factory=list)  # (migration, note)
    # The catalog and the access snapshot as the last file left them (None: read them anew).
    objects: dict[Key, DbObject] | None = None
    grants: set[access.Grant] | None = None

    @classmethod
    def start(cls, conn: psycopg.Connection, rows_per_table: int) -> _Scratch:
        """A fresh scratch database: the Supabase shim and the instruments."""
        apply_shim(conn)
        conn.execute(instruments.INSTALL)
        conn.execute(probes.INSTALL)
        return cls(conn, rows_per_table)

    def prepare(self, migration: str) -> None:
        """Seed the tables created since the last file; digest them and probe their writes."""
        conn = self.conn
        result = seeding.seed(conn, self.seen_tables, self.row_counts, self.rows_per_table)
        self.seen_tables += list(result.tables)
        self.notes += [
            (
                migration,
                f"{label}: not seeded before {migration}: {reason}; what this and later "
                "files do to its rows is not judged",
            )
            for label, reason in result.problems
        ]
        fresh = digest.take(conn, list(result.tables))
        self.row_counts.update((oid, found.row_count) for oid, found in fresh.items())
        seeded = {oid: t for oid, t in result.tables.items() if self.row_counts.get(oid)}
        self.digests.update((oid, fresh[oid]) for oid in seeded)
        with conn.transaction():
            outcomes = probes.probe(conn, seeded, self.row_counts)
        self.writable.update((oid, outcome is None) for oid, outcome in outcomes.items())
        instruments.arm_removal_triggers(conn)
        self.log.read(conn)  # the guard's own DDL is not the file's

    def forget_rows(self, oid: int) -> list[int]:
        """Empty a table of its sample rows, and the tables whose rows reference them (TRUNCATE
        CASCADE); they are seeded again before the next file. Returns the tables emptied."""
        conn = self.conn
        schema, table = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s",
            (oid,),
        ).fetchone()
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(schema, table)))
        self.log.read(conn)  # the guard's own removal is not the file's
        counts = seeding.row_counts(conn, list(self.digests))
        emptied = [o for o, count in counts.items() if count == 0]
        for known in emptied:
            self.digests.pop(known, None)
            self.writable.pop(known, None)
            self.row_counts[known] = 0
            self.seen_tables.remove(known)
        return emptied

    def activity(self) -> dict[int, str]:
        """Per digested table and per sequence: a state that changes when its rows do."""
        query = "SELECT rel, state FROM selfheal_guard.activity_of(%s::oid[])"
        return dict(self.conn.execute(query, (list(self.digests),)).fetchall())


@dataclass
class _Run:
    """What one application of a file did, statement by statement."""

    migration: MigrationFile
    findings: list[Finding] = field(default_factory=list)
    touched_at: dict[int, int] = field(default_factory=dict)  # object or table oid -> line
    data_at: dict[int, int] = field(default_factory=dict)  # table oid -> line that changed rows
    removals: list[tuple[int, Finding]] = field(default_factory=list)  # table, TRUNCATE/DELETE
    statements: list[Statement] = field(default_factory=list)
    grant_lines: list[int] = field(default_factory=list)  # GRANT / REVOKE / default privileges
    shared_code_changed: bool = False  # a function or type changed: any table's writes may fail

    def finding(self, kind: str, obj: str, detail: str, line: int | None) -> None:
        self.findings.append(Finding(self.migration.filename, kind, obj, detail, line))

    def line_mentioning(self, word: str) -> int | None:
        """The last statement whose text names `word` (case-insensitive)."""
        lowered = word.lower()
        found = [s.line for s in self.statements if lowered in s.text.lower()]
        return found[-1] if found else None


def check_migrations(
    admin_dsn: str,
    migrations: list[MigrationFile],
    *,
    rows_per_table: int = seeding.ROWS,
    baseline: Baseline | None = None,
) -> GuardReport:
    """Run the guard in a scratch database created through `admin_dsn` (a superuser DSN).

    With a `baseline`, the files are guarded as the continuation of the files it guarded.
    """
    template = baseline.database if baseline else None
    with (
        scratch_database(admin_dsn, "guard", template) as dsn,
        connect(dsn, autocommit=True) as conn,
    ):
        scratch = baseline.resume(conn) if baseline else _Scratch.start(conn, rows_per_table)
        return _guard_files(scratch, migrations)


@dataclass
class Baseline:
    """The scratch database after some files were guarded, to guard continuations from."""

    database: str
    report: GuardReport
    scratch: _Scratch  # its connection is closed: the database serves as a template

    def resume(self, conn: psycopg.Connection) -> _Scratch:
        scratch = copy.deepcopy(replace(self.scratch, conn=None))
        scratch.conn, scratch.new_objects, scratch.notes, scratch.created = conn, [], [], {}
        return scratch


@contextmanager
def guard_baseline(
    admin_dsn: str, migrations: list[MigrationFile], *, rows_per_table: int = seeding.ROWS
) -> Iterator[Baseline]:
    """Guard `migrations` once and keep the result to guard many continuations from."""
    name = f"guard_base_{uuid.uuid4().hex[:12]}"
    dsn = create_database(admin_dsn, name)
    try:
        with connect(dsn, autocommit=True) as conn:
            scratch = _Scratch.start(conn, rows_per_table)
            report = _guard_files(scratch, migrations)
        yield Baseline(name, report, scratch)
    finally:
        drop_database(admin_dsn, name)


def _guard_files(scratch: _Scratch, migrations: list[MigrationFile]) -> GuardReport:
    report = GuardReport(migrations=[m.filename for m in migrations])
    for index, migration in enumerate(migrations):
        started = time.perf_counter()
        try:
            findings = _check_file(scratch, migration)
            report.seconds[migration.filename] = time.perf_counter() - started
        except _Refused as refusal:
            report.findings.extend(refusal.findings)
            report.unchecked = [m.filename for m in migrations[index + 1 :]]
            break
        report.findings.extend(apply_waivers(migration.sql, findings))
    else:
        judged = {f.object for f in report.findings if f.kind == "exposure"}
        found = _exposed_new_objects(scratch, migrations)
        report.findings.extend(f for f in found if f.object not in judged)
    report.created = scratch.created
    for migration, note in scratch.notes:
        report.notes.append(note)
        report.file_notes.setdefault(migration, []).append(note)
    return report


def _check_file(scratch: _Scratch, migration: MigrationFile) -> list[Finding]:
    name = migration.filename
    problems = atomicity_problems(migration.sql, migration.in_transaction)
    if problems:
        raise _Refused([Finding(name, "not-atomic", name, why, line) for line, why in problems])
    scratch.prepare(name)
    conn = scratch.conn
    # The catalog and access as the previous file left them, else read now.
    before = scratch.objects if scratch.objects is not None else catalog_changes.objects(conn)
    grants = scratch.grants if scratch.grants is not None else access.snapshot(conn)
    sequences = catalog_changes.sequence_positions(conn)
    session = conn.execute(_SESSION).fetchall()
    run = _Run(migration)
    with conn.transaction() if migration.in_transaction else nullcontext():
        _apply_statements(scratch, run, before)
        after = catalog_changes.objects(conn)
        _judge_catalog(conn, run, before, after, sequences)
        scratch.grants = access.snapshot(conn)
        _judge_access(run, grants, scratch.grants, before.keys() & after.keys())
        _judge_rows(scratch, run)
        _judge_writes(scratch, run)
        _note_new_objects(scratch, run, before, after)
    if migration.in_transaction:
        _judge_session(conn, run, session)
    else:
        conn.execute("RESET ALL")  # as the runner does after a no-transaction file
    again = _reapply(scratch, migration, after)
    if again:
        scratch.grants = None  # the second run changed something: read access anew
    return run.findings + again


def _apply_statements(scratch: _Scratch, run: _Run, before: dict) -> None:
    """Run the file's statements, logging what each one did.

    A transactional file runs in one round trip, with a mark after each statement; when one
    of its statements fails, the file runs again one statement at a time to find which.
    """
    statements = split_statements(run.migration.sql)
    catalogs = {key[0] for key in before}
    if run.migration.in_transaction:
        try:
            with scratch.conn.transaction():
                done = _run_at_once(scratch, statements)
        except psycopg.Error:
            done = None
        if done is not None:
            for statement, (entries, changed) in zip(statements, done, strict=True):
                run.statements.append(statement)
                _read_entries(run, statement, entries, before, catalogs)
                run.data_at.update((oid, statement.line) for oid in changed)
            return
    _run_one_by_one(scratch, run, statements, before, catalogs)


def _run_at_once(
    scratch: _Scratch, statements: list[Statement]
) -> list[tuple[list[LogEntry], list[int]]]:
    """Per statement: its log entries and the watched tables and sequences whose rows it changed."""
    conn = scratch.conn
    start = sql.SQL("SELECT selfheal_guard.start_marks({}::oid[])")
    parts = [start.format(sql.Literal(list(scratch.digests))).as_string(conn)]
    for number, statement in enumerate(statements, 1):
        parts.append(statement.text)
        parts.append(
            sql.SQL("SELECT selfheal_guard.mark({})").format(sql.Literal(number)).as_string(conn)
        )
    conn.execute("\n;\n".join(parts))
    done: list[tuple[list[LogEntry], list[int]]] = [([], []) for _ in statements]
    entries: list[LogEntry] = []
    for entry in scratch.log.read(conn):
        if entry.kind == "mark":
            done[int(entry.object) - 1][0].extend(entries)
            entries = []
        elif entry.kind == "activity":
            done[int(entry.object) - 1][1].append(entry.key[1])
        else:
            entries.append(entry)
    return done


def _run_one_by_one(
    scratch: _Scratch, run: _Run, statements: list[Statement], before: dict, catalogs: set[int]
) -> None:
    conn = scratch.conn
    in_transaction = run.migration.in_transaction
    activity = scratch.activity() if in_transaction else {}
    for statement in statements:
        run.statements.append(statement)
        try:
            _execute(scratch, run, statement)
        except psycopg.Error as error:
            raise _Refused([_error_finding(run.migration, statement, error)]) from None
        entries = scratch.log.read(conn)
        _read_entries(run, statement, entries, before, catalogs)
        if in_transaction:
            now = scratch.activity()
            for oid, state in now.items():
                if state != activity.get(oid):
                    run.data_at[oid] = statement.line
            activity = now


def _execute(scratch: _Scratch, run: _Run, statement: Statement) -> None:
    """Run one statement; when only the sample rows are in its way, remove them and retry.

    A new CHECK, unique index, foreign key or type change can fail on the guard's sample rows
    where live rows may be fine: the rows of the table the error names (or the statement
    names) are removed, noted, re-seeded before the next file, and the statement runs again.
    A NOT NULL column without a default fails on any table with rows: that stays an error.
    """
    conn = scratch.conn
    if not run.migration.in_transaction:
        conn.execute(statement.text)
        return
    try:
        with conn.transaction():
            conn.execute(statement.text)
        return
    except psycopg.Error as error:
        state = error.sqlstate or ""
        in_the_way = _tables_in_the_way(scratch, statement, error)
        if state[:2] not in ("22", "23") or state == "23502" or not in_the_way:
            raise
        reason = first_line(error)
    for oid, label in in_the_way:
        scratch.forget_rows(oid)
        scratch.notes.append(
            (
                run.migration.filename,
                f"{run.migration.filename}:{statement.line}: the sample rows of {label} are in the "
                f"way ({reason}); removed to go on: live rows like them would fail the same way",
            )
        )
    conn.execute(statement.text)


def _tables_in_the_way(
    scratch: _Scratch, statement: Statement, error: psycopg.Error
) -> list[tuple[int, str]]:
    """(oid, name) of the seeded tables the error names, else those the statement names."""
    rows = scratch.conn.execute(
        "SELECT c.oid, selfheal_guard.rel(c.oid), n.nspname, c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY(%s)",
        (list(scratch.digests),),
    ).fetchall()
    named = [
        (oid, label)
        for oid, label, schema, table in rows
        if (schema, table) == (error.diag.schema_name, error.diag.table_name)
    ]
    text = statement.text.lower()
    return named or [(oid, label) for oid, label, _, table in rows if table.lower() in text]


def _error_finding(migration: MigrationFile, statement: Statement, error: psycopg.Error) -> Finding:
    reason = first_line(error)
    if error.sqlstate and error.sqlstate[:2] in ("22", "23"):
        reason += " (the guard's tables hold sample rows: a live table with rows fails too)"
    return Finding(
        migration.filename, "error", migration.filename, f"does not apply: {reason}", statement.line
    )


def _read_entries(
    run: _Run, statement: Statement, entries: list[LogEntry], before: dict, catalogs: set[int]
) -> None:
    line = statement.line
    dropped = False
    for entry in entries:
        if entry.kind == "ddl" and entry.object in ("GRANT", "REVOKE", "ALTER DEFAULT PRIVILEGES"):
            run.grant_lines.append(line)
        if entry.kind == "ddl" and entry.key:
            run.touched_at[entry.key[1]] = line
            if entry.key[0] in (catalog_changes.PG_PROC, catalog_changes.PG_TYPE):
                run.shared_code_changed = True
            if entry.relid:
                run.touched_at[entry.relid] = line
        elif entry.kind in ("drop", "temp-drop"):
            dropped = True
            if entry.kind == "drop" and _destroyed_existing(entry, before, catalogs):
                how = "dropped" if entry.original else "dropped by CASCADE"
                run.finding("drop", entry.object, f"{how} by the migration", line)
        elif entry.kind in ("truncate", "delete") and entry.key:
            detail = f"{entry.kind} by the migration"
            finding = Finding(run.migration.filename, entry.kind, entry.object, detail, line)
            run.removals.append((entry.key[1], finding))
    _absent_drops(run, statement, entries, dropped)


def _absent_drops(run: _Run, statement: Statement, entries: list[LogEntry], dropped: bool) -> None:
    """DROPs that dropped nothing here: on a live database the object may exist."""
    literal = statement.words[:1] == ("DROP",) or (
        statement.words[:1] == ("ALTER",) and _ALTER_DROPS.search(statement.text)
    )
    if literal:
        if not dropped:
            target = " ".join(statement.text.split())[5:80]
            run.finding("drop", target, _ABSENT_DROP, statement.line)
        return
    started = [e.object for e in entries if e.kind == "drop-start"]
    fired = sum(e.kind == "drop-fired" for e in entries)
    if len(started) > fired:
        names = _DYNAMIC_DROP.findall(statement.text) or [f"{started[-1]} in dynamic SQL"]
        for target in names:
            run.finding(
                "drop",
                target,
                "DROP inside dynamic SQL of an object that does not "
                "exist here; on a live database it would be dropped",
                statement.line,
            )


def _destroyed_existing(entry: LogEntry, before: dict, snapshot_catalogs: set[int]) -> bool:
    """Whether a logged drop hit something that existed before the file ran."""
    if entry.object.split(" ", 1)[0] in _IGNORED_DROP_TYPES:
        return False
    if entry.key is None or entry.key[0] not in snapshot_catalogs:
        return True  # a kind of object we do not snapshot: assume it existed
    return entry.key in before


def _judge_catalog(
    conn: psycopg.Connection, run: _Run, before: dict, after: dict, sequences: dict
) -> None:
    for key, kind, obj, detail in catalog_changes.changes(before, after):
        line = run.touched_at.get(key[1]) or run.line_mentioning(before[key].own_name)
        run.finding(kind, obj, detail, line)
    now = catalog_changes.sequence_positions(conn)
    for oid, obj, detail in catalog_changes.lowered_sequences(sequences, now):
        line = run.data_at.get(oid) or run.touched_at.get(oid)
        run.finding("loosen", obj, detail, line or run.line_mentioning(obj.split(".")[-1]))


def _judge_access(run: _Run, before: set, after: set, kept: set) -> None:
    for change in access.compare(before, after, {key[1] for key in kept}):
        lines = [run.touched_at[oid] for oid in change.oids if oid in run.touched_at]
        named = [line for line in run.grant_lines if change.words.lower() in _text_at(run, line)]
        line = max(lines or named or run.grant_lines or [0]) or run.line_mentioning(change.words)
        run.finding(change.kind, change.object, change.detail, line)


def _text_at(run: _Run, line: int) -> str:
    return " ".join(s.text.lower() for s in run.statements if s.line == line)


def _judge_rows(scratch: _Scratch, run: _Run) -> None:
    """Compare the digest of every table whose rows may have changed; fold removals in."""
    conn = scratch.conn
    moved = set(run.data_at) if run.migration.in_transaction else set(scratch.digests)
    suspects = moved & set(scratch.digests)
    lost: set[int] = set()
    current = digest.take(conn, sorted(suspects))
    for oid in sorted(suspects):
        now = current.get(oid)
        if now is None:
            scratch.digests.pop(oid, None)
            continue  # dropped: reported as a drop
        for change in digest.compare(scratch.digests[oid], now):
            line = run.data_at.get(oid) or run.touched_at.get(oid)
            line = line or run.line_mentioning(change.table.split(".")[-1])
            run.finding(change.kind, f"table {change.table}", change.detail, line)
            lost.add(oid)
        scratch.digests[oid] = now
        scratch.row_counts[oid] = now.row_count
    # A TRUNCATE or DELETE whose rows the digest saw go (on the table or its partitions) is
    # reported once, as the data-loss; one that removed no sample row stays a finding.
    covered = lost | {
        row[0]
        for row in conn.execute(
            "SELECT a::oid FROM unnest(%s::oid[]) o, pg_partition_ancestors(o) a", (list(lost),)
        )
    }
    run.findings += [f for table, f in run.removals if table not in covered]


def _judge_writes(scratch: _Scratch, run: _Run) -> None:
    """Writes that landed before must still land, in every table the file's DDL could affect.

    That is each table the DDL touched (its triggers, rules, constraints, columns), and every
    table when the file replaced a function or a type that writes may depend on.
    """
    if not run.touched_at:
        return
    conn = scratch.conn
    writable = [oid for oid, ok in scratch.writable.items() if ok and oid in scratch.digests]
    oids = writable if run.shared_code_changed else [o for o in writable if o in run.touched_at]
    if not oids:
        return
    tables = seeding.read_tables(conn, [], oids)
    with conn.transaction() if not run.migration.in_transaction else nullcontext():
        outcomes = probes.probe(conn, tables, scratch.row_counts)
    for oid, failure in outcomes.items():
        if failure:
            scratch.writable[oid] = False
            line = run.touched_at.get(oid) or max(run.touched_at.values())
            run.finding("writes-blocked", f"table {tables[oid].label}", failure, line)


def _note_new_objects(scratch: _Scratch, run: _Run, before: dict, after: dict) -> None:
    """What the file created: relations and functions are judged for exposure once every file
    ran; preflight looks for all of it on the target when the file is not in its ledger."""
    new = after.keys() - before.keys()
    scratch.created[run.migration.filename] = created_objects(scratch.conn, new)
    for key in new:
        if key[0] in (catalog_changes.PG_CLASS, catalog_changes.PG_PROC) and key[2] == 0:
            scratch.new_objects.append((key[1], run.migration.filename, run.touched_at.get(key[1])))


def _exposed_new_objects(scratch: _Scratch, migrations: list[MigrationFile]) -> list[Finding]:
    created = {oid: (name, line) for oid, name, line in scratch.new_objects}
    findings = defaultdict(list)
    for oid, obj, detail in access.exposed_new_objects(scratch.conn, list(created)):
        name, line = created[oid]
        findings[name].append(Finding(name, "exposure", obj, detail, line))
    by_name = {m.filename: m for m in migrations}
    return [f for name, found in findings.items() for f in apply_waivers(by_name[name].sql, found)]


def _judge_session(conn: psycopg.Connection, run: _Run, before: list) -> None:
    """A setting changed for the whole session (set_config(..., false)) outlives the file."""
    leaked = set(conn.execute(_SESSION).fetchall()) - set(before)
    for setting, value in sorted(leaked):
        line = run.line_mentioning(setting)
        detail = f"sets {setting} = {value} for the whole session; use SET LOCAL or is_local"
        run.finding("not-atomic", setting, detail, line)
    if leaked:
        conn.execute(
            "SELECT set_config(name, reset_val, false) FROM pg_settings WHERE source = 'session'"
        )


def _reapply(
    scratch: _Scratch, migration: MigrationFile, objects: dict[Key, DbObject]
) -> list[Finding]:
    """Apply the file again right away: it must succeed and change nothing.

    `objects` is the catalog after the first run; `scratch.objects` becomes the catalog after
    the second (None when a failing no-transaction file left it unknown).
    """
    conn = scratch.conn
    name = migration.filename
    scratch.objects = None
    try:
        if migration.in_transaction:
            with conn.transaction():
                start = idempotency.Counters.read(conn)
                counts = _run_again(scratch, migration.sql, start)
                written = start.catalog_written(conn)
                after = catalog_changes.objects(conn) if written else objects
        else:
            counts = _run_again_outside_a_transaction(scratch, migration.sql)
            after = catalog_changes.objects(conn)
    except psycopg.Error as error:
        if migration.in_transaction:
            scratch.objects = objects  # the second run rolled back whole
        detail = f"fails when applied a second time: {first_line(error)}"
        return [Finding(name, "not-idempotent", name, detail)]
    scratch.objects = after
    catalogs = {key[0] for key in objects}
    findings = [
        Finding(
            name,
            "not-idempotent",
            e.object,
            f"a second run does {e.kind} again",
            covered_by=_REMOVALS[e.kind],
        )
        for e in scratch.log.read(conn)
        if e.kind in _REMOVALS and _destroyed_existing(e, objects, catalogs)
    ]
    findings += [
        Finding(name, "not-idempotent", obj, detail)
        for obj, detail in idempotency.catalog_changes(objects, after)
    ]
    findings += [
        Finding(
            name, "not-idempotent", f"table {label}", f"a second run leaves {new} rows, not {old}"
        )
        for label, (old, new) in sorted(counts.items())
    ]
    return findings


# A removal the second run repeats is allowed by the waiver that allows the first run's.
_REMOVALS = {
    "drop": ("drop",),
    "truncate": ("truncate", "data-loss"),
    "delete": ("delete", "data-loss"),
}


class _Undo(Exception):
    """Rolls a savepoint back on purpose."""


def _run_again(
    scratch: _Scratch, text: str, start: idempotency.Counters
) -> dict[str, tuple[int, int]]:
    """Run a transactional file again; (rows before, rows after) of each table whose count it
    changed. Only when it inserted or deleted rows (since `start`) are they counted: before is
    read by rolling the run back to a savepoint, and the file then runs once more."""
    conn = scratch.conn
    activity = scratch.activity()
    moved: dict[int, str] = {}
    rows_before: dict[int, int] = {}
    rows_after: dict[int, int] = {}
    try:
        with conn.transaction():
            conn.execute(text)
            moved = start.moved_tables(conn)
            if moved:
                rows_after = seeding.row_counts(conn, list(moved))
                raise _Undo
    except _Undo:
        rows_before = seeding.row_counts(conn, list(moved))
        conn.execute(text)
    _refresh_digests(scratch, activity)
    return {
        label: (rows_before.get(oid, 0), rows_after[oid])
        for oid, label in moved.items()
        if rows_before.get(oid, 0) != rows_after[oid]
    }


def _run_again_outside_a_transaction(scratch: _Scratch, text: str) -> dict[str, tuple[int, int]]:
    """Run a no-transaction file again, statement by statement, counting every table's rows."""
    conn = scratch.conn
    tables = idempotency.all_tables(conn)
    rows_before = seeding.row_counts(conn, list(tables))
    for statement in split_statements(text):
        conn.execute(statement.text)
    conn.execute("RESET ALL")
    _refresh_digests(scratch, {})
    rows_after = seeding.row_counts(conn, list(tables))
    return {
        label: (rows_before[oid], rows_after.get(oid, 0))
        for oid, label in tables.items()
        if rows_before[oid] != rows_after.get(oid, 0)
    }


def _refresh_digests(scratch: _Scratch, activity: dict[int, str]) -> None:
    """Keep the digests true after the second run (which is judged by its fingerprint)."""
    now = scratch.activity()
    changed = [o for o in now if now[o] != activity.get(o) and o in scratch.digests]
    scratch.digests.update(digest.take(scratch.conn, changed))
