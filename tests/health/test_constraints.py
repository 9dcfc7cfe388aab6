"""Part 4: each finding appears for real, its remediation clears it."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from selfheal.health.config import Reference, TableName

ODD_PARENT = 'Odd "Parent" ünï'
ODD_CHILD = "select"  # a reserved word


def test_fk_without_index_is_found_and_its_remedy_clears_it(audit, writer):
    parent = sql.Identifier("public", ODD_PARENT)
    writer.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(parent))
    writer.execute(
        sql.SQL('CREATE TABLE {} ("Parent Id" int REFERENCES {})').format(
            sql.Identifier("public", ODD_CHILD), parent
        )
    )
    [finding] = audit("constraint_propagation:fk_without_index").findings
    assert finding.subject == 'public."select"("Parent Id")'  # quoted as quote_ident quotes
    assert finding.level == "warn"
    writer.execute(finding.remediation)
    assert audit("constraint_propagation:fk_without_index").findings == []


def test_migrated_schema_indexes_its_foreign_key(audit):
    result = audit("constraint_propagation:fk_without_index")
    assert result.findings == []
    assert "foreign keys" in result.examined


def test_not_valid_constraint_is_found_until_validated(audit, writer):
    writer.execute(
        'ALTER TABLE public.events ADD CONSTRAINT "Name Not Blank"'
        " CHECK (event_name <> '') NOT VALID"
    )
    [finding] = audit("constraint_propagation:not_valid_constraint").findings
    assert finding.subject == 'public.events."Name Not Blank"'
    writer.execute(finding.remediation)
    assert audit("constraint_propagation:not_valid_constraint").findings == []


def _leave_invalid_index(writer):
    """A unique index built concurrently over duplicates fails and stays behind, invalid."""
    writer.execute("CREATE TABLE public.dupes (v int)")
    writer.execute("INSERT INTO public.dupes VALUES (1), (1)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        writer.execute("CREATE UNIQUE INDEX CONCURRENTLY dupes_v_key ON public.dupes (v)")


def test_failed_concurrent_index_build_leaves_an_invalid_index(audit, writer):
    _leave_invalid_index(writer)
    [finding] = audit("constraint_propagation:invalid_index").findings
    assert (finding.subject, finding.level) == ("public.dupes_v_key", "error")


def test_orphans_of_a_declared_reference_without_fk(audit, writer, shipped_config):
    writer.execute(
        "INSERT INTO public.etl_quarantine (source, raw_payload, reason)"
        " VALUES ('ghost', '{}', 'x'), ('ghost', '{}', 'y')"
    )
    [finding] = audit("constraint_propagation:orphan_rows").findings
    assert finding.level == "error"
    assert finding.subject == "public.etl_quarantine.source -> public.etl_runs.source"
    assert "2 row(s)" in finding.message and "'ghost'" in finding.message
    writer.execute("INSERT INTO public.etl_runs (source, status) VALUES ('ghost', 'succeeded')")
    assert audit("constraint_propagation:orphan_rows").findings == []


def test_a_reference_enforced_by_a_foreign_key_is_not_scanned(audit, shipped_config):
    enforced = Reference(
        TableName("public", "etl_quarantine"), "run_id", TableName("public", "etl_runs"), "run_id"
    )
    config = _with_references(shipped_config, enforced)
    result = audit("constraint_propagation:orphan_rows", config)
    assert result.findings == []


def test_a_reference_to_a_missing_column_is_reported(audit, shipped_config):
    wrong = Reference(
        TableName("public", "events"), "campaign", TableName("public", "nowhere"), "id"
    )
    [finding] = audit(
        "constraint_propagation:orphan_rows", _with_references(shipped_config, wrong)
    ).findings
    assert "public.events.campaign" in finding.message and "public.nowhere.id" in finding.message


def _with_references(config, *references):
    return replace(config, references=references)


def test_a_configured_level_replaces_the_checks_own(audit, writer, shipped_config):
    _leave_invalid_index(writer)
    config = replace(shipped_config, levels={"invalid_index": "info"})
    [finding] = audit("constraint_propagation:invalid_index", config).findings
    assert finding.level == "info"
