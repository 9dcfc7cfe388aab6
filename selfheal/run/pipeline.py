"""The order of the pipeline's stages, and the gate that stops them when preflight fails.

`pytest` runs every stage in the order of `STAGES`; a marker selects one stage alone. Once a
preflight check has failed, the later stages but the doctor are reported as skipped ("not
run"), never as passed. Under pytest-xdist the gate is a file every worker of the run can see.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

# The stages in pipeline order, each a marker the plugin registers (with its meaning).
STAGE_MARKERS = {
    "preflight": "environment, connectivity, server settings and migration guard (runs on PRs)",
    "schema": "every object the migrations promise exists in the live database",
    "rls": "row-level security lints and behaviour",
    "health": "the six-part system health audit",
    "migrations": "pending migrations are applied",
    "etl": "sources are pulled and loaded",
    "dq": "data-quality gates over the loaded tables",
    "doctor": "the doctor plans and applies heals",
}
STAGES = tuple(STAGE_MARKERS)
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


def step_of(item: pytest.Item) -> tuple[int, int]:
    """Where an item runs in the pipeline: its stage, then its step within the stage.

    A stage's items are one step unless some read what others of the stage write: those carry
    a later step on their stage's marker (`pytest.mark.etl(step=1)`: metrics reads the loads).
    """
    stage = stage_of(item)
    steps = [marker.kwargs.get("step", 0) for marker in item.iter_markers(stage)]
    return stage_rank(stage), max(steps, default=0)


def in_stage_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """Items sorted by stage and step; otherwise collection order is kept (the sort is stable)."""
    return sorted(items, key=step_of)


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
        """Skip a later-stage item when preflight has failed (but the doctor's: some preflight
        problems have a remedy, e.g. a missing ledger row, and the rest it leaves to a person)."""
        if self.closed and stage_of(item) not in ("preflight", "doctor"):
            pytest.skip(NOT_RUN)


class StageBarrier:
    """Under pytest-xdist, an item starts only once every item of the earlier stages and steps
    (`step_of`) has finished, on whichever worker ran it: a later stage reads what an earlier one
    wrote (ETL before dq, metrics after the loads) and the preflight gate must be decided before
    anything else runs.

    Each worker appends the node ids it finished to a file of its own in the run's folder; a
    worker about to start a stage reads them all. With xdist's default `--dist load`, items reach
    each worker in collection order, which is stage and step order, so the earliest unfinished item is
    always at the head of some worker's queue and nothing waits forever.
    """

    POLL_SECONDS = 0.05

    def __init__(self, folder: Path, worker: str, timeout_seconds: float = 3600):
        self.folder = folder
        self.done_file = folder / f"done-{worker}.txt"
        self.timeout_seconds = timeout_seconds
        # step -> node ids of every earlier stage and step
        self.earlier: dict[tuple[int, int], set[str]] = {}
        self.awaited: set[str] = set()  # node ids some later item waits for

    def plan(self, items: list[pytest.Item]) -> None:
        by_step: dict[tuple[int, int], set[str]] = {}
        for item in items:
            by_step.setdefault(step_of(item), set()).add(item.nodeid)
        before: set[str] = set()
        for step in sorted(by_step):
            self.earlier[step] = set(before)
            before |= by_step[step]
        self.awaited = set().union(*self.earlier.values())

    def finished(self, nodeid: str) -> None:
        """Record a finished item that a later stage waits for (a run of one stage writes none)."""
        if nodeid not in self.awaited:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.done_file.open("a", encoding="utf-8") as handle:
            handle.write(nodeid + "\n")

    def wait_for_earlier_stages(self, item: pytest.Item) -> None:
        waiting_for = self.earlier.get(step_of(item), set())
        deadline = time.monotonic() + self.timeout_seconds
        while waiting_for - self._done():
            if time.monotonic() > deadline:
                pytest.fail(
                    f"waited {self.timeout_seconds:.0f}s for earlier stages to finish on the "
                    "other workers (use xdist's default --dist load)",
                    pytrace=False,
                )
            time.sleep(self.POLL_SECONDS)

    def _done(self) -> set[str]:
        done: set[str] = set()
        for path in self.folder.glob("done-*.txt"):
            done.update(path.read_text(encoding="utf-8").splitlines())
        return done
