"""Behaviour declarations: who may read which rows of each table (checks/rls_access.toml).

    [tables."public.events"]
    anon = "none"                    # none | all
    authenticated = "owner:user_id"  # none | all | owner:<column holding the user's id>
    service_role = "all"             # none | all

Roles left out default to anon none, authenticated none, service_role all.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

ROLES = ("anon", "authenticated", "service_role")
_DEFAULTS = {"anon": "none", "authenticated": "none", "service_role": "all"}


class AccessFileError(ValueError):
    """The declarations file is unusable; the message names the file and the table."""


@dataclass(frozen=True)
class Access:
    mode: str  # none | all | owner
    owner_column: str | None = None

    @classmethod
    def parse(cls, text: str) -> Access:
        if text in ("none", "all"):
            return cls(text)
        if text.startswith("owner:") and text[len("owner:") :].strip():
            return cls("owner", text[len("owner:") :].strip())
        raise ValueError(f"{text!r} is not none, all or owner:<column>")


@dataclass(frozen=True)
class TableAccess:
    schema: str
    table: str
    roles: dict[str, Access]

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def owner_column(self) -> str | None:
        return next((a.owner_column for a in self.roles.values() if a.owner_column), None)


def _split(name: str) -> tuple[str, str]:
    schema, dot, table = name.partition(".")
    return (schema, table) if dot else ("public", name)


def load_access(path: Path) -> list[TableAccess]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AccessFileError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise AccessFileError(f"{path}: not valid TOML ({error})") from None
    tables = []
    for name, declared in data.get("tables", {}).items():
        unknown = set(declared) - set(ROLES)
        if unknown:
            raise AccessFileError(f"{path}: table {name}: unknown role(s) {sorted(unknown)}")
        try:
            roles = {role: Access.parse(declared.get(role, _DEFAULTS[role])) for role in ROLES}
        except ValueError as error:
            raise AccessFileError(f"{path}: table {name}: {error}") from None
        if roles["anon"].mode == "owner" or roles["service_role"].mode == "owner":
            raise AccessFileError(f"{path}: table {name}: only authenticated can be owner-scoped")
        tables.append(TableAccess(*_split(name), roles))
    return tables
