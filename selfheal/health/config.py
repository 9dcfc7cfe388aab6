"""The health audit's configuration (`checks/health.toml`): thresholds, levels, lineage, owners.

Tables are written `schema.table` (`public.events`); a bare name means the first audited schema;
a name with a dot or capitals is double-quoted as in SQL (`public."Odd.Name"`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

LEVELS = ("error", "warn", "info")

DEFAULT_THRESHOLDS: dict[str, float] = {
    "etl_failures_window": 5,  # the last N runs of a source ...
    "etl_failures_max": 2,  # ... may hold this many failures before it is a feedback loop
    "ticket_reopened_max": 0,  # reopenings a ticket may have
    "flap_window": 10,  # the last N observations of a ticket ...
    "flap_transitions": 3,  # ... may change between failed and passed this often
    "dead_tuple_ratio": 0.2,
    "dead_tuple_min_rows": 10_000,
    "bloat_ratio": 0.5,
    "bloat_min_bytes": 50 * 1024 * 1024,
    "unused_index_min_bytes": 10 * 1024 * 1024,
    "sequence_used_warn": 0.75,
    "sequence_used_error": 0.9,
    "stale_stats_ratio": 0.2,
    "stale_stats_min_rows": 10_000,
    "idle_in_transaction_seconds": 300,
    "long_running_seconds": 900,
    "lock_wait_seconds": 30,
    "etl_overlap_days": 30,
}


class HealthConfigError(ValueError):
    """The configuration file is malformed; the message names the file and the entry."""


@dataclass(frozen=True, order=True)
class TableName:
    schema: str
    name: str

    def __str__(self) -> str:
        return f"{_display(self.schema)}.{_display(self.name)}"


def _display(identifier: str) -> str:
    if re.fullmatch(r"[a-z_][a-z0-9_]*", identifier):
        return identifier
    return '"' + identifier.replace('"', '""') + '"'


_PART = r'(?:"(?:[^"]|"")+"|[^".]+)'


def parse_table(text: str, default_schema: str = "public") -> TableName:
    """`schema.table`, `table` or SQL-quoted parts; raises ValueError on anything else."""
    parts = re.fullmatch(rf"({_PART})(?:\.({_PART}))?", text.strip())
    if not parts:
        raise ValueError(f"{text!r} is not a table name (schema.table)")
    first, second = (_unquote(p) if p else None for p in parts.groups())
    return TableName(first, second) if second else TableName(default_schema, first)


def _unquote(part: str) -> str:
    if part.startswith('"'):
        return part[1:-1].replace('""', '"')
    return part


@dataclass(frozen=True)
class FreshnessLimit:
    column: str
    max_age_hours: float


@dataclass(frozen=True)
class Reference:
    """A declared reference that the schema does not enforce with a foreign key."""

    child: TableName
    child_column: str
    parent: TableName
    parent_column: str


@dataclass(frozen=True)
class HealthConfig:
    schemas: tuple[str, ...] = ("public",)
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    levels: dict[str, str] = field(default_factory=dict)
    freshness: dict[TableName, FreshnessLimit] = field(default_factory=dict)
    lineage: dict[TableName, tuple[TableName, ...]] = field(default_factory=dict)
    etl_runs: TableName = TableName("public", "etl_runs")
    etl_sources: dict[str, TableName] = field(default_factory=dict)
    owners: dict[TableName, str] = field(default_factory=dict)
    references: tuple[Reference, ...] = ()
    dq_rules_dir: Path = Path("checks/dq")

    def threshold(self, name: str) -> float:
        return self.thresholds[name]

    def with_thresholds(self, **overrides: float) -> HealthConfig:
        unknown = set(overrides) - set(self.thresholds)
        if unknown:
            raise HealthConfigError(f"unknown threshold(s): {', '.join(sorted(unknown))}")
        return replace(self, thresholds={**self.thresholds, **overrides})


def load_config(path: Path) -> HealthConfig:
    """Read and validate the file; every problem is reported with the file's name."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise HealthConfigError(f"{path}: {error}") from None
    try:
        return _parse(raw, path.parent)
    except (ValueError, TypeError, KeyError) as error:
        raise HealthConfigError(f"{path}: {error}") from None


def _parse(raw: dict[str, Any], base: Path) -> HealthConfig:
    schemas = tuple(raw.get("schemas", ["public"]))
    default = schemas[0]

    def table(text: str) -> TableName:
        return parse_table(text, default)

    thresholds = dict(DEFAULT_THRESHOLDS)
    for name, value in raw.get("thresholds", {}).items():
        if name not in DEFAULT_THRESHOLDS:
            raise ValueError(f"[thresholds] {name}: unknown threshold")
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ValueError(f"[thresholds] {name}: {value!r} is not a non-negative number")
        thresholds[name] = value
    levels = dict(raw.get("levels", {}))
    for check, level in levels.items():
        if level not in LEVELS:
            raise ValueError(f"[levels] {check}: {level!r} is not one of {', '.join(LEVELS)}")
    freshness = {
        table(name): _freshness(name, entry) for name, entry in raw.get("freshness", {}).items()
    }
    lineage = {
        table(down): tuple(table(up) for up in ups) for down, ups in raw.get("lineage", {}).items()
    }
    etl = raw.get("etl", {})
    owners = {table(name): str(owner) for name, owner in raw.get("owners", {}).items()}
    references = tuple(
        _reference(child, parent, table) for child, parent in raw.get("references", {}).items()
    )
    return HealthConfig(
        schemas=schemas,
        thresholds=thresholds,
        levels=levels,
        freshness=freshness,
        lineage=lineage,
        etl_runs=table(etl.get("runs_table", "etl_runs")),
        etl_sources={source: table(name) for source, name in etl.get("sources", {}).items()},
        owners=owners,
        references=references,
        dq_rules_dir=base / raw.get("dq_rules_dir", "dq"),
    )


def _freshness(name: str, entry: Any) -> FreshnessLimit:
    if not isinstance(entry, dict) or not {"column", "max_age_hours"} <= set(entry):
        raise ValueError(f"[freshness] {name}: needs {{ column = ..., max_age_hours = ... }}")
    return FreshnessLimit(str(entry["column"]), float(entry["max_age_hours"]))


def _reference(child: str, parent: str, table: Callable[[str], TableName]) -> Reference:
    """`schema.table.column` on both sides (the column is the part after the last dot)."""
    child_table, child_column = _split_column(child)
    parent_table, parent_column = _split_column(parent)
    return Reference(table(child_table), child_column, table(parent_table), parent_column)


def _split_column(text: str) -> tuple[str, str]:
    parts = re.fullmatch(rf"(.+)\.({_PART})", text.strip())
    if not parts:
        raise ValueError(f"[references] {text!r} is not schema.table.column")
    return parts.group(1), _unquote(parts.group(2))
