"""How data-quality queries run: through the read-only executor, as the reader role when in force,
with the check's statement timeout, time zone and a search path of the checked schemas only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from psycopg import sql

from selfheal.core.readonly import Reader, Rows
from selfheal.dq.rules import Table

# A query of few rows (an incremental scan's new rows) is not JIT-compiled: compiling costs more
# than the rows take to read. Its anti-joins probe the old rows by index, one new row at a time,
# in parallel workers: never a hash or merge join, which would read every old row.
FEW_ROWS = {"jit": "off", "enable_hashjoin": "off", "enable_mergejoin": "off"}


@dataclass(frozen=True)
class DqSession:
    reader: Reader
    zone: ZoneInfo
    timeout_ms: int
    schemas: frozenset[str]  # the checked schemas: unqualified names resolve among these only
    role: str | None = None  # the role rule SQL runs as; None = the session's own

    def settings(
        self, table: Table, timeout_ms: int | None = None, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The table's schema first on the search path, then the other checked schemas; `extra`
        settings last (e.g. FEW_ROWS)."""
        path = [table.schema, *sorted(self.schemas - {table.schema})]
        settings = {
            "statement_timeout": str(timeout_ms or self.timeout_ms),
            "TimeZone": self.zone.key,
            "search_path": ", ".join(sql.Identifier(s).as_string() for s in path),
        }
        return settings | dict(extra or {})

    def fetch(
        self,
        query: sql.Composable,
        table: Table,
        timeout_ms: int | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Rows:
        """Run SQL that carries rule-file text: as the reader role, in the table's context."""
        settings = self.settings(table, timeout_ms, extra)
        return self.reader.fetch(query, role=self.role, settings=settings)
