"""The backlog: fingerprints, round trips, repeat failures, resolution, reopening, locking."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.tickets import (
    Backlog,
    HealAttempt,
    Observation,
    Ticket,
    fingerprint_of,
    load_tickets,
    parse,
    render,
    slug_of,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NODE = "checks/test_dq.py::test_rule[events.freshness.occurred_at]"


def failed(node: str = NODE, kind: str = "AssertionError", message: str = "3 rows") -> Observation:
    return Observation(node, "dq", "failed", kind, message, [{"event_id": "e1", "n": 1}])


def passed(node: str = NODE) -> Observation:
    return Observation(node, "dq", "passed")


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=300), st.text(max_size=40))
def test_slug_is_safe_bounded_and_stable(node_id: str, kind: str) -> None:
    slug = slug_of(node_id, fingerprint_of(node_id, kind))
    assert slug == slug_of(node_id, fingerprint_of(node_id, kind))
    assert len(slug) <= 70
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in slug)


def test_fingerprint_ignores_the_message_but_not_the_kind() -> None:
    assert failed(message="3 rows").fingerprint == failed(message="7 rows").fingerprint
    assert failed(kind="AssertionError").fingerprint != failed(kind="Timeout").fingerprint
    assert fingerprint_of(NODE, "x") == failed(kind="x").fingerprint


def test_a_ticket_round_trips_through_its_file(tmp_path: Path) -> None:
    backlog = Backlog(tmp_path)
    backlog.record_run([failed()], T0)
    backlog.record_heal(failed().fingerprint, HealAttempt(T0, "rerun etl", "failed", "boom -->"))
    (ticket,) = load_tickets(tmp_path)
    assert parse(render(ticket)) == ticket
    text = (tmp_path / ticket.filename).read_text()
    assert f"pytest '{NODE}'" in text and "| e1 | 1 |" in text and "rerun etl" in text


def test_repeat_failure_updates_then_pass_resolves_then_failure_reopens(tmp_path: Path) -> None:
    backlog = Backlog(tmp_path)
    assert len(backlog.record_run([failed(message="3 rows")], T0).opened) == 1
    changes = backlog.record_run([failed(message="9 rows")], T0 + timedelta(days=1))
    assert len(changes.updated) == 1 and not changes.opened
    (ticket,) = load_tickets(tmp_path)
    assert (ticket.occurrences, ticket.message, ticket.first_seen) == (2, "9 rows", T0)
    assert len(list(tmp_path.glob("READY_system_fix_*.md"))) == 1

    assert len(backlog.record_run([passed()], T0 + timedelta(days=2)).resolved) == 1
    assert not list(tmp_path.glob("READY_system_fix_*.md"))
    (ticket,) = load_tickets(tmp_path)
    assert ticket.status == "resolved"
    assert [outcome for _, outcome in ticket.history] == ["failed", "failed", "passed"]

    changes = backlog.record_run([failed()], T0 + timedelta(days=3))
    (ticket,) = load_tickets(tmp_path)
    assert changes.reopened and (ticket.status, ticket.reopened) == ("open", 1)
    assert not list((tmp_path / "resolved").glob("*.md"))


def test_secrets_are_redacted_everywhere(tmp_path: Path) -> None:
    backlog = Backlog(tmp_path, redact=lambda text: text.replace("hunter2", "***"))
    observation = Observation(NODE, "dq", "failed", "E", "password=hunter2", [{"dsn": "hunter2"}])
    backlog.record_run([observation], T0)
    backlog.record_heal(observation.fingerprint, HealAttempt(T0, "x", "failed", "hunter2"))
    assert "hunter2" not in "".join(p.read_text() for p in tmp_path.rglob("*.md"))


def _record_many(directory: str, worker: int) -> None:
    backlog = Backlog(Path(directory))
    for i in range(5):
        backlog.record_run([failed(node=f"checks/t.py::test_{worker}_{i}")], T0)
        backlog.record_run([failed(node="checks/t.py::shared")], T0)


def test_concurrent_runs_lose_no_update(tmp_path: Path) -> None:
    workers = [
        multiprocessing.get_context("fork").Process(target=_record_many, args=(str(tmp_path), w))
        for w in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    tickets = {t.node_id: t for t in load_tickets(tmp_path)}
    assert len(tickets) == 16
    assert tickets["checks/t.py::shared"].occurrences == 15


def test_one_broken_fixture_is_one_problem_per_run(tmp_path: Path) -> None:
    backlog = Backlog(tmp_path)
    broken = [
        Observation(
            f"checks/t.py::test_{i}",
            "schema",
            "failed",
            "DatabaseUnreachable",
            "",
            [],
            "setup@db.py:42",
        )
        for i in range(3)
    ]
    backlog.record_run(broken, T0)
    backlog.record_run(broken, T0 + timedelta(days=1))
    (ticket,) = load_tickets(tmp_path)
    assert (ticket.node_id, ticket.occurrences) == ("checks/t.py::test_0", 2)
    # the first check passes, but the others still break on the fixture: not resolved
    backlog.record_run([passed("checks/t.py::test_0"), *broken[1:]], T0 + timedelta(days=2))
    assert load_tickets(tmp_path)[0].status == "open"


@settings(max_examples=40, deadline=None)
@given(
    message=st.text(max_size=200),
    rows=st.lists(
        st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3), max_size=3
    ),
    node=st.text(min_size=1, max_size=80),
)
def test_any_text_round_trips(message: str, rows: list[dict], node: str) -> None:
    observation = Observation(node, "dq", "failed", "E", message, rows)
    made = Ticket(
        fingerprint=observation.fingerprint,
        slug=slug_of(node, observation.fingerprint),
        title=f"[dq] {node}",
        node_id=node,
        stage="dq",
        kind="E",
        status="open",
        first_seen=T0,
        last_seen=T0,
        message=message,
        sample_rows=rows,
        history=[(T0, "failed")],
    )
    assert parse(render(made)) == made
