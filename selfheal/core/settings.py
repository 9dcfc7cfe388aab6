"""Settings read from the environment and an optional `.env` file.

Each variable is declared once, as a field of `Settings`: its environment name, parser,
documentation, whether it is secret, and its default (the field's). `VARIABLES`, `.env.example`
and the README's table of variables are derived from those fields (`python -m selfheal.core.settings`
rewrites the two files; a test keeps them in step). `Settings.from_env` parses every variable and
raises one `SettingsError` naming each one that is missing or malformed. Secret values are wrapped
in `Secret`, whose str/repr never shows the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from selfheal.core.dsn import dsn_password, intended_password, parse_dsn
from selfheal.core.text import markdown_cell

DEFAULT_TZ = "America/Toronto"
SUPABASE_MIGRATIONS = Path("supabase/migrations")  # the Supabase CLI's folder
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


POOLER_MODES = ("transaction", "session", "none")


def _parse_pooler(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in POOLER_MODES:
        raise ValueError(f"{raw!r} is not one of {', '.join(POOLER_MODES)}")
    return mode


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
    """One environment variable: its name, parser, documentation, secrecy; and, filled in from
    its `Settings` field, the attribute and default."""

    name: str
    parse: Callable[[str], Any]
    doc: str
    secret: bool = False
    attribute: str = ""
    default: Any = None

    def example(self) -> str:
        """The default as it would be written in `.env` (empty when there is none)."""
        if self.default is None:
            return ""
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if isinstance(self.default, tuple):
            return ",".join(self.default)
        return str(self.default)


_VARIABLE = "selfheal.variable"  # the key of a Settings field's metadata


def variable(
    name: str, parse: Callable[[str], Any], doc: str, default: Any = None, *, secret: bool = False
) -> Any:
    """Declare a `Settings` field read from the environment variable `name`."""
    return field(default=default, metadata={_VARIABLE: Variable(name, parse, doc, secret)})


@dataclass(frozen=True)
class Settings:
    db_url: Secret | None = variable(
        "SUPABASE_DB_URL",
        _parse_dsn,
        "PostgreSQL DSN or URL of the live database (in a URL, percent-encode reserved "
        "characters of the password: @ / : ? # and spaces); unset = the embedded local default",
        secret=True,
    )
    supabase_url: str | None = variable(
        "SUPABASE_URL", _parse_url, "Supabase project URL (informational)"
    )
    service_role_key: Secret | None = variable(
        "SUPABASE_SERVICE_ROLE_KEY", Secret, "Supabase service role key", secret=True
    )
    tz: str = variable("TZ", _parse_zone, "IANA time zone of reporting days", DEFAULT_TZ)
    slack_webhook_url: Secret | None = variable(
        "SLACK_WEBHOOK_URL",
        _parse_secret_url,
        "Slack incoming webhook; unset = no notification",
        secret=True,
    )
    source_a_token: Secret | None = variable(
        "GENERIC_SOURCE_A_TOKEN", Secret, "API token of ad source A", secret=True
    )
    source_b_token: Secret | None = variable(
        "GENERIC_SOURCE_B_TOKEN", Secret, "API token of ad source B", secret=True
    )
    events_token: Secret | None = variable(
        "EVENTS_SOURCE_TOKEN", Secret, "API token of the events source", secret=True
    )
    source_a_base_url: str | None = variable(
        "SOURCE_A_BASE_URL", _parse_url, "base URL of ad source A"
    )
    source_b_base_url: str | None = variable(
        "SOURCE_B_BASE_URL", _parse_url, "base URL of ad source B"
    )
    events_base_url: str | None = variable(
        "EVENTS_BASE_URL", _parse_url, "base URL of the events source"
    )
    run_backfill: bool = variable(
        "RUN_BACKFILL", _parse_bool, "true = ETL backfills the window below", False
    )
    backfill_sources: tuple[str, ...] = variable(
        "BACKFILL_SOURCES",
        _parse_sources,
        "comma-separated: events,source_a,source_b",
        KNOWN_SOURCES,
    )
    backfill_start: date | None = variable(
        "BACKFILL_START", _parse_date, "first day to backfill (YYYY-MM-DD)"
    )
    backfill_end: date | None = variable(
        "BACKFILL_END", _parse_date, "last day to backfill (YYYY-MM-DD)"
    )
    migrations_dir: Path = variable(
        "MIGRATIONS_DIR",
        Path,
        "folder of NNNN_name.sql migrations; unset = supabase/migrations where a Supabase CLI "
        "project has it, else migrations",
        Path("migrations"),
    )
    reports_dir: Path = variable(
        "SELFHEAL_REPORTS_DIR", Path, "where reports are written", Path("reports")
    )
    backlog_dir: Path = variable(
        "SELFHEAL_BACKLOG_DIR", Path, "where tickets are written", Path("backlog")
    )
    dq_dir: Path = variable(
        "SELFHEAL_DQ_DIR", Path, "folder of data-quality rule files (TOML)", Path("checks/dq")
    )
    dq_sql_dir: Path = variable(
        "SELFHEAL_DQ_SQL_DIR", Path, "folder of custom data-quality SQL", Path("checks/sql")
    )
    exposed_schemas: tuple[str, ...] = variable(
        "SELFHEAL_EXPOSED_SCHEMAS",
        _parse_names,
        "comma-separated schemas the API exposes (RLS lints)",
        ("public",),
    )
    schema_lock: Path = variable(
        "SELFHEAL_SCHEMA_LOCK",
        Path,
        "lock file of the expected schema (`selfheal lock` writes it)",
        Path("checks/schema.lock.json"),
    )
    pooler: str | None = variable(
        "SELFHEAL_POOLER",
        _parse_pooler,
        "what sits between selfheal and the database: transaction (a transaction-mode pooler: "
        "no session settings, no prepared statements), session or none; unset = transaction "
        "when the port is 6543 (Supabase's pooler), else none",
    )
    connect_timeout: int = variable(
        "SELFHEAL_CONNECT_TIMEOUT", _parse_positive_int, "seconds to wait for the database", 10
    )
    statement_timeout_ms: int = variable(
        "SELFHEAL_STATEMENT_TIMEOUT_MS",
        _parse_positive_int,
        "per-query timeout of checks, in milliseconds",
        60_000,
    )
    embedded_dir: Path = variable(
        "SELFHEAL_EMBEDDED_DIR",
        Path,
        "data folder of the embedded default (the local cluster shared by every command when "
        "SUPABASE_DB_URL is unset; `make clean-db` removes it)",
        Path(".selfheal/db"),
    )
    history_dsn: Secret | None = variable(
        "SELFHEAL_HISTORY_DSN",
        _parse_dsn,
        "PostgreSQL DSN or URL where the run history is kept; unset = in the target database "
        "(schema selfheal_history)",
        secret=True,
    )
    history_retention_days: int = variable(
        "SELFHEAL_HISTORY_RETENTION_DAYS",
        _parse_positive_int,
        "days of run history kept (older runs are pruned when a run is recorded)",
        90,
    )
    # What a parse found wrong (strict=False): variable name -> problem.
    problems: dict[str, str] = field(default_factory=dict, compare=False)
    # Values of secret variables that did not parse: never used, but redacted wherever they show.
    rejected_secrets: tuple[str, ...] = field(default=(), compare=False)
    # The raw values these settings were parsed from (declared variables only), so that another
    # process (a pytest-xdist worker) parses the very same input.
    raw: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def live(self) -> bool:
        """True when a live database is configured; False means the embedded default."""
        return self.db_url is not None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def is_set(self, name: str) -> bool:
        """True when the variable `name` was given (environment or `.env`), not defaulted."""
        return bool(self.raw.get(name))

    def require(self, *attributes: str) -> tuple[Any, ...]:
        """The values of these settings, or one `SettingsError` naming each unset variable."""
        by_attribute = {v.attribute: v for v in VARIABLES}
        missing = {
            by_attribute[a].name: "is not set" for a in attributes if getattr(self, a) is None
        }
        if missing:
            raise SettingsError(missing)
        return tuple(getattr(self, a) for a in attributes)

    def secrets(self) -> list[str]:
        """Every secret value in force, longest first, for redaction and for tests that grep
        outputs. The DSN's password counts on its own: connection strings are rebuilt with other
        options, so the whole DSN is not the only form it travels in."""
        return list(self._secrets)

    @cached_property
    def _secrets(self) -> tuple[str, ...]:
        """Worked out once: a session redacts every report, and parsing the DSNs each time
        cost more than the check of a schema object."""
        values = {getattr(self, v.attribute) for v in VARIABLES if v.secret} - {None}
        revealed = {value.reveal() for value in values}
        for dsn in (self.db_url, self.history_dsn):
            if dsn is not None:
                revealed.add(dsn_password(dsn.reveal()) or "")
        for raw in self.rejected_secrets:
            revealed.update({raw, intended_password(raw)})
        return tuple(sorted(revealed - {""}, key=len, reverse=True))

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        dotenv_path: Path | None = Path(".env"),
        *,
        strict: bool = True,
    ) -> Settings:
        """Read the variables (the process environment wins over `.env`) and parse them."""
        merged: dict[str, str] = {}
        if dotenv_path is not None and dotenv_path.is_file():
            merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        merged.update(os.environ if environ is None else environ)
        return cls.parse(
            {v.name: merged[v.name] for v in VARIABLES if merged.get(v.name)}, strict=strict
        )

    @classmethod
    def parse(cls, raw: Mapping[str, str], *, strict: bool = True) -> Settings:
        """Parse every variable; with `strict`, raise one error naming all the bad ones.

        With `strict=False` the bad variables keep their defaults and are listed in `problems`,
        so preflight can report each one.
        """
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        rejected_secrets: list[str] = []
        for variable in VARIABLES:
            text = raw.get(variable.name)
            if not text:
                continue
            try:
                values[variable.attribute] = variable.parse(text)
            except ValueError as error:
                problems[variable.name] = str(error)
                if variable.secret:
                    rejected_secrets.append(text)
        if "migrations_dir" not in values and SUPABASE_MIGRATIONS.is_dir():
            values["migrations_dir"] = SUPABASE_MIGRATIONS
        backfill_window = (values.get("backfill_start"), values.get("backfill_end"))
        if all(backfill_window) and backfill_window[0] > backfill_window[1]:
            problems["BACKFILL_END"] = "is before BACKFILL_START"
        if problems and strict:
            raise SettingsError(problems)
        return cls(
            **values, problems=problems, rejected_secrets=tuple(rejected_secrets), raw=dict(raw)
        )


VARIABLES: tuple[Variable, ...] = tuple(
    replace(f.metadata[_VARIABLE], attribute=f.name, default=f.default)
    for f in fields(Settings)
    if _VARIABLE in f.metadata
)


def required_dsn(settings: Settings) -> str:
    """The live DSN, or a clear error naming the variable."""
    if settings.db_url is None:
        raise SettingsError({"SUPABASE_DB_URL": "is not set (required for live mode)"})
    return settings.db_url.reveal()


# --- the documents generated from the declarations ----------------------------------------
ENV_EXAMPLE_HEADER = (
    "# Every variable selfheal reads. Copy to .env (never commit .env) and fill what you need.\n"
    "# Unset SUPABASE_DB_URL = everything runs on the embedded local PostgreSQL.\n"
)
README_START = "<!-- variables: generated by `python -m selfheal.core.settings` -->"
README_END = "<!-- end of variables -->"


def env_example() -> str:
    """The text of `.env.example`: every variable, its documentation and its default."""
    blocks = [ENV_EXAMPLE_HEADER]
    for v in VARIABLES:
        blocks.append(f"# {v.doc}{' (secret)' if v.secret else ''}\n{v.name}={v.example()}\n")
    return "\n".join(blocks)


def variables_table() -> str:
    """The README's table of variables (Markdown)."""
    lines = ["| variable | default | secret | what |", "| --- | --- | --- | --- |"]
    for v in VARIABLES:
        default = f"`{v.example()}`" if v.example() else ""
        secret = "yes" if v.secret else ""
        lines.append(f"| `{v.name}` | {default} | {secret} | {markdown_cell(v.doc)} |")
    return "\n".join(lines)


def with_variables_table(readme: str) -> str:
    """`readme` with the text between its variables markers replaced by `variables_table()`."""
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(readme):
        raise ValueError(f"the README lacks the markers {README_START} ... {README_END}")
    table = f"{README_START}\n{variables_table()}\n{README_END}"
    return pattern.sub(lambda _: table, readme)


if __name__ == "__main__":
    Path(".env.example").write_text(env_example(), encoding="utf-8")
    readme = Path("README.md")
    readme.write_text(with_variables_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
