"""checks/health.toml: what it declares, and clear errors naming the file and the entry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.health.config import (
    DEFAULT_THRESHOLDS,
    HealthConfigError,
    TableName,
    load_config,
    parse_table,
)

DAILY = TableName("public", "daily_metrics")


def test_shipped_config_declares_the_daily_metrics_lineage(shipped_config):
    assert set(shipped_config.lineage[DAILY]) == {
        TableName("public", "ads_source_a"),
        TableName("public", "ads_source_b"),
        TableName("public", "events"),
    }
    assert shipped_config.etl_sources["metrics"] == DAILY
    assert set(shipped_config.thresholds) == set(DEFAULT_THRESHOLDS)


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("[thresholds]\nbloat_ratio = -1\n", "[thresholds] bloat_ratio"),
        ("[thresholds]\nbloat = 0.5\n", "[thresholds] bloat: unknown threshold"),
        ('[levels]\nbloat = "fatal"\n', "[levels] bloat"),
        ('[lineage]\n"a.b.c" = ["x"]\n', "'a.b.c' is not a table name"),
        ('[references]\n"events" = "public.x.y"\n', "[references] 'events'"),
        ("[freshness]\nevents = { column = 'loaded_at' }\n", "max_age_hours"),
        ("schemas = [", "health.toml"),
    ],
)
def test_errors_name_the_file_and_the_entry(tmp_path, text, culprit):
    path = tmp_path / "health.toml"
    path.write_text(text)
    with pytest.raises(HealthConfigError) as error:
        load_config(path)
    assert str(path) in str(error.value) and culprit in str(error.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(HealthConfigError, match="nowhere.toml"):
        load_config(tmp_path / "nowhere.toml")


def test_unknown_threshold_override_is_refused(shipped_config):
    with pytest.raises(HealthConfigError, match="unknown threshold"):
        shipped_config.with_thresholds(bloat=1)


def test_bare_and_quoted_names():
    assert parse_table("events") == TableName("public", "events")
    assert parse_table('"My Schema"."odd.""name"""') == TableName("My Schema", 'odd."name"')


NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=63)


@settings(max_examples=50, deadline=None)
@given(NAMES, NAMES)
def test_displayed_names_parse_back(schema, name):
    table = TableName(schema, name)
    assert parse_table(str(table)) == table
