"""How data-quality queries run: through the read-only executor, as the reader role when in force,
with the check's statement timeout, time zone and a search path of the checked schemas only.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from psycopg import sql

from selfheal.core.readonly import Reader, Rows
from selfheal.dq.rules import Table


@dataclass(frozen=True)
class DqSession:
    reader: Reader
    zone: ZoneInfo
    timeout_ms: int
    schemas: frozenset[str]  # the checked schemas: unqualified names resolve among these only
    role: str | None = None  # the role rule SQL runs as; None = the session's own

    def settings(
        self, table: Table, timeout_ms: int | None = None, *, few_rows: bool = False
    ) -> dict[str, str]:
        """The table's schema first on the search path, then the other checked schemas. A query
        of `few_rows` (an incremental scan's new rows) is neither JIT-compiled nor handed to
        parallel workers: compiling and starting them cost more than the rows take to read."""
        path = [table.schema, *sorted(self.schemas - {table.schema})]
        settings = {
            "statement_timeout": str(timeout_ms or self.timeout_ms),
            "TimeZone": self.zone.key,
            "search_path": ", ".join(sql.Identifier(s).as_string() for s in path),
        }
        if few_rows:
            settings |= {"jit": "off", "max_parallel_workers_per_gather": "0"}
        return settings

    def fetch(
        self,
        query: sql.Composable,
        table: Table,
        timeout_ms: int | None = None,
        *,
        few_rows: bool = False,
    ) -> Rows:
        """Run SQL that carries rule-file text: as the reader role, in the table's context."""
        settings = self.settings(table, timeout_ms, few_rows=few_rows)
        return self.reader.fetch(query, role=self.role, settings=settings)
