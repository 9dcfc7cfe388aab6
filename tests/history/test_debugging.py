"""Debugging gives the verdict the full run gave: `python -m etl`, `pytest -m dq` and
`pytest -k` all see the one embedded default, so a ticket stays open until the data is fixed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from selfheal.core.cluster import shared_cluster
from selfheal.core.target import EMBEDDED_DBNAME
from selfheal.run.tickets import load_tickets

ROOT = Path(__file__).resolve().parents[2]
RULE = "events and accepted_values"


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPABASE_")}
    env |= {"SELFHEAL_REPORTS_DIR": str(tmp / "reports"), "SELFHEAL_BACKLOG_DIR": str(tmp / "bl")}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def _pytest(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(["-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "dq", *args], tmp)


def _write(folder: Path, statement: str) -> None:
    with (
        shared_cluster(folder) as cluster,
        psycopg.connect(cluster.dsn(EMBEDDED_DBNAME), autocommit=True) as conn,
    ):
        conn.execute(statement)


def _ticket_status(tmp: Path) -> str:
    (ticket,) = [t for t in load_tickets(tmp / "bl") if t.code == "dq.accepted_values"]
    return ticket.status


def test_a_failing_rule_fails_alone_too_until_the_data_is_fixed(
    tmp_path: Path, throwaway_embedded_default: Path
) -> None:
    loaded = _run(["-m", "etl", "all", "--fake", "7"], tmp_path)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert loaded.stdout.startswith("target: the embedded default")
    _write(
        throwaway_embedded_default,
        "INSERT INTO public.events (event_id, user_id, event_name, occurred_at) "
        "VALUES ('bad-1', gen_random_uuid(), 'bogus', now() - interval '1 hour')",
    )
    full = _pytest(tmp_path)
    assert full.returncode == 1 and "events.accepted_values.event_name" in full.stdout
    assert full.stdout.startswith("target: the embedded default")
    assert _ticket_status(tmp_path) == "open"

    alone = _pytest(tmp_path, "-k", RULE)
    assert alone.returncode == 1, "the rule alone sees the data the full run saw"
    assert _ticket_status(tmp_path) == "open"

    _write(throwaway_embedded_default, "DELETE FROM public.events WHERE event_id = 'bad-1'")
    fixed = _pytest(tmp_path, "-k", RULE)
    assert fixed.returncode == 0, fixed.stdout[-2000:]
    assert _ticket_status(tmp_path) == "resolved"
