"""Part 3: owners and purposes (comment or declared) and their coverage."""

from __future__ import annotations

from dataclasses import replace

from selfheal.health.config import TableName


def test_migrated_tables_all_have_owner_and_purpose(audit):
    result = audit("socio_technical_alignment:owner_and_purpose")
    assert result.findings == []
    assert result.examined == "owner and purpose coverage: 6/6 tables"


def test_a_table_without_comment_or_declared_owner(audit, writer):
    writer.execute('CREATE TABLE public."Scratch Pad" (id int PRIMARY KEY)')
    writer.execute("CREATE TABLE public.notes (id int PRIMARY KEY)")
    writer.execute("COMMENT ON TABLE public.notes IS 'free-form notes of the analysts'")
    result = audit("socio_technical_alignment:owner_and_purpose")
    found = {f.subject: f.message for f in result.findings}
    assert found == {'public."Scratch Pad"': "no owner and no purpose", "public.notes": "no owner"}
    assert result.examined == "owner and purpose coverage: 6/8 tables"


def test_the_remedy_comments_on_the_object_by_its_own_kind(audit, writer):
    """PostgreSQL refuses COMMENT ON TABLE for a view; the advice must be runnable as written."""
    writer.execute("CREATE VIEW public.recent AS SELECT 1 AS x")
    writer.execute("CREATE MATERIALIZED VIEW public.totals AS SELECT 1 AS x")
    result = audit("socio_technical_alignment:owner_and_purpose")
    advice = {f.subject: f.remediation for f in result.findings}
    assert advice["public.recent"].startswith("COMMENT ON VIEW public.recent IS")
    assert advice["public.totals"].startswith("COMMENT ON MATERIALIZED VIEW public.totals IS")
    for remediation in advice.values():
        writer.execute(remediation.split("; or declare")[0])  # the statement as given runs
    assert audit("socio_technical_alignment:owner_and_purpose").findings == []


def test_a_declared_owner_counts(audit, writer, shipped_config):
    writer.execute("CREATE TABLE public.notes (id int PRIMARY KEY)")
    writer.execute("COMMENT ON TABLE public.notes IS 'free-form notes of the analysts'")
    config = replace(shipped_config, owners={TableName("public", "notes"): "analytics"})
    assert audit("socio_technical_alignment:owner_and_purpose", config).findings == []


def test_every_migrated_table_has_data_quality_rules(audit):
    result = audit("socio_technical_alignment:dq_coverage")
    assert result.findings == []
    assert result.examined.startswith("data-quality rule coverage: 6/6 tables")


def test_a_table_without_rules_lowers_the_coverage(audit, writer):
    writer.execute('CREATE TABLE public."Scratch Pad" (id int PRIMARY KEY)')
    result = audit("socio_technical_alignment:dq_coverage")
    assert [f.subject for f in result.findings] == ['public."Scratch Pad"']
    assert result.examined.startswith("data-quality rule coverage: 6/7 tables")


def test_unreadable_rules_are_an_error_finding(audit, shipped_config, tmp_path):
    (tmp_path / "events.toml").write_text('table = "events"\n[not_null]\ncolumn = 3\n')
    config = replace(shipped_config, dq_rules_dir=tmp_path)
    [finding] = audit("socio_technical_alignment:dq_coverage", config).findings
    assert finding.level == "error" and "events.toml" in finding.message
