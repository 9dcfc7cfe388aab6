"""The behaviour probes pass on the migrated schema with rows for two users, and catch leaks."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from selfheal.core.db import connect
from selfheal.rls.access import AccessFileError, load_access
from selfheal.rls.claims import claims
from selfheal.rls.probes import baseline, claims_violation, exact_violations, write_violations
from tests.rls.conftest import run_checks

ACCESS = Path(__file__).resolve().parents[2] / "checks" / "rls_access.toml"
ALICE, BOB = str(uuid.UUID(int=1)), str(uuid.UUID(int=2))

SEED = f"""
INSERT INTO public.events (event_id, user_id, event_name, occurred_at)
SELECT 'e' || g, CASE WHEN g % 3 = 0 THEN '{BOB}'::uuid ELSE '{ALICE}'::uuid END, 'view', now()
FROM generate_series(1, 9) g;
INSERT INTO public.ads_source_a (stat_date, campaign_id, ad_id) VALUES (current_date, 'c', 'a');
INSERT INTO public.etl_runs (source) VALUES ('events');
"""


@pytest.fixture
def seeded(migrated_db):
    with connect(migrated_db, autocommit=True) as conn:
        conn.execute(SEED)
    return migrated_db


@pytest.fixture
def tables():
    return {t.label: t for t in load_access(ACCESS)}


def _violations(dsn, access):
    with connect(dsn, read_only=True, autocommit=True) as conn:
        return exact_violations(conn, access, baseline(conn, access))


def test_declared_access_holds_for_every_table(seeded, tables):
    assert len(tables) == 6
    for access in tables.values():
        assert _violations(seeded, access) == [], access.label


def test_owners_are_probed_from_the_rows(seeded, tables):
    with connect(seeded, read_only=True) as conn:
        assert baseline(conn, tables["public.events"]).by_owner == {ALICE: 6, BOB: 3}


def test_a_leaky_policy_is_caught(seeded, tables, execute):
    execute(seeded, "CREATE POLICY leak ON public.events FOR SELECT TO authenticated USING (true)")
    messages = [v.message for v in _violations(seeded, tables["public.events"])]
    assert any("sees 9 rows, declared owner: 6" in m for m in messages), messages


def test_anon_leak_is_caught(seeded, tables, execute):
    execute(seeded, "CREATE POLICY leak ON public.ads_source_a FOR SELECT TO anon USING (true)")
    messages = [v.message for v in _violations(seeded, tables["public.ads_source_a"])]
    assert messages == ["anon as nobody sees 1 rows, declared none: 0"]


def test_probes_leave_no_trace(seeded, tables, snapshot_of):
    before = snapshot_of(seeded)
    _violations(seeded, tables["public.events"])
    assert snapshot_of(seeded) == before


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_claims_grant_more_than_declared(seeded, tables, data):
    access = tables["public.events"]
    with connect(seeded, read_only=True, autocommit=True) as conn:
        base = baseline(conn, access)
        text = data.draw(claims([ALICE, BOB]))
        assert claims_violation(conn, access, base, "authenticated", text) is None


def test_escalating_claims_are_caught_when_a_policy_trusts_them(seeded, tables, execute):
    execute(
        seeded,
        "CREATE POLICY trust ON public.events FOR SELECT TO authenticated "
        "USING ((select auth.jwt()) ->> 'role' = 'service_role')",
    )
    access = tables["public.events"]
    with connect(seeded, read_only=True, autocommit=True) as conn:
        base = baseline(conn, access)
        escalating = find(
            claims([ALICE, BOB]),
            lambda text: claims_violation(conn, access, base, "authenticated", text) is not None,
            # About one drawn claim in a hundred names a privileged role: 300 examples missed
            # them all in about one run in twenty.
            settings=settings(max_examples=3000, deadline=None, database=None),
        )
    assert json.loads(escalating)["role"] == "service_role"


@pytest.mark.parametrize(
    "using, leaks",
    [
        ("(select auth.jwt()) ->> 'role' = 'supabase_admin'", True),
        ("(select auth.jwt()) -> 'app_metadata' ->> 'role' = 'supabase_admin'", True),
        ("false", False),  # a policy no migration creates, trusting no claim: not this check's
    ],
)
def test_the_check_catches_a_policy_trusting_a_role_claim_every_time(
    seeded, execute, tmp_path, using, leaks
):
    """The claims check tries every privileged role claim, not only those drawn at random; the
    leak it finds is reported by its cause, the policy no migration creates."""
    execute(
        seeded, f"CREATE POLICY trust ON public.events FOR SELECT TO authenticated USING ({using})"
    )
    result = run_checks(
        seeded, tmp_path, "checks/test_rls.py", "-k", "escalating_claims and events"
    )
    assert result.returncode == (1 if leaks else 0), result.stdout[-3000:]
    reported = "exposure: policy public.events.trust exists in live" in result.stdout
    assert reported == leaks, result.stdout[-3000:]


def test_bad_declaration_names_the_table(tmp_path):
    path = tmp_path / "access.toml"
    path.write_text('[tables."public.t"]\nanon = "owner:user_id"\n')
    with pytest.raises(AccessFileError, match="public.t: only authenticated can be owner-scoped"):
        load_access(path)


def _columns(dsn, snapshot_of):
    return snapshot_of(dsn).columns_of("public", "events")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            "FOR DELETE TO authenticated USING (true)",
            "authenticated as a stranger could DELETE 9 rows",
        ),
        ("FOR INSERT TO anon WITH CHECK (true)", "anon as a stranger could INSERT 1 rows"),
    ],
)
def test_write_probes_catch_open_write_policies_and_roll_back(
    seeded, tables, execute, snapshot_of, policy, expected
):
    access = tables["public.events"]
    with connect(seeded, autocommit=True) as conn:
        assert write_violations(conn, access, _columns(seeded, snapshot_of)) == []
    execute(seeded, f"CREATE POLICY w ON public.events {policy}")
    with connect(seeded, autocommit=True) as conn:
        messages = [
            v.message for v in write_violations(conn, access, _columns(seeded, snapshot_of))
        ]
        assert messages == [expected]
        assert conn.execute("SELECT count(*) FROM public.events").fetchone()[0] == 9
