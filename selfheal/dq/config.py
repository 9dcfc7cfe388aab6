"""Rule files -> a `Suite`: TOML per table (checks/dq/*.toml) and custom SQL (checks/sql/*.sql).

Static validation only (no database): unknown keys and rules, bad durations, severities and
thresholds are collected into one `ConfigError` whose lines each name the file, the table and the
key. Names of tables and columns are checked against the live catalog later (catalog.py).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from selfheal.dq.anomaly import FreshnessSettings, VolumeSettings
from selfheal.dq.anomaly_rules import ANOMALY_KINDS, DAYS, FreshnessAnomaly, VolumeAnomaly
from selfheal.dq.durations import parse_duration
from selfheal.dq.rules import (
    KINDS as DECLARED_KINDS,
)
from selfheal.dq.rules import (
    SEVERITIES,
    AcceptedValues,
    Between,
    CustomCheck,
    Freshness,
    NoFuture,
    NotNull,
    References,
    RowCount,
    Rule,
    Table,
    Tolerance,
    Unique,
)
from selfheal.dq.vetting import checked_schemas, vet_custom, vet_rules

KINDS = {**DECLARED_KINDS, **ANOMALY_KINDS}
TABLE_KEYS = {"table", "schema", "where", "statement_timeout", "incremental", "full_every", *KINDS}
DEFAULT_FULL_EVERY = "7d"  # an incremental table still gets a full scan this often
COMMON_KEYS = {"name", "where", "severity", "max_count", "max_fraction"}
KIND_KEYS = {
    "not_null": {"column", "columns"},
    "unique": {"key"},
    "freshness": {"column", "warn_after", "error_after"},
    "no_future": {"column", "columns", "tolerance"},
    "accepted_values": {"column", "values"},
    "between": {"column", "columns", "min", "max", "strict"},
    "row_count": {"min", "max"},
    "references": {"column", "to_table", "to_column", "to_schema"},
    "volume_anomaly": {"column", "day", "weeks", "recent_days", "min_history", "sensitivity"},
    "freshness_anomaly": {"column", "lookback_days", "min_history", "sensitivity"},
}
COUNTLESS_KINDS = {"freshness", "row_count", *ANOMALY_KINDS}  # no offending rows, so no thresholds
MIXED_TABLES_HINT = (
    " (a rule kind written [kind] cannot also be [[kind]]: write [[kind]] each time)"
)
CUSTOM_HEADER_KEYS = {"name", "table", "schema", "severity", "description"}
CUSTOM_NAME = re.compile(r"[A-Za-z0-9_\-]+")


class ConfigError(ValueError):
    """Every problem of the rule files, one per line, each naming file, table and key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid data-quality rules:\n  " + "\n  ".join(problems))


class _Problem(Exception):
    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Suite:
    rules: tuple[Rule, ...] = ()
    custom: tuple[CustomCheck, ...] = ()
    # Loaded leniently: each file with problems (left out of the suite) -> its problems.
    broken: dict[Path, tuple[str, ...]] = field(default_factory=dict)

    def ids(self) -> list[str]:
        return [rule.id for rule in self.rules] + [check.id for check in self.custom]

    def tables(self) -> dict[Table, list[Rule]]:
        grouped: dict[Table, list[Rule]] = {}
        for rule in self.rules:
            grouped.setdefault(rule.table, []).append(rule)
        return grouped


@dataclass
class _Entry:
    """One rule's table in a file, with typed getters that name the offending key."""

    values: dict[str, Any]
    origin: str  # e.g. "unique[1]"; "" for the file's top level

    def key(self, name: str) -> str:
        return f"{self.origin}.{name}" if self.origin else name

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if key not in self.values:
            return default
        value = self.values[key]
        if not isinstance(value, kind) or isinstance(value, bool) and bool not in _tuple(kind):
            hint = _unquote_hint(key, value, kind)
            raise _Problem(self.key(key), f"expected {_names(kind)}, got {value!r}{hint}")
        return value

    def required(self, key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in self.values:
            raise _Problem(self.key(key), "is required")
        return self.get(key, kind)

    def names(self, single: str, plural: str) -> list[str]:
        """Column names given as `column = "a"` or `columns = ["a", "b"]` (exactly one of them)."""
        if (single in self.values) == (plural in self.values):
            raise _Problem(self.origin, f"give exactly one of {single!r} or {plural!r}")
        if single in self.values:
            return [self.required(single, str)]
        names = self.required(plural, list)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise _Problem(self.key(plural), "expected a non-empty list of column names")
        return names

    def duration(self, key: str, default: Any = None) -> Any:
        text = self.get(key, str)
        if text is None:
            return default
        try:
            return parse_duration(text)
        except ValueError as error:
            raise _Problem(self.key(key), str(error)) from None


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


_KINDS_IN_WORDS = {
    "int": "a number",
    "float": "a number",
    "date": "a date",
    "datetime": "a date and time",
    "time": "a time",
    "bool": "true or false",
}


def _unquote_hint(key: str, value: Any, kind: type | tuple[type, ...]) -> str:
    """What to write instead when a value of the wanted type was written as a string."""
    if not isinstance(value, str) or str in _tuple(kind):
        return ""
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return ""
    if not isinstance(parsed, kind) or isinstance(parsed, str):
        return ""
    what = _KINDS_IN_WORDS.get(type(parsed).__name__, type(parsed).__name__)
    return f"; drop the quotes for {what}: {key} = {value.strip()}"


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _tuple(kind))


def _tolerance(entry: _Entry, kind: str) -> Tolerance:
    severity = entry.get("severity", str, "error")
    if severity not in SEVERITIES:
        raise _Problem(
            f"{entry.origin}.severity", f"expected one of {SEVERITIES}, got {severity!r}"
        )
    max_count = entry.get("max_count", int)
    max_fraction = entry.get("max_fraction", (int, float))
    if kind in COUNTLESS_KINDS and (max_count is not None or max_fraction is not None):
        raise _Problem(
            entry.origin, f"{kind} has no offending rows: max_count/max_fraction do not apply"
        )
    if max_count is not None and max_fraction is not None:
        raise _Problem(entry.origin, "give max_count or max_fraction, not both")
    if max_count is not None and max_count < 0:
        raise _Problem(f"{entry.origin}.max_count", "must be ≥ 0")
    if max_fraction is not None and not 0 <= max_fraction <= 1:
        raise _Problem(f"{entry.origin}.max_fraction", "must be between 0 and 1")
    return Tolerance(severity, max_count, None if max_fraction is None else float(max_fraction))


def _labelled(entry: _Entry, columns: list[str]) -> list[tuple[str, str]]:
    """(column, id label) pairs: the column itself, or the rule's `name` for a single column."""
    name = entry.get("name", str)
    if name and len(columns) > 1:
        raise _Problem(f"{entry.origin}.name", "a named rule takes a single column")
    return [(column, name or column) for column in columns]


def _scalars(entry: _Entry, key: str) -> tuple:
    values = entry.required(key, list)
    if not values or not all(isinstance(v, str | int | float) for v in values):
        raise _Problem(f"{entry.origin}.{key}", "expected a non-empty list of strings or numbers")
    if len({type(v) for v in values}) > 1:
        raise _Problem(f"{entry.origin}.{key}", "mixes strings and numbers")
    return tuple(values)


BOUND = (int, float, date, datetime)


def _not_null(entry: _Entry, base: dict) -> list[Rule]:
    columns = entry.names("column", "columns")
    return [NotNull(column=c, label=label, **base) for c, label in _labelled(entry, columns)]


def _unique(entry: _Entry, base: dict) -> list[Rule]:
    key = entry.required("key", (str, list))
    key = [key] if isinstance(key, str) else key
    if not key or not all(isinstance(c, str) and c for c in key) or len(set(key)) < len(key):
        raise _Problem(f"{entry.origin}.key", "expected a column name or a list of distinct names")
    return [Unique(key=tuple(key), label=entry.get("name", str) or "+".join(key), **base)]


def _freshness(entry: _Entry, base: dict) -> list[Rule]:
    column = entry.required("column", str)
    warn_after, error_after = entry.duration("warn_after"), entry.duration("error_after")
    if warn_after is None and error_after is None:
        raise _Problem(entry.origin, "give warn_after, error_after or both (e.g. 26h)")
    if warn_after is not None and error_after is not None and warn_after >= error_after:
        raise _Problem(f"{entry.origin}.warn_after", "must be shorter than error_after")
    label = entry.get("name", str) or column
    return [
        Freshness(
            column=column, warn_after=warn_after, error_after=error_after, label=label, **base
        )
    ]


def _no_future(entry: _Entry, base: dict) -> list[Rule]:
    columns = entry.names("column", "columns")
    tolerance = entry.duration("tolerance", parse_duration("0s"))
    return [
        NoFuture(column=c, tolerance=tolerance, label=label, **base)
        for c, label in _labelled(entry, columns)
    ]


def _accepted_values(entry: _Entry, base: dict) -> list[Rule]:
    column = entry.required("column", str)
    values = _scalars(entry, "values")
    return [
        AcceptedValues(column=column, values=values, label=entry.get("name", str) or column, **base)
    ]


def _between(entry: _Entry, base: dict) -> list[Rule]:
    columns = entry.names("column", "columns")
    low, high = entry.get("min", BOUND), entry.get("max", BOUND)
    if low is None and high is None:
        raise _Problem(entry.origin, "give min, max or both")
    if (
        low is not None
        and high is not None
        and type(low) is not type(high)
        and not all(isinstance(b, int | float) for b in (low, high))
    ):
        raise _Problem(entry.origin, "min and max are of different types")
    if low is not None and high is not None and low > high:
        raise _Problem(f"{entry.origin}.min", "is greater than max")
    strict = entry.get("strict", bool, False)
    return [
        Between(column=c, min=low, max=high, strict=strict, label=label, **base)
        for c, label in _labelled(entry, columns)
    ]


def _row_count(entry: _Entry, base: dict) -> list[Rule]:
    low, high = entry.get("min", int), entry.get("max", int)
    if low is None and high is None:
        raise _Problem(entry.origin, "give min, max or both")
    if low is not None and high is not None and low > high:
        raise _Problem(f"{entry.origin}.min", "is greater than max")
    return [RowCount(min=low, max=high, label=entry.get("name", str) or "", **base)]


def _references(entry: _Entry, base: dict) -> list[Rule]:
    column = entry.required("column", str)
    return [
        References(
            column=column,
            to_schema=entry.get("to_schema", str, "public"),
            to_table=entry.required("to_table", str),
            to_column=entry.required("to_column", str),
            label=entry.get("name", str) or column,
            **base,
        )
    ]


def _positive(entry: _Entry, key: str, default: int) -> int:
    value = entry.get(key, int, default)
    if value <= 0:
        raise _Problem(entry.key(key), "must be a positive whole number")
    return value


def _anomaly_policy(entry: _Entry, base: dict) -> dict:
    """Anomalies warn unless the rule says `severity = "error"`."""
    if "severity" in entry.values:
        return base
    return {**base, "policy": replace(base["policy"], severity="warn")}


def _sensitivity(entry: _Entry, default: float) -> float:
    value = entry.get("sensitivity", (int, float), default)
    if value <= 0:
        raise _Problem(entry.key("sensitivity"), "must be positive (robust standard deviations)")
    return float(value)


def _volume_anomaly(entry: _Entry, base: dict) -> list[Rule]:
    column = entry.required("column", str)
    day = entry.get("day", str, "today")
    if day not in DAYS:
        raise _Problem(entry.key("day"), f"expected one of {tuple(DAYS)}, got {day!r}")
    defaults = VolumeSettings()
    settings = VolumeSettings(
        weeks=_positive(entry, "weeks", defaults.weeks),
        recent_days=_positive(entry, "recent_days", defaults.recent_days),
        min_history=_positive(entry, "min_history", defaults.min_history),
        sensitivity=_sensitivity(entry, defaults.sensitivity),
    )
    label = entry.get("name", str) or column
    return [
        VolumeAnomaly(
            column=column, day=day, settings=settings, label=label, **_anomaly_policy(entry, base)
        )
    ]


def _freshness_anomaly(entry: _Entry, base: dict) -> list[Rule]:
    column = entry.required("column", str)
    defaults = FreshnessSettings()
    settings = FreshnessSettings(
        lookback_days=_positive(entry, "lookback_days", defaults.lookback_days),
        min_history=_positive(entry, "min_history", defaults.min_history),
        sensitivity=_sensitivity(entry, defaults.sensitivity),
    )
    label = entry.get("name", str) or column
    return [
        FreshnessAnomaly(
            column=column, settings=settings, label=label, **_anomaly_policy(entry, base)
        )
    ]


BUILDERS: dict[str, Callable[[_Entry, dict], list[Rule]]] = {
    "not_null": _not_null,
    "unique": _unique,
    "freshness": _freshness,
    "no_future": _no_future,
    "accepted_values": _accepted_values,
    "between": _between,
    "row_count": _row_count,
    "references": _references,
    "volume_anomaly": _volume_anomaly,
    "freshness_anomaly": _freshness_anomaly,
}


def _entries(document: dict, kind: str) -> Iterable[_Entry]:
    """`[kind]` (one table) or `[[kind]]` (several) as entries with their key paths."""
    value = document[kind]
    if isinstance(value, dict):
        yield _Entry(value, kind)
        return
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _Problem(kind, "expected a table [kind] or an array of tables [[kind]]")
    for index, item in enumerate(value):
        yield _Entry(item, f"{kind}[{index}]")


def _rules_of(document: dict, table: Table, problems: list[str]) -> list[Rule]:
    rules: list[Rule] = []
    for kind in (k for k in document if k in KINDS):
        try:
            entries = list(_entries(document, kind))
        except _Problem as problem:
            problems.append(table.problem(problem.key, str(problem)))
            continue
        for entry in entries:
            try:
                unknown = set(entry.values) - COMMON_KEYS - KIND_KEYS[kind]
                if unknown:
                    key = sorted(unknown)[0]
                    allowed = ", ".join(sorted(COMMON_KEYS | KIND_KEYS[kind]))
                    raise _Problem(f"{entry.origin}.{key}", f"unknown key (known: {allowed})")
                base = {
                    "table": table,
                    "origin": entry.origin,
                    "where": entry.get("where", str),
                    "policy": _tolerance(entry, kind),
                }
                rules.extend(BUILDERS[kind](entry, base))
            except _Problem as problem:
                problems.append(table.problem(problem.key, str(problem)))
    return rules


def _table_of(path: Path, document: dict, text: str) -> Table:
    header = _Entry(document, "")
    name = header.get("table", str)
    if not name:
        raise _Problem("table", 'is required (table = "events")')
    timeout = header.get("statement_timeout", str)
    try:
        timeout_ms = (
            None if timeout is None else int(parse_duration(timeout).total_seconds() * 1000)
        )
    except ValueError as error:
        raise _Problem("statement_timeout", str(error)) from None
    incremental = header.get("incremental", str)
    if "full_every" in document and incremental is None:
        raise _Problem("full_every", 'applies to an incremental table (incremental = "loaded_at")')
    return Table(
        schema=header.get("schema", str, "public"),
        name=name,
        source=path,
        where=header.get("where", str),
        statement_timeout_ms=timeout_ms,
        incremental=incremental,
        full_every=header.duration("full_every", parse_duration(DEFAULT_FULL_EVERY))
        if incremental
        else None,
        digest=hashlib.sha256(text.encode()).hexdigest() if incremental else "",
    )


def load_rule_file(path: Path, problems: list[str]) -> list[Rule]:
    """The rules of one TOML file; problems are appended, naming file, table and key."""
    try:
        text = path.read_text(encoding="utf-8")
        document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        hint = MIXED_TABLES_HINT if "Cannot overwrite" in str(error) else ""
        problems.append(f"{path}: not valid TOML: {error}{hint}")
        return []
    try:
        table = _table_of(path, document, text)
    except _Problem as problem:
        problems.append(f"{path}: {problem.key}: {problem}")
        return []
    for key in sorted(set(document) - TABLE_KEYS):
        known = ", ".join(sorted(KINDS))
        problems.append(
            table.problem(
                key,
                f"unknown rule or key (rules: {known}; keys: schema, where, statement_timeout, "
                "incremental, full_every)",
            )
        )
    return _rules_of(document, table, problems)


def load_custom_file(path: Path, problems: list[str]) -> CustomCheck | None:
    """A custom check: `-- key: value` header lines (name, table, severity), then the query."""
    text = path.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    for line in text.splitlines():
        match = re.fullmatch(r"--\s*([A-Za-z_]+)\s*:\s*(.*?)\s*", line)
        if not line.startswith("--"):
            break
        if match:
            header[match.group(1).lower()] = match.group(2)
    where = f"{path}: table {header.get('table', '?')}"
    unknown = sorted(set(header) - CUSTOM_HEADER_KEYS)
    missing = sorted({"name", "table"} - set(header))
    body = text.strip().rstrip(";").strip()
    found = [
        f"{where}: header {key}: unknown key (known: {', '.join(sorted(CUSTOM_HEADER_KEYS))})"
        for key in unknown
    ]
    found += [f"{where}: header {key}: is required (-- {key}: ...)" for key in missing]
    if "name" in header and not CUSTOM_NAME.fullmatch(header["name"]):
        found.append(f"{where}: header name: use letters, digits, _ and - only")
    if header.get("severity", "error") not in SEVERITIES:
        found.append(f"{where}: header severity: expected one of {SEVERITIES}")
    if not any(not line.startswith("--") and line.strip() for line in body.splitlines()):
        found.append(f"{where}: the file has no query")
    problems.extend(found)
    if found:
        return None
    table = Table(schema=header.get("schema", "public"), name=header["table"], source=path)
    return CustomCheck(
        table=table,
        name=header["name"],
        body=body,
        severity=header.get("severity", "error"),
        description=header.get("description", ""),
    )


def _duplicates(suite: Suite) -> list[str]:
    problems = []
    seen: dict[str, str] = {}
    for item in (*suite.rules, *suite.custom):
        where = f"{item.table.source}: {getattr(item, 'origin', 'header name')}"
        if item.id in seen:
            problems.append(
                f"{where}: check id {item.id!r} is already used by {seen[item.id]} "
                "(give one of them a distinct `name`)"
            )
        seen.setdefault(item.id, where)
    declared: dict[tuple[str, str], Path] = {}
    for table in suite.tables():
        key = (table.schema, table.name)
        if key in declared and declared[key] != table.source:
            problems.append(
                f"{table.source}: table {table.label}: already declared in "
                f"{declared[key]} (one file per table)"
            )
        declared.setdefault(key, table.source)
    return problems


def load_suite(rules_dir: Path, sql_dir: Path | None = None, *, strict: bool = True) -> Suite:
    """Every rule of `rules_dir/*.toml` and check of `sql_dir/*.sql`; ConfigError if any is bad.

    Not `strict`: a file with problems is left out and listed in `Suite.broken` with them, so
    the other files' rules still run (ConfigError only for a problem no file owns).
    """
    if not rules_dir.is_dir():
        raise ConfigError([f"{rules_dir}: the rules folder does not exist"])
    rule_paths = sorted(rules_dir.glob("*.toml"))
    sql_paths = sorted(sql_dir.glob("*.sql")) if sql_dir and sql_dir.is_dir() else []
    suite, problems = _load(rule_paths, sql_paths)
    if not problems:
        return suite
    if strict:
        raise ConfigError(problems)
    broken = {
        path: owned
        for path in rule_paths + sql_paths
        if (owned := tuple(p for p in problems if p.startswith(f"{path}:")))
    }
    unowned = [p for p in problems if not any(p in owned for owned in broken.values())]
    if unowned:
        raise ConfigError(unowned)
    kept, problems = _load(
        [p for p in rule_paths if p not in broken], [p for p in sql_paths if p not in broken]
    )
    if problems:
        raise ConfigError(problems)
    return replace(kept, broken=broken)


def _load(rule_paths: list[Path], sql_paths: list[Path]) -> tuple[Suite, list[str]]:
    """The suite of these files, and their problems (empty when all are good)."""
    problems: list[str] = []
    rules = [rule for path in rule_paths for rule in load_rule_file(path, problems)]
    custom = [
        check for path in sql_paths if (check := load_custom_file(path, problems)) is not None
    ]
    schemas = checked_schemas(tuple(rules), tuple(custom))
    suite = Suite(
        vet_rules(tuple(rules), schemas, problems), vet_custom(tuple(custom), schemas, problems)
    )
    problems += _duplicates(suite)
    return suite, problems
