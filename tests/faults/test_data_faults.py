"""The fault catalog's data faults, in one story on one database loaded by the ETL:

- a deleted day of `daily_metrics` (freshness and row counts still pass): the completeness check
  finds it, the doctor recomputes exactly that day;
- orphan rows written under `session_replication_role = replica` (the foreign key never fired):
  the references rule scans anyway; deleting rows is a person's decision;
- a dropped CHECK constraint plus a row that violates it: the constraint comes back NOT VALID
  (new rows are guarded at once: its ticket is healed), its validation fails, and the rows that
  violate it are a ticket of their own, with samples, left to a person;
- a column widened and given a value that does not fit back: the type is not narrowed (the
  guard counts the values that would change), the column is left to a person.

Then three more heals (`selfheal doctor --heal`): what failed twice is left alone, so no heal
loops; no row the heal found is lost.
"""

from __future__ import annotations

import psycopg
import pytest

from etl.fake import serve_all
from selfheal.run.tickets import Ticket
from tests.faults.accounting import (
    Aftermath,
    RowDigest,
    exposures_left,
    fate_of,
    record,
    stranded_rows,
)
from tests.faults.conftest import Pipeline

STAGES = "schema or dq or doctor"  # the RLS probes run in the catalog story

FAULTS = {
    "deleted day of daily_metrics": (
        "DELETE FROM public.daily_metrics "
        "WHERE metric_date = (SELECT max(metric_date) - 1 FROM public.daily_metrics)",
        "test_dq[daily_metrics.sql.complete]",
    ),
    "orphan rows written as a replica": (
        "SET session_replication_role = replica; "
        "INSERT INTO public.etl_quarantine (run_id, source, raw_payload, reason) "
        "VALUES (999999, 'source_a', '{}', 'orphan'); "
        "RESET session_replication_role",
        "test_dq[etl_quarantine.references.run_id]",
    ),
    "dropped CHECK constraint plus a violating row": (
        "ALTER TABLE public.etl_runs DROP CONSTRAINT etl_runs_status_check; "
        "INSERT INTO public.etl_runs (source, status) VALUES ('source_a', 'paused')",
        "test_constraint[public.etl_runs.etl_runs_status_check]",
    ),
    "widened column holding a value that does not fit back": (
        "ALTER TABLE public.ads_source_a ALTER COLUMN currency TYPE text; "
        "UPDATE public.ads_source_a SET currency = 'EURO' "
        "WHERE ctid = (SELECT min(ctid) FROM public.ads_source_a)",
        "test_column[public.ads_source_a.currency]",
    ),
}
# The violating row is also a data-quality failure of its own (etl_runs.status accepted values).
EXPECTED_TICKETS = len(FAULTS) + 1


def _ticket(tickets: list[Ticket], fragment: str) -> Ticket | None:
    return next((t for t in tickets if fragment in t.node_id), None)


def _failed_heals(tickets: list[Ticket]) -> int:
    return sum(t.failed_heals for t in tickets)


def test_data_faults(pipeline: Pipeline, migrated_db: str, request: pytest.FixtureRequest) -> None:
    with serve_all(seed=11) as sources:
        pipeline.use_sources(sources)
        pipeline.load_then_break(migrated_db, [statement for statement, _ in FAULTS.values()])

        detected = pipeline.run(migrated_db, "-m", STAGES)
        assert detected.returncode == 1
        opened = pipeline.tickets("open")
        rows = RowDigest.of(migrated_db)
        healed = pipeline.run(migrated_db, "-m", STAGES, "--heal")
        # Three more heals of what is still failing (`selfheal doctor --heal` reads the last run).
        further = [pipeline.doctor(migrated_db, "--heal") for _ in range(2)]
        failed_before_last = _failed_heals(pipeline.tickets())
        further.append(pipeline.doctor(migrated_db, "--heal"))
        tickets = pipeline.tickets()

    for name, (_, fragment) in FAULTS.items():
        record(request, fate_of(name, _ticket(tickets, fragment)))
    aftermath = Aftermath(
        "data",
        duplicate_tickets=max(len(opened) - EXPECTED_TICKETS, 0),
        exposures_left=len(exposures_left(migrated_db)),
        rows_lost=sum(rows.lost_in(migrated_db).values()),
        rows_stranded=sum(stranded_rows(migrated_db).values()),
    )
    record(request, aftermath)

    assert healed.returncode == 1  # what is left to a person still fails
    assert aftermath == Aftermath("data", 0, 0, 0, 0), [(t.node_id, t.code) for t in opened]
    completeness = _ticket(tickets, "test_dq[daily_metrics.sql.complete]")
    assert completeness.status == "resolved" and "re-check: passed" in completeness.heals[-1].detail
    restored, violated = (
        next(
            t
            for t in tickets
            if t.object == "public.etl_runs.etl_runs_status_check" and t.code == code
        )
        for code in ("schema.missing", "schema.constraint_validated")
    )
    assert restored.status == "resolved", restored.heals
    assert "passed for this problem" in restored.heals[-1].detail
    assert violated.status == "open" and violated.heals[-1].outcome == "no remedy"
    assert [row["status"] for row in violated.sample_rows] == ["paused"]
    assert "1 row(s) violate it" in violated.message and "fix or delete" in violated.remediation
    widened = _ticket(tickets, "public.ads_source_a.currency")
    assert "would change 1 value(s)" in "".join(h.detail for h in widened.heals)
    with psycopg.connect(migrated_db) as conn:  # the constraint guards new rows meanwhile
        definition = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'etl_runs_status_check'"
        ).fetchone()
    assert definition and definition[0].endswith("NOT VALID")
    # No heal loops: the last further run tried nothing that fails (failed twice: a person's).
    assert further[-1].returncode == 0 and "needs a person" in further[-1].stdout
    assert _failed_heals(tickets) == failed_before_last
