"""The backlog: identities, round trips, repeat failures, resolution, reopening, locking, and
the upgrade of tickets written before problems had codes."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.run.problem import CHECK_FAILED, Evidence, Problem, fingerprint_of, setup_code
from selfheal.run.tickets import (
    Backlog,
    HealAttempt,
    Observation,
    Ticket,
    load_tickets,
    parse,
    render,
    slug_of,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NODE = "checks/test_dq.py::test_rule[events.freshness.occurred_at]"
FRESHNESS = "dq.freshness"
EVENTS = "public.events.occurred_at"


def problem(code: str = FRESHNESS, obj: str = EVENTS, message: str = "3 rows") -> Problem:
    return Problem(code, obj, message, evidence=Evidence(samples=({"event_id": "e1", "n": 1},)))


def failed(
    node: str = NODE,
    code: str = FRESHNESS,
    message: str = "3 rows",
    obj: str = EVENTS,
    error_type: str = "AssertionError",
) -> Observation:
    return Observation(node, "dq", "failed", problem(code, obj, message), error_type)


def passed(node: str = NODE) -> Observation:
    return Observation(node, "dq", "passed")


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=300), st.text(max_size=40))
def test_slug_is_safe_bounded_and_stable(node_id: str, obj: str) -> None:
    slug = slug_of(node_id, fingerprint_of(FRESHNESS, obj))
    assert slug == slug_of(node_id, fingerprint_of(FRESHNESS, obj))
    assert len(slug) <= 70
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in slug)


def test_identity_is_code_and_object_never_the_message_the_node_or_the_exception() -> None:
    assert failed(message="3 rows").fingerprint == failed(message="7 rows").fingerprint
    assert failed(node=NODE).fingerprint == failed(node="checks/renamed.py::t").fingerprint
    assert failed(error_type="Timeout").fingerprint == failed().fingerprint
    assert failed(code="dq.not_null").fingerprint != failed().fingerprint
    assert failed(obj="public.events.user_id").fingerprint != failed().fingerprint
    assert fingerprint_of(FRESHNESS, EVENTS) == failed().fingerprint


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
    leaky = Problem(
        FRESHNESS, EVENTS, "password=hunter2", evidence=Evidence(samples=({"dsn": "hunter2"},))
    )
    observation = Observation(NODE, "dq", "failed", leaky, "E")
    backlog.record_run([observation], T0)
    backlog.record_heal(observation.fingerprint, HealAttempt(T0, "x", "failed", "hunter2"))
    assert "hunter2" not in "".join(p.read_text() for p in tmp_path.rglob("*.md"))


def _record_many(directory: str, worker: int) -> None:
    backlog = Backlog(Path(directory))
    for i in range(5):
        own = f"checks/t.py::test_{worker}_{i}"
        backlog.record_run([failed(node=own, obj=own)], T0)
        backlog.record_run([failed(node="checks/t.py::shared", obj="shared")], T0)


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
    unreachable = Problem(setup_code("db"), "", "fixture db failed: unreachable")
    broken = [
        Observation(
            f"checks/t.py::test_{i}", "schema", "failed", unreachable, "DatabaseUnreachable"
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
    made = Ticket(
        fingerprint=fingerprint_of(CHECK_FAILED, node),
        slug=slug_of(node, fingerprint_of(CHECK_FAILED, node)),
        title=f"[dq] {node}",
        node_id=node,
        stage="dq",
        kind="E",
        code=CHECK_FAILED,
        object=node,
        status="open",
        first_seen=T0,
        last_seen=T0,
        message=message,
        sample_rows=rows,
        history=[(T0, "failed")],
    )
    assert parse(render(made)) == made


def test_a_renamed_check_keeps_its_ticket_and_its_pass_resolves_it(tmp_path: Path) -> None:
    backlog = Backlog(tmp_path)
    renamed = "checks/test_dq.py::test_rule_renamed[events.fresh]"
    backlog.record_run([failed()], T0)
    changes = backlog.record_run([failed(node=renamed)], T0 + timedelta(days=1))
    assert changes.updated and not changes.opened
    (ticket,) = load_tickets(tmp_path)
    assert (ticket.node_id, ticket.occurrences) == (renamed, 2)
    assert ticket.reproduce == f"pytest '{renamed}'"
    backlog.record_run([passed(renamed)], T0 + timedelta(days=2))
    assert load_tickets(tmp_path)[0].status == "resolved"


def test_a_check_that_still_fails_resolves_the_problems_it_no_longer_finds(
    tmp_path: Path,
) -> None:
    backlog = Backlog(tmp_path)
    column = failed(code="schema.column_type")
    default = failed(code="schema.column_default")
    backlog.record_run([column, default], T0)
    # the check ran to its verdict and found only one of the two: it vouches for the other
    backlog.record_run([column, passed()], T0 + timedelta(days=1))
    status = {t.code: t.status for t in load_tickets(tmp_path)}
    assert status == {"schema.column_type": "open", "schema.column_default": "resolved"}


def _legacy_file(directory: Path, slug: str, kind: str, at: datetime, outcome: str) -> None:
    """A ticket as selfheal wrote it before problems had codes (keyed on node id and kind)."""
    record = {
        "fingerprint": f"old{slug}",
        "slug": slug,
        "title": f"[dq] test_rule fails ({kind})",
        "node_id": NODE,
        "stage": "dq",
        "kind": kind,
        "status": "open",
        "first_seen": at.isoformat(),
        "last_seen": at.isoformat(),
        "occurrences": 2,
        "reopened": 0,
        "history": [[at.isoformat(), outcome]],
        "message": f"{kind}: 3 rows",
        "sample_rows": [],
        "heals": [{"at": at.isoformat(), "remedy": "rerun", "outcome": "planned", "detail": ""}],
        "resolved_at": None,
    }
    text = "<!-- selfheal-ticket\n" + json.dumps(record) + "\n-->\n# old ticket\n"
    (directory / f"READY_system_fix_{slug}.md").write_text(text)


def test_old_tickets_are_upgraded_merged_and_taken_over_by_the_named_problem(
    tmp_path: Path,
) -> None:
    tmp_path.mkdir(exist_ok=True)
    _legacy_file(tmp_path, "rule_aaaa", "AssertionError", T0, "failed")
    _legacy_file(tmp_path, "rule_bbbb", "Timeout", T0 + timedelta(days=1), "failed")

    (ticket,) = load_tickets(tmp_path)  # read-only: upgraded and merged in memory
    assert (ticket.code, ticket.object) == (CHECK_FAILED, NODE)
    assert ticket.fingerprint == fingerprint_of(CHECK_FAILED, NODE)
    assert (ticket.occurrences, ticket.kind, ticket.first_seen) == (4, "Timeout", T0)
    assert len(ticket.history) == 2 and len(ticket.heals) == 2
    assert len(list(tmp_path.glob("READY_*.md"))) == 2  # nothing written yet

    backlog = Backlog(tmp_path)
    changes = backlog.record_run([failed()], T0 + timedelta(days=2))
    assert changes.updated and not changes.opened  # the check's named problem took it over
    (ticket,) = load_tickets(tmp_path)
    assert (ticket.code, ticket.object, ticket.occurrences) == (FRESHNESS, EVENTS, 5)
    assert ticket.fingerprint == failed().fingerprint and ticket.slug == "rule_aaaa"
    files = list(tmp_path.glob("READY_*.md"))
    assert [f.name for f in files] == ["READY_system_fix_rule_aaaa.md"]
    assert '"code": "dq.freshness"' in files[0].read_text()
