"""Connection strings: strict parsing, redaction safe on any input, no password in any message."""

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfheal.core.db import DatabaseUnreachable, connect
from selfheal.core.dsn import UNPARSEABLE, DsnError, parse_dsn, redact_dsn
from selfheal.core.settings import Settings, SettingsError

# A character that appears nowhere else in the generated URLs marks the password, so "the output
# does not contain the password" cannot pass or fail by coincidence.
MARK = "☃"
passwords = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
).map(lambda text: MARK + text)
hosts = st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True)
users = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)


@pytest.mark.parametrize(
    "password", ["pa/ss-hidden", "p@ss-hidden", "12/ab-hidden", "x?y/z-hidden", "a#b/c-hidden"]
)
def test_an_unencoded_slash_or_at_in_the_password_names_the_variable_and_says_to_encode(
    password: str,
) -> None:
    url = f"postgresql://app:{password}@db.example.com:5432/prod"
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ={"SUPABASE_DB_URL": url}, dotenv_path=None)
    message = str(caught.value)
    assert "SUPABASE_DB_URL" in message and "percent-encode" in message
    assert "hidden" not in message


@pytest.mark.parametrize("password", ["p?ss", "p#ss", "p[ss]", "p:ss", "p/ss@x"])
def test_a_percent_encoded_password_reads_back_exactly(password: str) -> None:
    url = f"postgresql://app:{quote(password, safe='')}@db.example.com:6543/prod"
    parts = parse_dsn(url)
    assert (parts["password"], parts["host"], parts["port"]) == (password, "db.example.com", "6543")
    assert redact_dsn(url) == "app@db.example.com:6543/prod"


@pytest.mark.parametrize("password", ["p?ss", "p#ss"])
def test_question_and_hash_marks_that_libpq_reads_unambiguously_are_accepted(password: str) -> None:
    assert parse_dsn(f"postgresql://app:{password}@h/db")["password"] == password


def test_a_non_numeric_port_is_refused_without_echoing_it() -> None:
    with pytest.raises(DsnError) as caught:
        parse_dsn("postgresql://h:secretish/db")
    assert "secretish" not in str(caught.value)


@given(st.text())
def test_redaction_never_fails(text: str) -> None:
    assert isinstance(redact_dsn(text), str)


@given(users, passwords, hosts, st.sampled_from(["postgresql", "postgres"]))
def test_redaction_never_shows_the_password_nor_the_user_information(
    user: str, password: str, host: str, scheme: str
) -> None:
    """Whatever the password holds, encoded or not: neither it nor anything between `://` and
    the last `@` appears in the redacted form."""
    for written in (password, quote(password, safe="")):
        url = f"{scheme}://{user}:{written}@{host}:5432/prod"
        shown = redact_dsn(url)
        assert MARK not in shown and written not in shown
        assert url[url.index("://") + 3 : url.rindex("@")] not in shown
        assert shown in (UNPARSEABLE, f"{user}@{host}:5432/prod")


@given(passwords)
def test_redaction_of_keyword_strings_never_shows_the_password(password: str) -> None:
    escaped = password.replace("\\", "\\\\").replace("'", "\\'")
    dsn = f"host=db.internal user=app password='{escaped}' dbname=prod"
    assert MARK not in redact_dsn(dsn)


def test_connecting_with_a_malformed_url_says_why_without_the_password() -> None:
    with pytest.raises(DatabaseUnreachable) as caught:
        connect("postgresql://app:pa/zq-hidden@127.0.0.1:1/prod", connect_timeout=1)
    assert "percent-encode" in str(caught.value)
    assert "zq" not in str(caught.value) and "hidden" not in str(caught.value)


def test_a_rejected_secret_is_still_redacted_wherever_it_shows() -> None:
    url = "postgresql://app:pa/ss-hidden@db.example.com/prod"
    settings = Settings.from_env(environ={"SUPABASE_DB_URL": url}, dotenv_path=None, strict=False)
    assert "SUPABASE_DB_URL" in settings.problems and not settings.live
    assert url in settings.secrets() and "pa/ss-hidden" in settings.secrets()
