"""The fault catalog's source faults, in one story on one database:

- a source answering 500 until the ETL's retries run out (source B),
- a stale source: the data loaded is five days old (every table's freshness rule),
- quarantined rows: source A sends malformed rows, a large share of what it sends.

Detected by the pipeline (`-m "etl or dq or doctor"`), planned by its doctor stage, healed by
`selfheal doctor --heal` once the sources answer again, resolved by the next clean run. The run's
Slack message goes to a receiver on loopback; no produced file holds a secret.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from etl.fake import Faults, serve_all
from selfheal.run.tickets import Ticket
from tests.faults.accounting import fate_of, record
from tests.faults.conftest import Pipeline

STAGES = "etl or dq or doctor"
RETRY = "retry the failed ETL job with backoff"
RERUN = "re-run the stale source's ETL"


def _ticket(pipeline: Pipeline, fragment: str) -> Ticket:
    matching = [t for t in pipeline.tickets() if fragment in t.node_id]
    assert matching, f"no ticket for {fragment}: {[t.node_id for t in pipeline.tickets()]}"
    return matching[0]


def _last(ticket: Ticket, remedy: str) -> str:
    return [h.outcome for h in ticket.heals if h.remedy == remedy][-1]


FAULTS = {
    "a source answering 500 until retries run out": "test_etl_job[source_b]",
    "a stale source (data five days old)": "test_dq[events.freshness.occurred_at]",
    "a source sending mostly malformed rows": "test_etl_job[source_a]",
}


def _record_fates(pipeline: Pipeline, request) -> None:
    tickets = pipeline.tickets()
    for name, fragment in FAULTS.items():
        record(request, fate_of(name, next((t for t in tickets if fragment in t.node_id), None)))


def test_source_faults(pipeline: Pipeline, migrated_db: str, slack_receiver, request) -> None:
    stale = datetime.now(UTC) - timedelta(days=5)
    faults = {
        "source_a": Faults(bad_rows=True),
        "source_b": Faults(server_errors=1000, first_faulty_request=0),
    }
    pipeline.env["SLACK_WEBHOOK_URL"] = slack_receiver.url
    with serve_all(seed=7, now=stale, days=3, faults=faults) as broken:
        pipeline.use_sources(broken)
        secrets = [slack_receiver.url, *(s.token for s in broken.servers)]
        detected = pipeline.run(migrated_db, "-m", STAGES)
    assert detected.returncode == 1

    failing_source = _ticket(pipeline, "test_etl_job[source_b]")
    assert "SourceError" in failing_source.message or "500" in failing_source.message
    assert _last(failing_source, RETRY) == "planned"
    freshness = _ticket(pipeline, "test_dq[events.freshness.occurred_at]")
    assert _last(freshness, RERUN) == "planned"
    quarantine = _ticket(pipeline, "test_etl_job[source_a]")
    assert "quarantined" in quarantine.message and quarantine.sample_rows
    assert {"reason", "raw_payload"} <= set(quarantine.sample_rows[0])
    assert quarantine.heals[-1].outcome == "no remedy"
    (message,) = slack_receiver.bodies
    assert "pytest 'checks/test_pipeline.py::test_etl_job[source_b]'" in message["text"]

    with serve_all(seed=7) as recovered:
        pipeline.use_sources(recovered)
        plan = pipeline.doctor(migrated_db)
        assert plan.returncode == 0 and "plan only: nothing changed" in plan.stdout
        assert f"{RETRY} -> planned" in plan.stdout
        assert _ticket(pipeline, "test_etl_job[source_b]").status == "open"
        healed = pipeline.doctor(migrated_db, "--heal")
        _record_fates(pipeline, request)
        assert healed.returncode == 0, healed.stdout + healed.stderr
        for fragment, remedy in (("test_etl_job[source_b]", RETRY), ("freshness", RERUN)):
            ticket = _ticket(pipeline, fragment)
            assert (_last(ticket, remedy), ticket.status) == ("healed", "resolved"), ticket
        assert _ticket(pipeline, "test_dq[events.freshness").heals[-1].detail.endswith("passed")
        assert _ticket(pipeline, "test_etl_job[source_a]").status == "open"  # a person's job

        clean = pipeline.run(migrated_db, "-m", STAGES)
    assert clean.returncode == 0, clean.stdout[-3000:]
    assert pipeline.tickets("open") == []
    assert _ticket(pipeline, "test_etl_job[source_a]").history[-1][1] == "passed"

    produced = pipeline.produced_text() + json.dumps(slack_receiver.bodies) + healed.stdout
    for secret in secrets:
        assert secret not in produced
