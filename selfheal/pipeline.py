"""The order of the pipeline's stages, and the gate that stops them when preflight fails.

`pytest` runs every stage in the order of `STAGES`; a marker selects one stage alone. Once a
preflight check has failed, the later stages are reported as skipped ("not run"), never as
passed. Under pytest-xdist the gate is a file every worker of the run can see.
"""

from __future__ import annotations

from pathlib import Path

import pytest

STAGES = ("preflight", "schema", "rls", "health", "migrations", "etl", "dq", "doctor")
OTHER = "other"
COLLECT = "collect"  # the pseudo-stage of check files that fail to import or collect
NOT_RUN = "not run: preflight failed; fix it first (see reports/exec/preflight_report.md)"


def stage_of(item: pytest.Item) -> str:
    for stage in STAGES:
        if item.get_closest_marker(stage):
            return stage
    return OTHER


def stage_rank(stage: str) -> int:
    """Order of a stage in reports; collection problems come first."""
    return STAGES.index(stage) if stage in STAGES else (-1 if stage == COLLECT else len(STAGES))


def in_stage_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """Items sorted by stage; within a stage, collection order is kept (the sort is stable)."""
    return sorted(items, key=lambda item: stage_rank(stage_of(item)))


class PreflightGate:
    """Closed once any preflight check fails; the flag file is shared by the run's processes."""

    def __init__(self, flag: Path):
        self.flag = flag

    def close(self) -> None:
        self.flag.parent.mkdir(parents=True, exist_ok=True)
        self.flag.touch()

    @property
    def closed(self) -> bool:
        return self.flag.exists()

    def check(self, item: pytest.Item) -> None:
        """Skip a later-stage item when preflight has failed."""
        if self.closed and stage_of(item) != "preflight":
            pytest.skip(NOT_RUN)
