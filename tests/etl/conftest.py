"""Fixtures of the ETL tests: the fake sources on loopback and settings pointing at them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from etl_support import NOW, SEED, settings_for

from etl.fake import FakeSources, serve_all
from selfheal.core.settings import Settings


@pytest.fixture
def fakes() -> Iterator[FakeSources]:
    with serve_all(seed=SEED, now=NOW) as sources:
        yield sources


@pytest.fixture
def source_settings(fakes: FakeSources) -> Settings:
    return settings_for(fakes)
