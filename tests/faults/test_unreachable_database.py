"""Fault: the database does not answer. Preflight fails; later stages are reported as not run,
but the doctor's, which says which variable to check; one ticket names the problem; the doctor has
no remedy; the next clean run resolves it."""

from __future__ import annotations

import port_for
from psycopg.conninfo import make_conninfo

from tests.faults.accounting import fate_of, record

STAGES = "preflight or migrations or doctor"


def test_unreachable_database(pipeline, migrated_db: str, request) -> None:
    dead = make_conninfo(migrated_db, port=port_for.select_random(), password="pw-hunter2")

    done = pipeline.run(dead, "-m", STAGES)
    assert done.returncode == 1
    summary = pipeline.summary()
    assert "| migrations | 0 | 0 | 0 | 0 | 1 |" in summary  # not run, not passed
    assert "| doctor | 1 | 0 | 0 | 0 | 0 |" in summary, summary
    tickets = pipeline.tickets("open")
    reachable = [t for t in tickets if t.node_id.endswith("test_database_reachable")]
    assert len(reachable) == 1 and "unreachable" in reachable[0].message
    broken_fixture = [t for t in tickets if t.kind == "DatabaseUnreachable"]
    assert len(broken_fixture) == 1  # every check needing the session: one problem

    doctor = pipeline.doctor(dead, "--heal")
    tickets = pipeline.tickets()
    ticket = next((t for t in tickets if t.node_id.endswith("test_database_reachable")), None)
    record(request, fate_of("the database does not answer", ticket))
    assert "check SUPABASE_DB_URL" in doctor.stdout and doctor.returncode == 0
    assert "no remedy" not in doctor.stdout  # one hint, not a line per problem
    assert "pw-hunter2" not in pipeline.produced_text() + doctor.stdout + doctor.stderr

    assert pipeline.run(migrated_db, "-m", STAGES).returncode == 0
    assert pipeline.tickets("open") == []
    assert {t.status for t in pipeline.tickets()} == {"resolved"}
