"""Connection strings: parsed strictly, printed only redacted.

libpq reads `postgresql://user:password@host/db` by cutting the authority at the first `/` and
the user information at the first `@`. A password holding an unencoded `/` or `@` is therefore
read as a host, a port or a database name, and anything that prints those would print the
password. `parse_dsn` refuses such URLs with a message that says how to fix them and never
echoes the value; `redact_dsn` prints `user@host:port/dbname` only for a string that parses
strictly, and a fixed placeholder for anything else.
"""

from __future__ import annotations

import re

from psycopg.conninfo import conninfo_to_dict

URL_SCHEME = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
PORTS = re.compile(r"^[0-9]*(,[0-9]*)*$")
UNPARSEABLE = "<unparseable connection string>"
ENCODING_HINT = (
    "in a URL, percent-encode reserved characters of the user name, password and database "
    "name (@ as %40, / as %2F, : as %3A, ? as %3F, # as %23, a space as %20)"
)


class DsnError(ValueError):
    """A connection string that cannot be read unambiguously; the message never shows it."""


def parse_dsn(raw: str) -> dict[str, str]:
    """The connection parameters of a libpq keyword string or URL, read strictly."""
    if URL_SCHEME.match(raw):
        _refuse_ambiguous_url(raw)
    try:
        parts = conninfo_to_dict(raw)
    except Exception:
        # libpq's message quotes the offending token, which may be the password: never chain it.
        raise DsnError(
            f"is not a valid PostgreSQL connection string or URL; {ENCODING_HINT}"
        ) from None
    if not PORTS.match(parts.get("port") or ""):
        raise DsnError(f"has a port that is not a number; {ENCODING_HINT}")
    return parts


def _refuse_ambiguous_url(url: str) -> None:
    """Refuse a URL whose user information libpq would split somewhere the writer did not mean.

    libpq ends the authority at the first `/` and the user information at the first `@` in it.
    A second `@` in the authority, or an `@` in the path, means an unencoded `@` or `/` (or a
    `#` or `?` followed by one) in the user name or password: part of the password would be
    read as the host, the port or the database.
    """
    rest = URL_SCHEME.sub("", url, count=1)
    authority, _, path_and_query = rest.partition("/")
    host_part = authority.partition("@")[2] if "@" in authority else authority
    path = path_and_query.split("?", 1)[0]
    if "@" in host_part or "@" in path:
        raise DsnError(
            "has an unencoded '@' or '/' in its user name or password, so it cannot be read "
            f"unambiguously; {ENCODING_HINT}"
        )


def dsn_password(dsn: str) -> str | None:
    """The password a connection string carries, if it parses strictly."""
    try:
        return parse_dsn(dsn).get("password") or None
    except DsnError:
        return None


def intended_password(raw: str) -> str:
    """What the writer of a URL meant as its password (between the first `:` of the user
    information and its last `@`), whether or not libpq would read it so; for redaction."""
    if not URL_SCHEME.match(raw):
        return dsn_password(raw) or ""
    rest = URL_SCHEME.sub("", raw, count=1)
    user_information = rest[: rest.rfind("@")] if "@" in rest else ""
    return user_information.partition(":")[2]


def redact_dsn(dsn: str) -> str:
    """`user@host:port/dbname` of a connection string, without its password or options.

    Safe on any input: a string that does not parse strictly gives a fixed placeholder, so no
    piece of a mis-split password can be shown as a host, port or database name.
    """
    try:
        parts = parse_dsn(dsn)
    except DsnError:
        return UNPARSEABLE
    user = parts.get("user") or ""
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    port = parts.get("port") or "5432"
    dbname = parts.get("dbname") or user
    return f"{user + '@' if user else ''}{host}:{port}/{dbname}"
