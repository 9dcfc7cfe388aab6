"""Part 6: sessions held open by other connections in the test, deterministic (no sleeps):
the thresholds are zero and the test waits until the server reports the state it set up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from selfheal.core.db import connect

from .conftest import add_run

NOW = {"idle_in_transaction_seconds": 0, "long_running_seconds": 0, "lock_wait_seconds": 0}
WAIT_LIMIT_SECONDS = 30  # how long the server may take to show a state, never a threshold


@pytest.fixture
def config(shipped_config):
    return shipped_config.with_thresholds(**NOW)


@pytest.fixture
def other(migrated_db: str) -> Iterator[psycopg.Connection]:
    """Another client session of the same database, named so the findings show it."""
    with connect(migrated_db, application_name="other-agent") as conn:
        yield conn


def _wait_until(writer: psycopg.Connection, query: str, params: tuple) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not writer.execute(query, params).fetchone()[0]:
        assert time.monotonic() < deadline, "the server never reported the expected state"
        time.sleep(0.05)


def test_no_other_session_no_findings(audit, config):
    for check in ("idle_in_transaction", "long_running", "blocked_lock_wait", "advisory_lock"):
        assert audit(f"multi_agent_coherence:{check}", config).findings == []


def test_idle_in_transaction_held_by_another_session(audit, config, other):
    other.execute("SELECT 1")  # opens a transaction and leaves it open (not autocommit)
    [finding] = audit("multi_agent_coherence:idle_in_transaction", config).findings
    assert finding.subject == f"pid {other.info.backend_pid} (other-agent)"
    other.rollback()
    assert audit("multi_agent_coherence:idle_in_transaction", config).findings == []


def test_blocked_lock_wait_and_long_running_statement(audit, config, other, migrated_db, writer):
    holder_pid = other.info.backend_pid
    other.execute("LOCK TABLE public.events IN ACCESS EXCLUSIVE MODE")
    with connect(migrated_db, autocommit=True, application_name="blocked-agent") as blocked:
        pid = blocked.info.backend_pid
        waiter = threading.Thread(
            target=blocked.execute, args=("SELECT count(*) FROM public.events",)
        )
        waiter.start()
        try:
            _wait_until(
                writer,
                "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock')",
                (pid,),
            )
            [blocked_finding] = audit("multi_agent_coherence:blocked_lock_wait", config).findings
            long = audit("multi_agent_coherence:long_running", config).findings
        finally:
            other.rollback()
            waiter.join()
    assert blocked_finding.level == "error"
    assert blocked_finding.subject == f"pid {pid} (blocked-agent)"
    assert str(holder_pid) in blocked_finding.message
    assert [f.subject for f in long] == [f"pid {pid} (blocked-agent)"]
    assert "a SELECT running for" in long[0].message
    assert "public.events" not in long[0].message + blocked_finding.message  # no statement text


def test_advisory_lock_left_by_an_idle_session(audit, config, migrated_db):
    with connect(migrated_db, autocommit=True, application_name="etl-agent") as holder:
        holder.execute("SELECT pg_advisory_lock(20251112, 7)")
        [finding] = audit("multi_agent_coherence:advisory_lock", config).findings
        assert finding.level == "warn"
        assert finding.subject == f"pid {holder.info.backend_pid} (etl-agent) key (20251112, 7, 2)"
        holder.execute("SELECT pg_advisory_unlock(20251112, 7)")
        assert audit("multi_agent_coherence:advisory_lock", config).findings == []


def test_overlapping_etl_runs_of_one_source(audit, writer):
    add_run(writer, "events", "succeeded", hours_ago=5, minutes=30)
    add_run(writer, "events", "succeeded", hours_ago=4, minutes=30)  # after the first: fine
    add_run(writer, "source_a", "failed", hours_ago=3, minutes=90)
    add_run(writer, "source_a", "succeeded", hours_ago=2.5, minutes=10)  # inside the first
    add_run(writer, "source_b", "running", hours_ago=1, minutes=None)  # never finished ...
    add_run(writer, "source_b", "succeeded", hours_ago=0.5, minutes=5)  # ... so this overlaps
    findings = audit("multi_agent_coherence:overlapping_etl_runs").findings
    assert [f.subject.split()[0] for f in findings] == ["source_a", "source_b"]
    assert all(f.level == "error" for f in findings)


def test_a_run_closed_as_abandoned_overlaps_nothing(audit, writer):
    """The ETL closes a crashed run as abandoned when it finds it, hours later: its span is not
    when it ran, so the runs in between do not overlap it."""
    abandoned = "abandoned: the process running it stopped before finishing"
    add_run(writer, "source_b", "failed", hours_ago=5, minutes=290, error=abandoned)
    add_run(writer, "source_b", "succeeded", hours_ago=3, minutes=5)
    assert audit("multi_agent_coherence:overlapping_etl_runs").findings == []


def test_overlaps_without_a_ledger(audit, writer):
    writer.execute("DROP TABLE public.etl_runs CASCADE")
    result = audit("multi_agent_coherence:overlapping_etl_runs")
    assert result.findings == [] and "does not exist" in result.examined
