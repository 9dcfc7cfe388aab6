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


def test_a_declared_owner_counts(audit, writer, shipped_config):
    writer.execute("CREATE TABLE public.notes (id int PRIMARY KEY)")
    writer.execute("COMMENT ON TABLE public.notes IS 'free-form notes of the analysts'")
    config = replace(shipped_config, owners={TableName("public", "notes"): "analytics"})
    assert audit("socio_technical_alignment:owner_and_purpose", config).findings == []
