"""The fault catalog: inject a fault into a migrated database, run the pipeline as a user does,
and follow the problem through: detected -> ticket -> planned remedy -> heal (`--heal`) ->
re-check -> resolved, and still resolved on the next clean run.

All database faults go into one database (one pipeline run per step keeps the catalog fast);
each is then followed on its own. The heal is `pytest --heal`: the doctor stage in the run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest

from selfheal.core.db import scratch_database
from selfheal.run.tickets import Ticket
from tests.faults.conftest import make_pipeline

GUARDRAILS = "schema or rls or doctor"


def _sql(statement: str) -> Callable[[str], None]:
    def inject(dsn: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(statement)

    return inject


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[str], None]
    detected_by: str  # part of a failing check's node id
    remedy: str


RESTORE = "restore the schema from the lock"

FAULTS = [
    Fault(
        "dropped index",
        _sql("DROP INDEX public.etl_quarantine_run_id_idx"),
        "test_index[public.etl_quarantine_run_id_idx]",
        RESTORE,
    ),
    Fault(
        "RLS disabled",
        _sql("ALTER TABLE public.events DISABLE ROW LEVEL SECURITY"),
        "rls_disabled_in_public",
        "enable RLS on tables that have policies",
    ),
    Fault(
        "missing column",
        _sql("ALTER TABLE public.events DROP COLUMN loaded_at"),
        "test_column[public.events.loaded_at]",
        RESTORE,
    ),
    Fault(
        "function search_path reset",
        _sql("ALTER FUNCTION public.upsert_events(jsonb) RESET search_path"),
        "test_function[public.upsert_events(rows jsonb)]",
        RESTORE,
    ),
    Fault(
        "function executable by anon",
        _sql("GRANT EXECUTE ON FUNCTION public.upsert_ads_source_a(jsonb) TO anon"),
        "test_function[public.upsert_ads_source_a(rows jsonb)]",
        RESTORE,
    ),
    Fault(
        "dropped function (its privileges come back too)",
        _sql("DROP FUNCTION public.upsert_ads_source_b(jsonb)"),
        "test_function[public.upsert_ads_source_b(rows jsonb)]",
        RESTORE,
    ),
    Fault(
        "policy widened to USING (true)",
        _sql("ALTER POLICY events_select_own ON public.events USING (true)"),
        "test_policy[public.events.events_select_own]",
        RESTORE,
    ),
    Fault(
        "an extra policy for anon",
        _sql("CREATE POLICY leak ON public.daily_metrics FOR SELECT TO anon USING (true)"),
        "test_no_undeclared_access",
        RESTORE,
    ),
    Fault(
        "column type narrowed",
        _sql("ALTER TABLE public.events ALTER COLUMN event_name TYPE varchar(200)"),
        "test_column[public.events.event_name]",
        RESTORE,
    ),
    Fault(
        "column default changed",
        _sql("ALTER TABLE public.ads_source_a ALTER COLUMN currency SET DEFAULT 'EUR'"),
        "test_column[public.ads_source_a.currency]",
        RESTORE,
    ),
    Fault(
        "check constraint dropped",
        _sql("ALTER TABLE public.etl_runs DROP CONSTRAINT etl_runs_status_check"),
        "test_constraint[public.etl_runs.etl_runs_status_check]",
        RESTORE,
    ),
    Fault(
        "table privilege revoked",
        _sql("REVOKE SELECT ON public.etl_quarantine FROM service_role"),
        "test_grant[public.etl_quarantine to service_role]",
        RESTORE,
    ),
    Fault(
        "table renamed (its rows, indexes and policies go along)",
        _sql("ALTER TABLE public.ads_source_b RENAME TO ads_source_b_2024"),
        "public.ads_source_b",  # every check of the table reports the one rename
        RESTORE,
    ),
    # Last: a table rewrite (the column type above) rebuilds its indexes valid.
    Fault(
        "invalid index",
        _sql(
            "UPDATE pg_index SET indisvalid = false "
            "WHERE indexrelid = 'public.events_occurred_at_idx'::regclass"
        ),
        "test_index[public.events_occurred_at_idx]",
        "rebuild invalid indexes concurrently",
    ),
]


@dataclass
class Story:
    """One database with every fault: detected, healed, then a clean run; tickets after each."""

    detected: subprocess.CompletedProcess[str]
    healed: subprocess.CompletedProcess[str]
    clean: subprocess.CompletedProcess[str]
    tickets: dict[str, list[Ticket]]


@pytest.fixture(scope="module")
def story(admin_dsn: str, migrated_template: str, tmp_path_factory) -> Iterator[Story]:
    workdir = tmp_path_factory.mktemp("catalog")
    pipeline = make_pipeline(workdir)
    with scratch_database(admin_dsn, "faults", template=migrated_template) as dsn:
        for fault in FAULTS:
            fault.inject(dsn)
        tickets = {}
        detected = pipeline.run(dsn, "-m", GUARDRAILS)
        tickets["detected"] = pipeline.tickets()
        healed = pipeline.run(dsn, "-m", GUARDRAILS, "--heal")
        tickets["healed"] = pipeline.tickets()
        clean = pipeline.run(dsn, "-m", GUARDRAILS)
        tickets["clean"] = pipeline.tickets()
        yield Story(detected, healed, clean, tickets)


def _ticket(tickets: list[Ticket], fragment: str) -> Ticket:
    matching = [t for t in tickets if fragment in t.node_id]
    assert matching, f"no ticket for {fragment}: {[t.node_id for t in tickets]}"
    return matching[0]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_database_fault(fault: Fault, story: Story) -> None:
    assert story.detected.returncode == 1, story.detected.stdout[-2000:]
    ticket = _ticket(story.tickets["detected"], fault.detected_by)
    assert ticket.status == "open" and ticket.reproduce == f"pytest '{ticket.node_id}'"
    assert (ticket.heals[-1].remedy, ticket.heals[-1].outcome) == (fault.remedy, "planned")

    ticket = _ticket(story.tickets["healed"], fault.detected_by)
    applied = [h for h in ticket.heals if h.outcome != "planned"]
    assert [(h.remedy, h.outcome) for h in applied] == [(fault.remedy, "healed")]
    assert "re-check: passed" in applied[0].detail
    assert ticket.status == "resolved" and ticket.occurrences == 2

    assert story.clean.returncode == 0, story.clean.stdout[-3000:]
    ticket = _ticket(story.tickets["clean"], fault.detected_by)
    assert ticket.status == "resolved"
    assert [outcome for _, outcome in ticket.history] == ["failed", "failed", "healed", "passed"]
