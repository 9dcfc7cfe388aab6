"""Part 2: a failing source names the tables downstream of it (declared and from views)."""

from __future__ import annotations

from selfheal.health.config import TableName
from selfheal.health.lineage import reachable

from .conftest import add_run, load_fresh_data

A, B, C, D = (TableName("public", name) for name in "abcd")


def test_reachable_is_transitive_and_tolerates_cycles():
    graph = {A: {B}, B: {C, A}, C: {D}}
    assert reachable(graph, A) == [B, C, D]
    assert reachable(graph, D) == []


def test_fresh_sources_have_no_second_order_effects(audit, writer):
    load_fresh_data(writer)
    assert audit("second_order_effects:failing_upstream").findings == []
    assert audit("second_order_effects:affected_downstream").findings == []


def test_stale_source_flags_the_declared_downstream(audit, writer):
    load_fresh_data(writer)
    writer.execute("UPDATE public.ads_source_a SET loaded_at = now() - interval '3 days'")
    [upstream] = audit("second_order_effects:failing_upstream").findings
    assert upstream.subject == "public.ads_source_a"
    assert "is stale" in upstream.message
    assert upstream.message.endswith("downstream affected: public.daily_metrics")
    [downstream] = audit("second_order_effects:affected_downstream").findings
    assert downstream.subject == "public.daily_metrics"
    assert "public.ads_source_a is stale" in downstream.message


def test_failed_load_flags_views_derived_from_the_catalog(audit, writer):
    load_fresh_data(writer)
    writer.execute(
        'CREATE VIEW public."Spend By Day" AS SELECT metric_date, sum(spend) AS spend'
        " FROM public.daily_metrics GROUP BY metric_date"
    )
    writer.execute('CREATE VIEW public.spend_report AS SELECT * FROM public."Spend By Day"')
    add_run(writer, "source_b", "failed", hours_ago=0.5, minutes=1, error="HTTP 500 from source B")
    [upstream] = audit("second_order_effects:failing_upstream").findings
    assert upstream.subject == "public.ads_source_b"
    assert "HTTP 500 from source B" in upstream.message
    downstream = audit("second_order_effects:affected_downstream").findings
    assert [f.subject for f in downstream] == [
        'public."Spend By Day"',
        "public.daily_metrics",
        "public.spend_report",
    ]


def test_empty_source_is_never_loaded(audit):
    subjects = {
        f.subject: f.message for f in audit("second_order_effects:failing_upstream").findings
    }
    assert "never loaded" in subjects["public.events"]
    assert "public.daily_metrics" in subjects["public.events"]
