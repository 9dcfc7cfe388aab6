"""Benchmark of the embedded default's start-up against PostgreSQL's own tools.

    .venv/bin/python bench/bench_embedded.py [--repeat 5]

Measures in the same run, each figure the median of --repeat rounds:
  baseline   initdb, then `pg_ctl start -w` and a first session, then `pg_ctl stop` (the floor:
             what any embedded server must do)
  embedded   selfheal.core.embedded.start_embedded() until a session opens, then stop()
  template   a migrated database cloned from a template (what each test that writes pays)
  migrate    shim + every migration applied to an empty database (what the clone avoids)
Prints the seconds and the ratios embedded/baseline and migrate/template. Not a timed test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import port_for
import psycopg

from selfheal.core.db import create_database, drop_database
from selfheal.core.embedded import find_pg_ctl, start_embedded
from selfheal.migrate.runner import prepare_database

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _median_seconds(action: Callable[[], None], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _run(*args: str) -> None:
    subprocess.run(_as_server_user(list(args)), check=True, capture_output=True)


def raw_start_stop() -> None:
    pg_ctl = find_pg_ctl()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        os.chmod(tmp, 0o777)
        port = port_for.select_random()
        _run(str(pg_ctl.parent / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
        _run(
            str(pg_ctl),
            "start",
            "-w",
            "-D",
            str(data),
            "-l",
            str(Path(tmp) / "log"),
            "-o",
            f"-p {port} -k {tmp} -c fsync=off",
        )
        psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres").close()
        _run(str(pg_ctl), "stop", "-D", str(data), "-m", "fast")


def embedded_start_stop() -> None:
    start_embedded().stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    baseline = _median_seconds(raw_start_stop, args.repeat)
    embedded = _median_seconds(embedded_start_stop, args.repeat)
    with start_embedded() as server:
        admin = server.dsn()
        template = "bench_template"
        prepare_database(create_database(admin, template), MIGRATIONS)

        def fresh(template_name: str | None) -> None:
            name = f"b_{uuid.uuid4().hex[:8]}"
            dsn = create_database(admin, name, template_name)
            if template_name is None:
                prepare_database(dsn, MIGRATIONS)
            drop_database(admin, name)

        cloned = _median_seconds(lambda: fresh(template), args.repeat)
        migrated = _median_seconds(lambda: fresh(None), args.repeat)

    print(f"baseline initdb+start+session+stop : {baseline:.3f} s")
    print(
        f"embedded start_embedded+stop       : {embedded:.3f} s  ({embedded / baseline:.2f}x baseline)"
    )
    print(f"migrated database from template    : {cloned:.3f} s")
    print(
        f"migrated database from scratch     : {migrated:.3f} s  ({migrated / cloned:.2f}x template)"
    )


if __name__ == "__main__":
    main()
