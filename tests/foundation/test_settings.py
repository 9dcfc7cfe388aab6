from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfheal.core.settings import (
    DEFAULT_TZ,
    Secret,
    Settings,
    SettingsError,
    redact_dsn,
    required_dsn,
)


def test_defaults_without_any_variable():
    settings = Settings.from_env(environ={}, dotenv_path=None)
    assert settings.tz == DEFAULT_TZ
    assert not settings.live
    assert settings.migrations_dir == Path("migrations")


def test_every_malformed_variable_is_named_at_once():
    environ = {
        "TZ": "Mars/Olympus",
        "RUN_BACKFILL": "maybe",
        "BACKFILL_START": "2024-13-01",
        "BACKFILL_SOURCES": "events,nope",
        "SOURCE_A_BASE_URL": "ftp://x",
    }
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ=environ, dotenv_path=None)
    assert set(caught.value.problems) == set(environ)
    for name in environ:
        assert name in str(caught.value)


def test_missing_dsn_names_the_variable():
    with pytest.raises(SettingsError, match="SUPABASE_DB_URL"):
        required_dsn(Settings.from_env(environ={}, dotenv_path=None))


def test_backfill_window_must_be_ordered():
    environ = {"BACKFILL_START": "2024-02-02", "BACKFILL_END": "2024-02-01"}
    with pytest.raises(SettingsError, match="BACKFILL_END"):
        Settings.from_env(environ=environ, dotenv_path=None)


def test_dotenv_is_read_and_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("TZ=Europe/Paris\nRUN_BACKFILL=true\n")
    settings = Settings.from_env(environ={"TZ": "Asia/Tokyo"}, dotenv_path=dotenv)
    assert settings.tz == "Asia/Tokyo"
    assert settings.run_backfill is True


def test_lenient_parsing_lists_problems_and_keeps_defaults():
    settings = Settings.from_env(environ={"TZ": "Nowhere"}, dotenv_path=None, strict=False)
    assert "TZ" in settings.problems
    assert settings.tz == DEFAULT_TZ


def test_secrets_never_show_in_repr_or_errors():
    environ = {
        "SUPABASE_DB_URL": "postgresql://app:hunter2-secret@db.example.com:6543/prod",
        "GENERIC_SOURCE_A_TOKEN": "tok-aaa-secret",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.test/services/T0/B0/secretpath",
    }
    settings = Settings.from_env(environ=environ, dotenv_path=None)
    shown = repr(settings) + str(settings)
    for secret in ("hunter2-secret", "tok-aaa-secret", "secretpath"):
        assert secret not in shown
    assert sorted(settings.secrets()) == sorted([*environ.values(), "hunter2-secret"])


def test_malformed_dsn_error_does_not_echo_the_password():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            environ={"SUPABASE_DB_URL": "host=x password=hunter2 =broken"}, dotenv_path=None
        )
    assert "SUPABASE_DB_URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:pw@h.example:6543/db", "u@h.example:6543/db"),
        ("host=localhost port=5433 user=me password=pw dbname=x", "me@localhost:5433/x"),
        ("postgresql://h/db", "h:5432/db"),
    ],
)
def test_redact_dsn_keeps_host_port_database_only(dsn, shown):
    assert redact_dsn(dsn) == shown


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=40,
    )
)
def test_redact_dsn_never_contains_the_password(password):
    from psycopg.conninfo import make_conninfo

    dsn = make_conninfo(host="db.internal", port=5432, user="app", dbname="prod", password=password)
    assert redact_dsn(dsn) == "app@db.internal:5432/prod"
    assert repr(Secret(dsn)) == "Secret('***')"


def test_env_example_documents_every_variable():
    from selfheal.core.settings import VARIABLES

    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert documented == {v.name for v in VARIABLES}
    parsed = Settings.from_env(
        environ={}, dotenv_path=Path(__file__).resolve().parents[2] / ".env.example"
    )
    assert not parsed.problems
