"""Jobs against real PostgreSQL and the fakes: counts, quarantine, idempotence, faults, failures,
late data with look-back, and resumable backfill."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import psycopg
import pytest
from etl_support import NOW, OPTIONS, SEED, domain_state, row_versions, runs, settings_for

from etl.fake import DEMO_FAULTS, Faults, serve_all
from etl.jobs import JobResult, run
from selfheal.core.settings import Settings

SOURCES = ("events", "source_a", "source_b")


def load_all(dsn: str, settings: Settings, **kwargs) -> JobResult:
    result = run("all", dsn, settings, options=kwargs.pop("options", OPTIONS), **kwargs)
    assert result.parts, result.summary()
    return result


def assert_balanced(result: JobResult) -> None:
    __tracebackhide__ = True
    for part in result.parts or [result]:
        assert part.read == part.inserted + part.updated + part.unchanged + part.quarantined


def test_first_load_inserts_everything_and_records_the_runs(migrated_db, source_settings):
    result = load_all(migrated_db, source_settings)
    assert result.status == "succeeded", result.summary()
    assert_balanced(result)
    with psycopg.connect(migrated_db) as conn:
        for part in result.parts[:3]:
            table = {"events": "events", "source_a": "ads_source_a", "source_b": "ads_source_b"}
            count = conn.execute(f"SELECT count(*) FROM public.{table[part.job]}").fetchone()[0]
            assert part.inserted == count > 0
        assert conn.execute("SELECT count(*) FROM public.daily_metrics").fetchone()[0] > 0
    ledger = runs(migrated_db)
    assert [(r["source"], r["status"], r["mode"]) for r in ledger] == [
        ("events", "succeeded", "incremental"),
        ("source_a", "succeeded", "incremental"),
        ("source_b", "succeeded", "incremental"),
        ("metrics", "succeeded", "incremental"),
    ]
    assert all(
        r["watermark"] is not None and r["window_end"] is None or r["window_start"] for r in ledger
    )


def test_reload_is_unchanged_and_writes_no_row_version(migrated_db, source_settings):
    load_all(migrated_db, source_settings)
    before = {t: row_versions(migrated_db, t) for t in ("events", "ads_source_a", "ads_source_b")}
    again = run(
        "source_a",
        migrated_db,
        source_settings,
        since=NOW.date() - timedelta(days=40),
        options=OPTIONS,
    )
    assert again.status == "succeeded"
    assert again.inserted == again.updated == 0 and again.unchanged > 0
    load_all(migrated_db, source_settings)
    after = {t: row_versions(migrated_db, t) for t in before}
    assert after == before


def test_bad_rows_are_quarantined_with_source_payload_and_reason(migrated_db):
    with serve_all(seed=SEED, faults=DEMO_FAULTS, now=NOW) as fakes:
        result = load_all(migrated_db, settings_for(fakes))
    assert result.status == "succeeded", result.summary()
    assert_balanced(result)
    assert [part.quarantined for part in result.parts[:3]] == [2, 2, 2]
    with psycopg.connect(migrated_db) as conn:
        rows = conn.execute(
            "SELECT q.source, q.raw_payload, q.reason, r.source FROM public.etl_quarantine q"
            " JOIN public.etl_runs r USING (run_id) ORDER BY q.source, q.reason"
        ).fetchall()
    assert {row[0] for row in rows} == set(SOURCES)
    assert all(row[0] == row[3] for row in rows)
    reasons = " | ".join(row[2] for row in rows)
    for expected in (
        "'impressions' must be a non-negative 64-bit integer",
        "missing field 'campaign_id'",
        "'cost_micros' must be a non-negative 64-bit integer",
        "missing field 'hour'",
        "'user_id' is not a UUID",
        "missing field 'occurred_at'",
    ):
        assert expected in reasons
    assert any('"impressions": "many"' in row[1] for row in rows)


def test_duplicates_across_pages_are_collapsed_and_counted(migrated_db, second_db):
    with serve_all(seed=SEED, now=NOW) as clean:
        expected = load_all(second_db, settings_for(clean))
    with serve_all(seed=SEED, faults=Faults(duplicate_rows=True), now=NOW) as dup:
        result = load_all(migrated_db, settings_for(dup))
    assert result.status == "succeeded"
    assert_balanced(result)
    assert domain_state(migrated_db) == domain_state(second_db)
    for clean_part, dup_part in zip(expected.parts[:3], result.parts[:3], strict=True):
        assert dup_part.read > clean_part.read
        assert dup_part.inserted == clean_part.inserted
        assert dup_part.unchanged == dup_part.read - clean_part.read


@pytest.mark.parametrize(
    "faults",
    [
        Faults(rate_limits=2, retry_after="0"),
        Faults(server_errors=2),
        Faults(slow_responses=1, slow_seconds=1.0),
        Faults(malformed_json=2),
    ],
    ids=["429", "500", "timeout", "malformed-json"],
)
def test_transient_faults_still_converge(migrated_db, admin_dsn, faults, second_db):
    with serve_all(seed=SEED, now=NOW) as clean:
        load_all(second_db, settings_for(clean))
    with serve_all(seed=SEED, faults=faults, now=NOW) as flaky:
        result = load_all(migrated_db, settings_for(flaky))
    assert result.status == "succeeded", result.summary()
    assert domain_state(migrated_db) == domain_state(second_db)


def test_a_failing_source_rolls_its_window_back_and_is_recorded(migrated_db):
    faults = {"source_b": Faults(server_errors=1000, first_faulty_request=2)}
    with serve_all(seed=SEED, faults=faults, now=NOW) as fakes:
        result = load_all(migrated_db, settings_for(fakes))
    assert result.status == "failed"
    failed = result.parts[2]
    assert failed.job == "source_b" and failed.status == "failed"
    assert "GET /v2/hourly-stats failed after retries: HTTP 500" in failed.error
    assert result.parts[0].status == result.parts[1].status == "succeeded"
    ledger = [r for r in runs(migrated_db) if r["source"] == "source_b"]
    assert len(ledger) == 1 and ledger[0]["status"] == "failed"
    assert "HTTP 500" in ledger[0]["error"] and ledger[0]["window_start"] is not None
    assert domain_state(migrated_db)["ads_source_b"] == []


def test_a_database_failure_mid_window_leaves_nothing_half_written(migrated_db, source_settings):
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE public.ads_source_a ADD CONSTRAINT few_clicks CHECK (clicks < 100)"
        )
    result = run("source_a", migrated_db, source_settings, options=OPTIONS)
    assert result.status == "failed" and "few_clicks" in result.error
    assert domain_state(migrated_db)["ads_source_a"] == []
    (record,) = runs(migrated_db)
    assert record["status"] == "failed" and "few_clicks" in record["error"]
    assert record["window_start"] < record["window_end"]


def test_late_rows_are_read_again_within_the_look_back(migrated_db, fakes, source_settings):
    load_all(migrated_db, source_settings)
    fakes.release_late()
    blind = run(
        "all", migrated_db, source_settings, options=replace(OPTIONS, lookback=timedelta(0))
    )
    assert blind.inserted == blind.updated == 0
    late = run("all", migrated_db, source_settings, options=OPTIONS)
    by_job = {part.job: part for part in late.parts}
    assert (by_job["source_a"].inserted, by_job["source_a"].updated) == (1, 1)
    assert (by_job["source_b"].inserted, by_job["source_b"].updated) == (0, 1)
    assert (by_job["events"].inserted, by_job["events"].updated) == (3, 0)
    assert by_job["metrics"].read > 0


def test_backfill_is_chunked_per_day_resumable_and_idempotent(
    migrated_db, source_settings, second_db
):
    today = NOW.astimezone(source_settings.zone).date()
    first, last = today - timedelta(days=6), today - timedelta(days=2)

    def backfill(until: date) -> JobResult:
        return run(
            "source_b",
            migrated_db,
            source_settings,
            backfill=True,
            since=first,
            until=until,
            options=OPTIONS,
        )

    assert backfill(first + timedelta(days=2)).windows == 3
    resumed = backfill(last)
    assert resumed.windows == 2 and resumed.status == "succeeded"
    assert backfill(last).windows == 0
    backfills = [r for r in runs(migrated_db) if r["mode"] == "backfill"]
    assert len(backfills) == 5
    for record in backfills:
        hours = (record["window_end"] - record["window_start"]) / timedelta(hours=1)
        assert hours in (23, 24, 25)
    run("source_b", second_db, source_settings, since=first, until=last, options=OPTIONS)
    assert domain_state(migrated_db) == domain_state(second_db)


def test_backfill_needs_a_window(migrated_db, source_settings):
    result = run("events", migrated_db, source_settings, backfill=True, options=OPTIONS)
    assert result.status == "failed" and "BACKFILL_START" in result.error
    assert runs(migrated_db) == []


def test_missing_source_settings_are_named(migrated_db):
    settings = Settings.from_env(environ={}, dotenv_path=None)
    result = run("source_a", migrated_db, settings, options=OPTIONS)
    assert result.status == "failed"
    assert "SOURCE_A_BASE_URL" in result.error and "GENERIC_SOURCE_A_TOKEN" in result.error
