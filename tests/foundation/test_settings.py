from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfheal.core.dsn import redact_dsn
from selfheal.core.settings import (
    DEFAULT_TZ,
    README_END,
    README_START,
    VARIABLES,
    Secret,
    Settings,
    SettingsError,
    env_example,
    required_dsn,
    variables_table,
    with_variables_table,
)

ROOT = Path(__file__).resolve().parents[2]


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
    example = (ROOT / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert documented == {v.name for v in VARIABLES}
    parsed = Settings.from_env(environ={}, dotenv_path=ROOT / ".env.example")
    assert not parsed.problems
    assert parsed == Settings()  # the example's values are the declared defaults


REGENERATE = "out of step with the declarations: run `python -m selfheal.core.settings`"


def test_env_example_and_readme_table_are_generated_from_the_declarations():
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == env_example(), REGENERATE
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert with_variables_table(readme) == readme, REGENERATE
    for variable in VARIABLES:
        assert f"| `{variable.name}` |" in readme


def test_a_readme_without_the_markers_is_named():
    with pytest.raises(ValueError, match="markers"):
        with_variables_table("# a README\n" + README_START + "\n")
    regenerated = with_variables_table(f"before\n{README_START}\nstale\n{README_END}\nafter")
    assert regenerated == f"before\n{README_START}\n{variables_table()}\n{README_END}\nafter"


def test_each_declaration_gives_one_field_with_its_default():
    defaults = Settings()
    assert [v.attribute for v in VARIABLES] == list(
        name for name in Settings.__dataclass_fields__ if name in {v.attribute for v in VARIABLES}
    )
    for variable in VARIABLES:
        assert getattr(defaults, variable.attribute) == variable.default
    assert len({v.name for v in VARIABLES}) == len(VARIABLES)


def test_settings_parse_again_from_their_raw_values_alone(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("TZ=Europe/Paris\nSELFHEAL_CONNECT_TIMEOUT=3\nNOT_OURS=x\n")
    settings = Settings.from_env(environ={"RUN_BACKFILL": "yes"}, dotenv_path=dotenv)
    assert settings.raw == {
        "TZ": "Europe/Paris",
        "SELFHEAL_CONNECT_TIMEOUT": "3",
        "RUN_BACKFILL": "yes",
    }
    assert Settings.parse(settings.raw) == settings
    assert settings.is_set("TZ") and not settings.is_set("SELFHEAL_DQ_DIR")


def test_require_names_each_unset_variable():
    settings = Settings.from_env(environ={"SOURCE_A_BASE_URL": "http://a"}, dotenv_path=None)
    assert settings.require("source_a_base_url") == ("http://a",)
    with pytest.raises(SettingsError) as caught:
        settings.require("source_a_base_url", "source_a_token", "events_token")
    assert set(caught.value.problems) == {"GENERIC_SOURCE_A_TOKEN", "EVENTS_SOURCE_TOKEN"}


def test_a_supabase_cli_project_defaults_to_its_migrations_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings.parse({}).migrations_dir == Path("migrations")
    (tmp_path / "supabase" / "migrations").mkdir(parents=True)
    assert Settings.parse({}).migrations_dir == Path("supabase/migrations")
    chosen = Settings.parse({"MIGRATIONS_DIR": "db/migrations"}).migrations_dir
    assert chosen == Path("db/migrations")  # the variable still wins
