"""Hostile sources on loopback: no source can hang a run, poison its watermark or lose rows
outside the count.

Every case runs a real job against real PostgreSQL with a short request deadline and job budget,
inside a thread the test bounds; it asserts the job ended by the job deadline (plus a margin for
a loaded machine), failed in one line naming the cause without the token, closed its ledger row
and loaded nothing; or, for bad rows, that they are quarantined once and the counts add up.
"""

from __future__ import annotations

import gzip
import json
import signal
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import psycopg
import pytest
from etl_support import ETL_COMMAND, NOW, fake_env, runs
from hostile import HostileServer, Received, Reply, Scenario, hostile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.cli import EXIT_INTERRUPTED
from etl.http import RetryPolicy
from etl.jobs import INTERRUPTED, JobOptions, JobResult, run
from etl.rerun import JobFailed, etl_runner
from etl.sources import CONNECTION
from selfheal.core.settings import Secret, Settings

TOKEN = "hostile-test-token-5f2a9c"
# Generous for a loaded machine: a prompt loopback answer must never take a whole deadline.
REQUEST_SECONDS = 2.0
JOB_SECONDS = 5.0
# A loaded 2-core machine may start the job late or be slow to notice the deadline.
MARGIN_SECONDS = 8.0
POLICY = RetryPolicy(
    timeout_seconds=REQUEST_SECONDS,
    attempts=4,
    total_seconds=30,
    backoff_seconds=0.01,
    max_backoff_seconds=0.05,
    max_body_bytes=1024 * 1024,
)
OPTIONS = JobOptions(retry=POLICY, job_timeout_seconds=JOB_SECONDS, now=NOW, page_size=100)
TABLES = {"source_a": "ads_source_a", "source_b": "ads_source_b", "events": "events"}


def aimed(source: str, url: str, settings: Settings | None = None) -> Settings:
    """Settings whose `source` is the server at `url`, with the test's token."""
    url_attr, token_attr = CONNECTION[source]
    base = settings or Settings.from_env(environ={"TZ": "America/Toronto"}, dotenv_path=None)
    return replace(base, **{url_attr: url, token_attr: Secret(TOKEN)})


@dataclass
class Outcome:
    result: JobResult
    seconds: float
    server: HostileServer


def bounded(
    job: Callable[[], JobResult], limit: float = JOB_SECONDS + 60
) -> tuple[JobResult, float]:
    """Run `job` in a thread the test waits for at most `limit` seconds: a hang fails the test."""
    box: list[JobResult] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: box.append(job()), daemon=True)
    worker.start()
    worker.join(limit)
    assert not worker.is_alive(), f"the job was still running after {limit:g} s"
    return box[0], time.monotonic() - started


def against(
    dsn: str,
    source: str,
    scenario: Scenario,
    options: JobOptions = OPTIONS,
    scheme: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> Outcome:
    """Run the job on a hostile server (over TLS with `tls`; `scheme` overrides the URL's)."""
    with hostile(scenario, tls) as server:
        url = server.url if scheme is None else f"{scheme}://{server.url.split('://')[1]}"
        result, seconds = bounded(lambda: run(source, dsn, aimed(source, url), options=options))
    return Outcome(result, seconds, server)


def loaded(dsn: str, source: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT count(*) FROM public.{TABLES[source]}").fetchone()[0]


def quarantine(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT run_id, source, raw_payload, reason FROM public.etl_quarantine"
            " ORDER BY quarantine_id"
        ).fetchall()


def assert_failed_cleanly(outcome: Outcome, dsn: str, source: str, *causes: str) -> None:
    """One line naming the cause, no token, within the deadline, ledger closed, nothing loaded."""
    __tracebackhide__ = True
    result = outcome.result
    assert result.status == "failed", result.summary()
    error = result.error  # a name of its own: a failure shows the text, not the JobResult
    for cause in causes:
        assert cause in error, error
    assert "\n" not in error and "Traceback" not in error
    assert TOKEN not in error
    assert outcome.seconds <= JOB_SECONDS + MARGIN_SECONDS, outcome.seconds
    ledger = runs(dsn)
    assert [r["status"] for r in ledger] == ["failed"], ledger
    assert ledger[0]["error"] == result.error
    assert loaded(dsn, source) == 0


# ---- rows of the three contracts ----------------------------------------------------------------

YESTERDAY = (NOW - timedelta(days=1)).date().isoformat()


def a_row(n: int) -> dict:
    return {
        "date": YESTERDAY,
        "campaign_id": "a-camp",
        "ad_id": f"ad-{n}",
        "impressions": 100,
        "clicks": 3,
        "spend": "1.5000",
        "currency": "USD",
    }


def b_row(n: int) -> dict:
    hour = NOW.replace(minute=0) - timedelta(hours=1 + n % 500)
    return {
        "hour": hour.isoformat(),
        "campaign": "b-camp",
        "creative": f"cr-{n}",
        "impressions": 50,
        "clicks": 1,
        "cost_micros": 1_000_000,
    }


def event(n: int, at: datetime, name: str = "view") -> dict:
    return {
        "event_id": f"ev-{n:06d}",
        "user_id": str(uuid.UUID(int=n + 1)),
        "event_name": name,
        "occurred_at": at.isoformat(),
        "received_at": at.isoformat(),
        "properties": {},
    }


# ---- transport: deadlines, broken bodies, redirects, TLS ---------------------------------------


def dribbled_body(request: Received, reply: Reply) -> None:
    body = json.dumps({"data": [a_row(1)], "next_cursor": None}).encode()
    reply.head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
    reply.dribble(body, every=0.5)


def dribbled_headers(request: Received, reply: Reply) -> None:
    reply.dribble(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", every=0.5)


def silent(request: Received, reply: Reply) -> None:
    reply.hang()


@pytest.mark.parametrize(
    "scenario",
    [dribbled_body, dribbled_headers, silent],
    ids=["body-one-byte-at-a-time", "headers-one-byte-at-a-time", "never-answers"],
)
def test_a_server_too_slow_to_answer_is_cut_at_the_job_deadline(migrated_db, scenario):
    outcome = against(migrated_db, "source_a", scenario)
    assert_failed_cleanly(
        outcome, migrated_db, "source_a", f"job deadline of {JOB_SECONDS:g} s passed"
    )
    # Not before the deadline (each request was cut at its own), not long after it.
    assert outcome.seconds >= JOB_SECONDS
    assert len(outcome.server.seen) >= 2, "requests cut at their deadline are retried"


def test_a_request_is_cut_at_its_own_deadline_and_retried(migrated_db):
    """The first answer dribbles; the second is prompt: the job succeeds, later than 1 s."""
    answers = count()

    def first_slow(request: Received, reply: Reply) -> None:
        if next(answers) == 0:
            return dribbled_body(request, reply)
        reply.json({"data": [a_row(1)], "next_cursor": None})

    outcome = against(migrated_db, "source_a", first_slow)
    assert outcome.result.status == "succeeded", outcome.result.summary()
    assert outcome.result.inserted == 1 and len(outcome.server.seen) == 2
    assert REQUEST_SECONDS <= outcome.seconds <= REQUEST_SECONDS + MARGIN_SECONDS


def truncated(request: Received, reply: Reply) -> None:
    reply.head(200, {"Content-Length": "1000"})
    reply.raw(b'{"data": [')


def broken_chunks(request: Received, reply: Reply) -> None:
    reply.head(200, {"Transfer-Encoding": "chunked"})
    reply.raw(b"zz\r\nnot a chunk\r\n")


def reset(request: Received, reply: Reply) -> None:
    reply.reset()


def not_json(request: Received, reply: Reply) -> None:
    reply.json(b"<html>maintenance</html>")


def endless_headers(request: Received, reply: Reply) -> None:
    reply.raw(b"HTTP/1.1 200 OK\r\n")
    while not reply.stopping.is_set():
        reply.raw(b"X-Filler: yes\r\n" * 1000)


def server_error(request: Received, reply: Reply) -> None:
    reply.json({"error": "internal"}, status=503)


@pytest.mark.parametrize(
    ("scenario", "cause"),
    [
        (truncated, "the body was cut off before its end"),
        (broken_chunks, "the body was cut off before its end"),
        (reset, "the connection broke before a complete answer"),
        (endless_headers, "the connection broke before a complete answer"),
        (not_json, "malformed JSON in the response body"),
        (server_error, "HTTP 503"),
    ],
    ids=[
        "truncated-body",
        "broken-chunked-encoding",
        "connection-reset",
        "endless-headers",
        "not-json",
        "http-503",
    ],
)
def test_transient_failures_are_retried_then_fail_in_one_line(migrated_db, scenario, cause):
    outcome = against(migrated_db, "source_a", scenario)
    assert_failed_cleanly(outcome, migrated_db, "source_a", "failed after retries", cause)
    assert len(outcome.server.seen) == POLICY.attempts


def bad_gzip(request: Received, reply: Reply) -> None:
    reply.json(b"\x1f\x8b\x08\x00" + b"not gzip at all", headers={"Content-Encoding": "gzip"})


def repeated_member(request: Received, reply: Reply) -> None:
    rows = json.dumps([a_row(1)])
    reply.json(f'{{"data": {rows}, "data": [], "next_cursor": null}}'.encode())


def too_deep(request: Received, reply: Reply) -> None:
    reply.json(b"[" * 100_000 + b"]" * 100_000)


def too_large(request: Received, reply: Reply) -> None:
    reply.head(200, {"Content-Type": "application/json", "Content-Length": str(10**12)})
    reply.hang()


def endless(request: Received, reply: Reply) -> None:
    reply.head(200, {"Content-Type": "application/json"})
    while not reply.stopping.is_set():
        reply.raw(b" " * 65536)


# 32 MiB of spaces in about 32 KiB of gzip, made once (slow on a loaded machine).
GZIP_BOMB = gzip.compress(b" " * (32 * 1024 * 1024))


def gzip_bomb(request: Received, reply: Reply) -> None:
    reply.json(GZIP_BOMB, headers={"Content-Encoding": "gzip"})


def redirect_loop(request: Received, reply: Reply) -> None:
    reply.json({}, status=302, headers={"Location": request.path})


def echoes_the_token(request: Received, reply: Reply) -> None:
    reply.raw(
        f"HTTP/1.1 401 {request.headers['authorization']}\r\nContent-Length: 0\r\n\r\n".encode()
    )


def asks_to_wait_a_day(request: Received, reply: Reply) -> None:
    reply.json({"error": "slow down"}, status=429, headers={"Retry-After": "86400"})


@pytest.mark.parametrize(
    ("scenario", "cause"),
    [
        (bad_gzip, "the body does not decode as its Content-Encoding says"),
        (repeated_member, "the response repeats member 'data'"),
        (too_deep, "nests too deeply"),
        (too_large, "larger than 1048576 bytes"),
        (endless, "larger than 1048576 bytes"),
        (gzip_bomb, "larger than 1048576 bytes"),
        (redirect_loop, "redirect loop"),
        (echoes_the_token, "answered HTTP 401 ***"),
    ],
    ids=[
        "bad-gzip",
        "data-twice",
        "nested-too-deep",
        "declared-too-large",
        "endless-body",
        "gzip-bomb",
        "redirect-loop",
        "token-echoed-in-reason",
    ],
)
def test_permanent_failures_are_not_retried(migrated_db, scenario, cause):
    outcome = against(migrated_db, "source_a", scenario)
    assert_failed_cleanly(outcome, migrated_db, "source_a", cause)
    assert len(outcome.server.seen) == 1


def test_a_retry_after_beyond_the_job_deadline_is_not_waited_for(migrated_db):
    outcome = against(migrated_db, "source_a", asks_to_wait_a_day)
    assert_failed_cleanly(outcome, migrated_db, "source_a", "failed after retries: HTTP 429")
    assert outcome.seconds < JOB_SECONDS + MARGIN_SECONDS and len(outcome.server.seen) == 1


def test_tls_failures_are_not_retried(migrated_db):
    outcome = against(migrated_db, "source_a", silent, scheme="https")
    assert_failed_cleanly(outcome, migrated_db, "source_a", "TLS with 127.0.0.1", "not retried")


@pytest.fixture(scope="module")
def authority() -> Any:
    """A certificate authority of the test's own (trustme, in the `test` extra)."""
    trustme = pytest.importorskip("trustme", reason="trustme is missing: pip install -e '.[test]'")
    return trustme.CA()


def served_with(authority: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


def test_an_untrusted_certificate_is_refused_before_the_token_is_sent(migrated_db, authority):
    outcome = against(migrated_db, "source_a", silent, tls=served_with(authority))
    assert_failed_cleanly(outcome, migrated_db, "source_a", "TLS with 127.0.0.1", "not retried")
    assert outcome.server.seen == []


def test_over_tls_a_dribbling_server_is_cut_at_the_job_deadline(
    migrated_db, authority, tmp_path, monkeypatch
):
    bundle = tmp_path / "authority.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    outcome = against(migrated_db, "source_a", dribbled_body, tls=served_with(authority))
    assert_failed_cleanly(
        outcome, migrated_db, "source_a", f"job deadline of {JOB_SECONDS:g} s passed"
    )
    assert outcome.seconds >= JOB_SECONDS and len(outcome.server.seen) >= 2


def test_a_redirect_to_another_origin_is_refused_and_the_token_does_not_follow(migrated_db):
    with hostile(lambda request, reply: reply.json({"data": [], "next_cursor": None})) as elsewhere:

        def redirect(request: Received, reply: Reply) -> None:
            reply.json({}, status=307, headers={"Location": f"{elsewhere.url}/v1/ad-stats"})

        outcome = against(migrated_db, "source_a", redirect)
    assert_failed_cleanly(outcome, migrated_db, "source_a", "redirected to another origin")
    assert elsewhere.seen == [] and len(outcome.server.seen) == 1


def test_a_redirect_within_the_origin_is_followed(migrated_db):
    def moved(request: Received, reply: Reply) -> None:
        if request.path != "/moved":
            return reply.json({}, status=301, headers={"Location": "/moved?cursor=x"})
        reply.json({"data": [a_row(1)], "next_cursor": None})

    outcome = against(migrated_db, "source_a", moved)
    assert outcome.result.status == "succeeded" and outcome.result.inserted == 1
    assert [r.path for r in outcome.server.seen] == ["/v1/ad-stats", "/moved"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in outcome.server.seen)


def test_the_doctor_does_not_rerun_a_job_whose_failure_a_retry_cannot_fix(migrated_db):
    with hostile(bad_gzip) as server:
        rerun = etl_runner(migrated_db, aimed("source_a", server.url), backoff_seconds=0.01)
        with pytest.raises(JobFailed) as failure:
            rerun.run("source_a", None, None)
    assert not failure.value.retryable and len(server.seen) == 1
    assert "Content-Encoding" in str(failure.value) and TOKEN not in str(failure.value)


# ---- pagination guards ---------------------------------------------------------------------------


def pages(answer: Callable[[int, Received], dict]) -> Scenario:
    """A scenario answering its n-th request (from 0) with `answer(n, request)`."""
    numbers = count()
    lock = threading.Lock()

    def scenario(request: Received, reply: Reply) -> None:
        with lock:
            n = next(numbers)
        reply.json(answer(n, request))

    return scenario


PAGINATION = {
    "a-new-cursor-same-page": (
        "source_a",
        pages(lambda n, r: {"data": [a_row(1)], "next_cursor": f"c{n}"}),
        "page 2 repeats page 1",
    ),
    "a-cursor-comes-back": (
        "source_a",
        pages(lambda n, r: {"data": [a_row(n)], "next_cursor": "again"}),
        "cursor 'again' came back twice",
    ),
    "a-new-cursor-new-rows-forever": (
        "source_a",
        pages(lambda n, r: {"data": [a_row(n)], "next_cursor": f"c{n}"}),
        f"job deadline of {JOB_SECONDS:g} s passed",
    ),
    "b-a-billion-pages-of-new-rows": (
        "source_b",
        pages(lambda n, r: {"results": [b_row(n)], "page": n + 1, "total_pages": 10**9}),
        f"job deadline of {JOB_SECONDS:g} s passed",
    ),
    "b-total-grows-every-page": (
        "source_b",
        pages(lambda n, r: {"results": [b_row(n)], "page": n + 1, "total_pages": n + 2}),
        "total_pages grew from 2 to 3",
    ),
    "b-always-page-one": (
        "source_b",
        pages(lambda n, r: {"results": [b_row(n)], "page": 1, "total_pages": 5}),
        "asked for page 2, answered page 1",
    ),
    "b-empty-page-before-the-end": (
        "source_b",
        pages(lambda n, r: {"results": [], "page": n + 1, "total_pages": 5}),
        "page 1 of 5 is empty",
    ),
    "b-total-not-a-count": (
        "source_b",
        pages(lambda n, r: {"results": [b_row(n)], "page": 1, "total_pages": 1e9}),
        "total_pages is not a count",
    ),
    "events-watermark-goes-back": (
        "events",
        pages(
            lambda n, r: {
                "events": [event(n, NOW - timedelta(hours=1 + n))],
                "has_more": True,
            }
        ),
        "the watermark went back",
    ),
    "events-watermark-stuck": (
        "events",
        pages(
            lambda n, r: {
                "events": [event(1, NOW - timedelta(hours=1), name=f"view-{n}")],
                "has_more": True,
            }
        ),
        "the watermark did not advance",
    ),
    "events-more-after-an-empty-page": (
        "events",
        pages(lambda n, r: {"events": [], "has_more": True}),
        "an empty page says it has more",
    ),
}


@pytest.mark.parametrize("case", list(PAGINATION))
def test_pagination_that_would_not_end_fails_the_job_with_the_reason(migrated_db, case):
    source, scenario, cause = PAGINATION[case]
    outcome = against(migrated_db, source, scenario)
    assert_failed_cleanly(outcome, migrated_db, source, cause)


# ---- rows: repeated members, the future, quarantine once -----------------------------------------


def assert_balanced(result: JobResult, dsn: str) -> None:
    __tracebackhide__ = True
    assert result.read == result.inserted + result.updated + result.unchanged + result.quarantined
    (record,) = [r for r in runs(dsn) if r["status"] == "succeeded"][-1:]
    assert (record["rows_read"], record["rows_quarantined"]) == (result.read, result.quarantined)


def test_a_row_repeating_a_member_is_quarantined_whole(migrated_db):
    row = json.dumps(event(1, NOW - timedelta(hours=2)))[:-1] + ', "event_name": "purchase"}'
    body = f'{{"events": [{row}, {json.dumps(event(2, NOW - timedelta(hours=1)))}], "has_more": false}}'
    outcome = against(migrated_db, "events", lambda request, reply: reply.json(body.encode()))
    result = outcome.result
    assert result.status == "succeeded", result.summary()
    assert (result.inserted, result.quarantined) == (1, 1)
    assert_balanced(result, migrated_db)
    ((_, _, raw, reason),) = quarantine(migrated_db)
    assert reason == "an object repeats member 'event_name'"
    assert '"event_name": "view"' in raw and '"event_name": "purchase"' in raw


def test_a_row_from_the_future_is_quarantined_and_does_not_move_the_watermark(migrated_db):
    good = [event(1, NOW - timedelta(hours=3)), event(2, NOW - timedelta(hours=2))]
    doomsday = event(3, datetime(9999, 12, 31, tzinfo=UTC))
    body = {"events": [*good, doomsday], "has_more": False}
    first = against(migrated_db, "events", lambda request, reply: reply.json(body))
    assert first.result.status == "succeeded", first.result.summary()
    assert (first.result.inserted, first.result.quarantined) == (2, 1)
    assert_balanced(first.result, migrated_db)
    ((_, _, _, reason),) = quarantine(migrated_db)
    assert reason == "'occurred_at' is in the future: 9999-12-31T00:00:00+00:00"
    (record,) = runs(migrated_db)
    assert record["watermark"] == NOW - timedelta(hours=2)
    again = against(migrated_db, "events", lambda request, reply: reply.json(body))
    assert again.result.status == "succeeded"
    second = runs(migrated_db)[1]
    assert second["window_start"] == record["watermark"] - OPTIONS.lookback
    assert second["window_end"] == NOW


def test_a_poisoned_watermark_in_the_ledger_is_ignored(migrated_db):
    with psycopg.connect(migrated_db) as conn:
        conn.execute(
            "INSERT INTO public.etl_runs (source, status, watermark) VALUES"
            " ('events', 'succeeded', '9999-12-31T00:00:00Z')"
        )
    body = {"events": [event(1, NOW - timedelta(hours=1))], "has_more": False}
    outcome = against(migrated_db, "events", lambda request, reply: reply.json(body))
    assert outcome.result.status == "succeeded" and outcome.result.inserted == 1
    latest = runs(migrated_db)[-1]
    assert latest["window_start"] < latest["window_end"] == NOW


def test_a_payload_rejected_again_by_a_look_back_rerun_is_counted_not_inserted_again(migrated_db):
    bad = {**a_row(9), "impressions": "many"}
    body = {"data": [a_row(1), bad, bad], "next_cursor": None}
    results = [
        against(migrated_db, "source_a", lambda request, reply: reply.json(body)).result
        for _ in range(3)
    ]
    assert [r.quarantined for r in results] == [2, 2, 2]
    for result in results:
        assert (
            result.read == result.inserted + result.updated + result.unchanged + result.quarantined
        )
    ledger = runs(migrated_db)
    assert [r["rows_quarantined"] for r in ledger] == [2, 2, 2]
    ((run_id, source, raw, reason),) = quarantine(migrated_db)
    assert (run_id, source) == (ledger[-1]["run_id"], "source_a")
    assert '"impressions": "many"' in raw and "'impressions'" in reason


# ---- the command line: `all` goes on, names each failure, exits 1 ---------------------------------


def test_all_runs_every_job_and_names_each_failure(migrated_db, fakes):
    env = fake_env(fakes, migrated_db)
    with hostile(dribbled_body) as slow, hostile(bad_gzip) as broken:
        env |= {
            "SOURCE_A_BASE_URL": slow.url,
            "GENERIC_SOURCE_A_TOKEN": TOKEN,
            "SOURCE_B_BASE_URL": broken.url,
            "GENERIC_SOURCE_B_TOKEN": TOKEN,
        }
        started = time.monotonic()
        done = subprocess.run(
            [
                *ETL_COMMAND,
                "all",
                "--request-timeout",
                str(REQUEST_SECONDS),
                "--job-timeout",
                str(JOB_SECONDS),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        seconds = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert seconds <= 2 * JOB_SECONDS + 2 * MARGIN_SECONDS
    target, *summaries = done.stdout.splitlines()
    assert target.startswith("target: "), done.stdout
    jobs = [line.split(":")[0] for line in summaries]
    assert jobs == ["events", "source_a", "source_b", "metrics", "all"], done.stdout
    failures = done.stderr.splitlines()
    assert len(failures) == 2, done.stderr
    assert failures[0].startswith("etl source_a: failed: ") and "deadline" in failures[0]
    assert failures[1].startswith("etl source_b: failed: ") and "Content-Encoding" in failures[1]
    assert "Traceback" not in done.stderr and TOKEN not in done.stdout + done.stderr
    ledger = {r["source"]: r["status"] for r in runs(migrated_db)}
    assert ledger == {
        "events": "succeeded",
        "source_a": "failed",
        "source_b": "failed",
        "metrics": "succeeded",
    }


# ---- any body at all --------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
source_a_bodies = st.fixed_dictionaries(
    {"data": st.lists(st.one_of(st.just(a_row(1)), json_values), max_size=5)},
    optional={"next_cursor": json_values},
)
bodies = st.one_of(
    source_a_bodies.map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_whatever_the_body_the_job_ends_in_one_line_with_its_row_closed(migrated_db, body):
    outcome = against(migrated_db, "source_a", lambda request, reply: reply.json(body))
    result = outcome.result
    assert outcome.seconds <= JOB_SECONDS + MARGIN_SECONDS
    assert result.status in ("succeeded", "failed")
    if result.status == "failed":
        assert "\n" not in result.error and TOKEN not in result.error
    assert result.read == result.inserted + result.updated + result.unchanged + result.quarantined
    latest = runs(migrated_db)[-1]
    assert latest["status"] == result.status
    assert latest["rows_read"] == result.read


def test_a_terminated_run_closes_its_ledger_row_and_says_so_in_one_line(migrated_db, fakes):
    env = fake_env(fakes, migrated_db)
    with hostile(dribbled_body) as slow:
        env |= {"SOURCE_A_BASE_URL": slow.url, "GENERIC_SOURCE_A_TOKEN": TOKEN}
        process = subprocess.Popen(
            [*ETL_COMMAND, "source-a", "--request-timeout", "60", "--job-timeout", "60"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not slow.seen:
            assert time.monotonic() < deadline and process.poll() is None, "no request came"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == EXIT_INTERRUPTED
    assert stderr.splitlines() == [
        "etl source_a: interrupted; the run's ledger row is closed failed"
    ]
    assert [(r["status"], r["error"]) for r in runs(migrated_db)] == [("failed", INTERRUPTED)]
