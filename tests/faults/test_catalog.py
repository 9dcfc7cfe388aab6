"""The fault catalog: inject a fault into a migrated database, run the pipeline as a user does,
and follow the problem through: detected -> ticket -> planned remedy -> heal (`--heal`) ->
re-check -> resolved, and still resolved on the next clean run.

All database faults go into one database holding rows (one pipeline run per step keeps the
catalog fast); each is then followed on its own: one ticket per fault (its root cause), healed with
a passing re-check. After the heal no exposure is left (the lock's diff, and the clean run's RLS
probes), no row is lost (every row's hash, per table OID) or stranded. The heal is
`pytest --heal`: the doctor stage in the run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest

from selfheal.core.db import scratch_database
from selfheal.run.tickets import Ticket
from tests.faults.accounting import (
    Aftermath,
    Fate,
    RowDigest,
    exposures_left,
    record,
    stranded_rows,
)
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
    code: str = ""  # the problem's code, where one check reports several faults


# A few rows in every table: the RLS probes see something, and a heal that loses a row shows.
SEED = """
INSERT INTO public.events (event_id, user_id, event_name, occurred_at, properties)
SELECT 'e' || n, md5(n::text)::uuid, 'view', now() - n * interval '1 hour', '{}'
FROM generate_series(1, 20) n;
INSERT INTO public.ads_source_a (stat_date, campaign_id, ad_id, impressions, clicks, spend)
SELECT current_date - n, 'c' || n % 3, 'ad' || n, 100 * n, n, n * 1.5
FROM generate_series(1, 10) n;
INSERT INTO public.ads_source_b (stat_hour, campaign, creative, impressions, clicks, cost_micros)
SELECT date_trunc('hour', now()) - n * interval '1 hour', 'k' || n % 2, 'cr' || n, 50 * n, n, n
FROM generate_series(1, 12) n;
INSERT INTO public.daily_metrics (metric_date, source, campaign, impressions, clicks, spend)
SELECT current_date - n, 'source_a', 'c' || n % 3, 100 * n, n, n * 1.5
FROM generate_series(1, 10) n;
INSERT INTO public.etl_runs (source, status, finished_at)
SELECT 'source_a', 'succeeded', now() - n * interval '1 day' FROM generate_series(1, 3) n;
"""


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
        "test_table[public.events]",  # and the RLS lints: one problem, the schema's
        RESTORE,
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
        code="schema.function_acl",
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
        code="schema.policy_unexpected",
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
        "dropped policy",
        _sql("DROP POLICY etl_quarantine_select_service ON public.etl_quarantine"),
        "test_policy[public.etl_quarantine.etl_quarantine_select_service]",
        RESTORE,
    ),
    Fault(
        "policy opened to anon",
        _sql(
            "ALTER POLICY ads_source_a_select_authenticated ON public.ads_source_a "
            "TO anon, authenticated"
        ),
        "test_policy[public.ads_source_a.ads_source_a_select_authenticated]",
        RESTORE,
    ),
    Fault(
        "table granted to PUBLIC",
        _sql("GRANT SELECT ON public.etl_runs TO PUBLIC"),
        "test_no_undeclared_access",
        RESTORE,
        code="schema.grant_unexpected",
    ),
    Fault(
        "function made SECURITY DEFINER",
        _sql("ALTER FUNCTION public.upsert_ads_source_a(jsonb) SECURITY DEFINER"),
        "test_function[public.upsert_ads_source_a(rows jsonb)]",
        RESTORE,
        code="schema.function_security_definer",
    ),
    Fault(
        "NOT NULL dropped",
        _sql("ALTER TABLE public.ads_source_a ALTER COLUMN impressions DROP NOT NULL"),
        "test_column[public.ads_source_a.impressions]",
        RESTORE,
    ),
    Fault(
        "default dropped",
        _sql("ALTER TABLE public.events ALTER COLUMN received_at DROP DEFAULT"),
        "test_column[public.events.received_at]",
        RESTORE,
    ),
    Fault(
        "foreign key dropped",
        _sql("ALTER TABLE public.etl_quarantine DROP CONSTRAINT etl_quarantine_run_id_fkey"),
        "test_constraint[public.etl_quarantine.etl_quarantine_run_id_fkey]",
        RESTORE,
    ),
    Fault(
        "primary key dropped (its index goes with it: one problem)",
        _sql("ALTER TABLE public.daily_metrics DROP CONSTRAINT daily_metrics_pkey"),
        "test_constraint[public.daily_metrics.daily_metrics_pkey]",
        RESTORE,
    ),
    Fault(
        "index redefined",
        _sql(
            "DROP INDEX public.events_user_id_idx; "
            "CREATE INDEX events_user_id_idx ON public.events (user_id, event_name)"
        ),
        "test_index[public.events_user_id_idx]",
        RESTORE,
    ),
    Fault(
        "default privileges revoked",
        _sql(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM selfheal_reader"
        ),
        "test_default_privilege",
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
    aftermath: Aftermath


@pytest.fixture(scope="module")
def story(admin_dsn: str, migrated_template: str, tmp_path_factory) -> Iterator[Story]:
    workdir = tmp_path_factory.mktemp("catalog")
    pipeline = make_pipeline(workdir)
    with scratch_database(admin_dsn, "faults", template=migrated_template) as dsn:
        _sql(SEED)(dsn)
        for fault in FAULTS:
            fault.inject(dsn)
        tickets = {}
        detected = pipeline.run(dsn, "-m", GUARDRAILS)
        tickets["detected"] = pipeline.tickets()
        rows = RowDigest.of(dsn)
        healed = pipeline.run(dsn, "-m", GUARDRAILS, "--heal")
        tickets["healed"] = pipeline.tickets()
        aftermath = Aftermath(
            "catalog",
            duplicate_tickets=max(len(tickets["detected"]) - len(FAULTS), 0),
            exposures_left=len(exposures_left(dsn)),
            rows_lost=sum(rows.lost_in(dsn).values()),
            rows_stranded=sum(stranded_rows(dsn).values()),
        )
        clean = pipeline.run(dsn, "-m", GUARDRAILS)
        tickets["clean"] = pipeline.tickets()
        yield Story(detected, healed, clean, tickets, aftermath)


def _ticket(tickets: list[Ticket], fault: Fault) -> Ticket:
    matching = [t for t in tickets if fault.detected_by in t.node_id and fault.code in ("", t.code)]
    assert matching, f"no ticket for {fault.name}: {[(t.node_id, t.code) for t in tickets]}"
    return matching[0]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_database_fault(fault: Fault, story: Story, request: pytest.FixtureRequest) -> None:
    detected = [t for t in story.tickets["detected"] if fault.detected_by in t.node_id]
    record(request, Fate(fault.name, detected=bool(detected), healed=False, person="not healed"))
    assert story.detected.returncode == 1, story.detected.stdout[-2000:]
    ticket = _ticket(story.tickets["detected"], fault)
    assert ticket.status == "open" and ticket.reproduce == f"pytest '{ticket.node_id}'"
    assert (ticket.heals[-1].remedy, ticket.heals[-1].outcome) == (fault.remedy, "planned")

    ticket = _ticket(story.tickets["healed"], fault)
    applied = [h for h in ticket.heals if h.outcome != "planned"]
    assert [(h.remedy, h.outcome) for h in applied] == [(fault.remedy, "healed")]
    assert "re-check: passed" in applied[0].detail
    assert ticket.status == "resolved" and ticket.occurrences == 2

    assert story.clean.returncode == 0, story.clean.stdout[-3000:]
    ticket = _ticket(story.tickets["clean"], fault)
    assert ticket.status == "resolved"
    assert [outcome for _, outcome in ticket.history] == ["failed", "failed", "healed", "passed"]
    request.node.user_properties.clear()
    record(request, Fate(fault.name, detected=True, healed=True))


def test_one_ticket_per_fault_and_nothing_lost_or_left_open(
    story: Story, request: pytest.FixtureRequest
) -> None:
    """Every ticket belongs to one fault; after the heal no exposure is left, no row lost or
    stranded; the clean run (RLS probes included, on the seeded rows) passes."""
    record(request, story.aftermath)
    assert len(story.tickets["detected"]) == len(FAULTS), [
        (t.node_id, t.code) for t in story.tickets["detected"]
    ]
    assert story.aftermath == Aftermath("catalog", 0, 0, 0, 0)
    assert story.clean.returncode == 0, story.clean.stdout[-3000:]
