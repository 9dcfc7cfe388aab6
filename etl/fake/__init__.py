"""Fake sources for the demo and the tests: `with serve_all(seed=7) as fakes: ...`.

`fakes.configure(settings)` points a Settings at the three servers (base URLs and tokens).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from etl.fake import data
from etl.fake.server import (
    EventsContract,
    FakeServer,
    Faults,
    SourceAContract,
    SourceBContract,
)
from selfheal.core.settings import Secret, Settings

__all__ = ["DEMO_FAULTS", "FakeSources", "Faults", "serve_all"]
DEFAULT_DAYS = 30
# What the demo shows: a few malformed rows quarantined, duplicates across pages collapsed.
DEMO_FAULTS = Faults(bad_rows=True, duplicate_rows=True)


@dataclass
class FakeSources:
    source_a: FakeServer
    source_b: FakeServer
    events: FakeServer

    @property
    def servers(self) -> tuple[FakeServer, ...]:
        return (self.source_a, self.source_b, self.events)

    def configure(self, settings: Settings) -> Settings:
        return replace(
            settings,
            source_a_base_url=self.source_a.base_url,
            source_b_base_url=self.source_b.base_url,
            events_base_url=self.events.base_url,
            source_a_token=Secret(self.source_a.token),
            source_b_token=Secret(self.source_b.token),
            events_token=Secret(self.events.token),
        )

    def release_late(self) -> None:
        for server in self.servers:
            server.release_late()


@contextmanager
def serve_all(
    seed: int = 0,
    faults: Faults | dict[str, Faults] | None = None,
    now: datetime | None = None,
    days: int = DEFAULT_DAYS,
) -> Iterator[FakeSources]:
    """Start the three fakes on loopback; `faults` for all, or per source name."""
    now = now or datetime.now(UTC)
    per_source = faults if isinstance(faults, dict) else {}
    shared = faults if isinstance(faults, Faults) else Faults()
    with ExitStack() as stack:
        servers = {}
        for name, build, contract in (
            ("source_a", data.source_a, SourceAContract),
            ("source_b", data.source_b, SourceBContract),
            ("events", data.events, EventsContract),
        ):
            f = per_source.get(name, shared)
            dataset = build(seed, now, days, f.bad_rows)
            server = FakeServer(contract(dataset, f.duplicate_rows), f"fake-{name}-{seed}", f)
            stack.callback(server.stop)
            servers[name] = server.start()
        yield FakeSources(**servers)
