"""Settings read from the environment and an optional `.env` file.

Every variable the product reads is declared once in `VARIABLES`; `Settings.from_env` parses them
all and raises one `SettingsError` naming each variable that is missing or malformed. Secret values
are wrapped in `Secret`, whose str/repr never shows the value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from selfheal.core.dsn import dsn_password, intended_password, parse_dsn
from selfheal.core.dsn import redact_dsn as redact_dsn  # the name the readers import

DEFAULT_TZ = "America/Toronto"
KNOWN_SOURCES = ("events", "source_a", "source_b")


class SettingsError(ValueError):
    """One or more variables are missing or malformed; the message names each one."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = dict(problems)
        lines = [f"{name}: {problem}" for name, problem in self.problems.items()]
        super().__init__("invalid settings:\n  " + "\n  ".join(lines))


class Secret:
    """A value that must never be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _parse_dsn(raw: str) -> Secret:
    parse_dsn(raw)
    return Secret(raw)


def _parse_zone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{raw!r} is not an IANA time zone (e.g. America/Toronto)") from None
    return raw


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{raw!r} is not a boolean (true/false)")


def _parse_date(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a date (YYYY-MM-DD)") from None


def _parse_sources(raw: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    unknown = [name for name in names if name not in KNOWN_SOURCES]
    if unknown:
        raise ValueError(f"unknown source(s) {unknown}; known: {', '.join(KNOWN_SOURCES)}")
    return names


def _parse_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("is not an http(s) URL")
    return raw.rstrip("/")


def _parse_secret_url(raw: str) -> Secret:
    _parse_url(raw)
    return Secret(raw)


def _parse_names(raw: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    if not names:
        raise ValueError("names no schema")
    return names


def _parse_positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a whole number") from None
    if value <= 0:
        raise ValueError(f"{raw!r} must be positive")
    return value


@dataclass(frozen=True)
class Variable:
    """One environment variable: its attribute, parser, default and documentation."""

    name: str
    attribute: str
    parse: Callable[[str], Any]
    doc: str
    default: Any = None
    secret: bool = False


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "SUPABASE_DB_URL",
        "db_url",
        _parse_dsn,
        "PostgreSQL DSN or URL of the live database (in a URL, percent-encode reserved "
        "characters of the password: @ / : ? # and spaces); unset = the embedded local default",
        secret=True,
    ),
    Variable("SUPABASE_URL", "supabase_url", _parse_url, "Supabase project URL (informational)"),
    Variable(
        "SUPABASE_SERVICE_ROLE_KEY",
        "service_role_key",
        Secret,
        "Supabase service role key",
        secret=True,
    ),
    Variable("TZ", "tz", _parse_zone, "IANA time zone of reporting days", DEFAULT_TZ),
    Variable(
        "SLACK_WEBHOOK_URL",
        "slack_webhook_url",
        _parse_secret_url,
        "Slack incoming webhook; unset = no notification",
        secret=True,
    ),
    Variable(
        "GENERIC_SOURCE_A_TOKEN", "source_a_token", Secret, "API token of ad source A", secret=True
    ),
    Variable(
        "GENERIC_SOURCE_B_TOKEN", "source_b_token", Secret, "API token of ad source B", secret=True
    ),
    Variable(
        "EVENTS_SOURCE_TOKEN", "events_token", Secret, "API token of the events source", secret=True
    ),
    Variable("SOURCE_A_BASE_URL", "source_a_base_url", _parse_url, "base URL of ad source A"),
    Variable("SOURCE_B_BASE_URL", "source_b_base_url", _parse_url, "base URL of ad source B"),
    Variable("EVENTS_BASE_URL", "events_base_url", _parse_url, "base URL of the events source"),
    Variable(
        "RUN_BACKFILL", "run_backfill", _parse_bool, "true = ETL backfills the window below", False
    ),
    Variable(
        "BACKFILL_SOURCES",
        "backfill_sources",
        _parse_sources,
        "comma-separated: events,source_a,source_b",
        KNOWN_SOURCES,
    ),
    Variable("BACKFILL_START", "backfill_start", _parse_date, "first day to backfill (YYYY-MM-DD)"),
    Variable("BACKFILL_END", "backfill_end", _parse_date, "last day to backfill (YYYY-MM-DD)"),
    Variable(
        "MIGRATIONS_DIR",
        "migrations_dir",
        Path,
        "folder of NNNN_name.sql migrations",
        Path("migrations"),
    ),
    Variable(
        "SELFHEAL_REPORTS_DIR", "reports_dir", Path, "where reports are written", Path("reports")
    ),
    Variable(
        "SELFHEAL_BACKLOG_DIR", "backlog_dir", Path, "where tickets are written", Path("backlog")
    ),
    Variable(
        "SELFHEAL_DQ_DIR",
        "dq_dir",
        Path,
        "folder of data-quality rule files (TOML)",
        Path("checks/dq"),
    ),
    Variable(
        "SELFHEAL_DQ_SQL_DIR",
        "dq_sql_dir",
        Path,
        "folder of custom data-quality SQL",
        Path("checks/sql"),
    ),
    Variable(
        "SELFHEAL_EXPOSED_SCHEMAS",
        "exposed_schemas",
        _parse_names,
        "comma-separated schemas the API exposes (RLS lints)",
        ("public",),
    ),
    Variable(
        "SELFHEAL_SCHEMA_LOCK",
        "schema_lock",
        Path,
        "lock file of the expected schema (`selfheal lock` writes it)",
        Path("checks/schema.lock.json"),
    ),
    Variable(
        "SELFHEAL_CONNECT_TIMEOUT",
        "connect_timeout",
        _parse_positive_int,
        "seconds to wait for the database",
        10,
    ),
    Variable(
        "SELFHEAL_STATEMENT_TIMEOUT_MS",
        "statement_timeout_ms",
        _parse_positive_int,
        "per-query timeout of checks, in milliseconds",
        60_000,
    ),
)


@dataclass(frozen=True)
class Settings:
    db_url: Secret | None = None
    supabase_url: str | None = None
    service_role_key: Secret | None = None
    tz: str = DEFAULT_TZ
    slack_webhook_url: Secret | None = None
    source_a_token: Secret | None = None
    source_b_token: Secret | None = None
    events_token: Secret | None = None
    source_a_base_url: str | None = None
    source_b_base_url: str | None = None
    events_base_url: str | None = None
    run_backfill: bool = False
    backfill_sources: tuple[str, ...] = KNOWN_SOURCES
    backfill_start: date | None = None
    backfill_end: date | None = None
    migrations_dir: Path = Path("migrations")
    reports_dir: Path = Path("reports")
    backlog_dir: Path = Path("backlog")
    dq_dir: Path = Path("checks/dq")
    dq_sql_dir: Path = Path("checks/sql")
    exposed_schemas: tuple[str, ...] = ("public",)
    schema_lock: Path = Path("checks/schema.lock.json")
    connect_timeout: int = 10
    statement_timeout_ms: int = 60_000
    problems: dict[str, str] = field(default_factory=dict, compare=False)
    # Values of secret variables that did not parse: never used, but redacted wherever they show.
    rejected_secrets: tuple[str, ...] = field(default=(), compare=False)

    @property
    def live(self) -> bool:
        """True when a live database is configured; False means the embedded default."""
        return self.db_url is not None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def secrets(self) -> list[str]:
        """Every secret value in force, longest first, for redaction and for tests that grep
        outputs. The DSN's password counts on its own: connection strings are rebuilt with other
        options, so the whole DSN is not the only form it travels in."""
        values = {getattr(self, v.attribute) for v in VARIABLES if v.secret} - {None}
        revealed = {value.reveal() for value in values}
        if self.db_url is not None:
            revealed.add(dsn_password(self.db_url.reveal()) or "")
        for raw in self.rejected_secrets:
            revealed.update({raw, intended_password(raw)})
        return sorted(revealed - {""}, key=len, reverse=True)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        dotenv_path: Path | None = Path(".env"),
        *,
        strict: bool = True,
    ) -> Settings:
        """Parse every variable; with `strict`, raise one error naming all the bad ones.

        Values in the process environment win over `.env`. With `strict=False` the bad variables
        keep their defaults and are listed in `problems`, so preflight can report each one.
        """
        merged: dict[str, str] = {}
        if dotenv_path is not None and dotenv_path.is_file():
            merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        merged.update(os.environ if environ is None else environ)

        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        rejected_secrets: list[str] = []
        for variable in VARIABLES:
            raw = merged.get(variable.name)
            if raw is None or raw == "":
                continue
            try:
                values[variable.attribute] = variable.parse(raw)
            except ValueError as error:
                problems[variable.name] = str(error)
                if variable.secret:
                    rejected_secrets.append(raw)
        backfill_window = (values.get("backfill_start"), values.get("backfill_end"))
        if all(backfill_window) and backfill_window[0] > backfill_window[1]:
            problems["BACKFILL_END"] = "is before BACKFILL_START"
        if problems and strict:
            raise SettingsError(problems)
        return cls(**values, problems=problems, rejected_secrets=tuple(rejected_secrets))


def required_dsn(settings: Settings) -> str:
    """The live DSN, or a clear error naming the variable."""
    if settings.db_url is None:
        raise SettingsError({"SUPABASE_DB_URL": "is not set (required for live mode)"})
    return settings.db_url.reveal()
