"""The same 8 gates in selfheal, Soda Core and Great Expectations, whole process, one sitting.

    .venv/bin/python bench/bench_peers.py [--rows 10000000] [--rounds 3] [--peers-venv DIR]
                                          [--baseline CHECKOUT]
    .venv/bin/python bench/bench_dq.py --peers [--rows 10000000] [--repeat 3]   (the same)

The peers are installed into their own virtual environment (default `.bench-peers/`, never the
project's dependencies): Soda Core (`soda-core-postgres`, anonymous usage statistics off in its
`.soda/config.yml`) and Great Expectations (SQLAlchemy + psycopg2, analytics off). A throwaway
embedded server holds an events table of --rows rows without indexes, so every gate scans. The
gates: row count, three not-null columns, a unique key, freshness, no future dates and accepted
values. Each tool runs them as its users do, in a fresh process: `pytest -m dq` for selfheal,
`soda scan` for Soda, a validation definition for GX. Rounds are interleaved (selfheal, Soda, GX,
selfheal, ...) so a change of machine load hits every tool alike; each figure is the median of
--rounds, and the ratios are printed. Nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_dq import EVENT_NAMES, RULES, build  # the engine benchmark's table and gates
from psycopg.conninfo import conninfo_to_dict

from selfheal.core.db import create_database
from selfheal.core.embedded import start_embedded

ROOT = Path(__file__).resolve().parents[1]
PEER_PACKAGES = ["soda-core-postgres", "great-expectations", "sqlalchemy", "psycopg2-binary"]


SODA_CHECKS = """checks for events:
  - row_count > 0
  - missing_count(user_id) = 0
  - missing_count(event_name) = 0
  - missing_count(occurred_at) = 0
  - duplicate_count(event_id) = 0
  - freshness(occurred_at) < 50h
  - future_rows = 0:
      future_rows query: |
        SELECT count(*) FROM events WHERE occurred_at > now() + interval '5 minutes'
  - invalid_count(event_name) = 0:
      valid values: [EVENT_NAMES]
""".replace("EVENT_NAMES", ", ".join(EVENT_NAMES))

GX_SCRIPT = """
import datetime, sys
import great_expectations as gx
from great_expectations import expectations as e

now = datetime.datetime.now(datetime.timezone.utc)
context = gx.get_context(mode="ephemeral")
source = context.data_sources.add_postgres("bench", connection_string=sys.argv[1])
batch = source.add_table_asset("events", table_name="events").add_batch_definition_whole_table("all")
suite = context.suites.add(gx.ExpectationSuite(name="gates"))
for expectation in [
    e.ExpectTableRowCountToBeBetween(min_value=1),
    e.ExpectColumnValuesToNotBeNull(column="user_id"),
    e.ExpectColumnValuesToNotBeNull(column="event_name"),
    e.ExpectColumnValuesToNotBeNull(column="occurred_at"),
    e.ExpectColumnValuesToBeUnique(column="event_id"),
    e.ExpectColumnMaxToBeBetween(column="occurred_at", min_value=now - datetime.timedelta(hours=50)),
    e.ExpectColumnMaxToBeBetween(column="occurred_at", max_value=now + datetime.timedelta(minutes=5)),
    e.ExpectColumnValuesToBeInSet(column="event_name", value_set=sys.argv[2].split(",")),
]:
    suite.add_expectation(expectation)
validation = context.validation_definitions.add(
    gx.ValidationDefinition(name="gates", data=batch, suite=suite)
)
result = validation.run()
sys.exit(0 if result.success else 1)
"""


def ensure_peers(venv: Path) -> Path:
    """The peers' own virtual environment, created and filled on first use; its python."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    missing = subprocess.run(
        [str(python), "-c", "import soda.scan, great_expectations, sqlalchemy, psycopg2"],
        capture_output=True,
    )
    if missing.returncode:
        print(f"installing {', '.join(PEER_PACKAGES)} into {venv} ...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    return python


def run(args: list[str], env: dict[str, str], cwd: Path) -> None:
    """One whole process; a gate that fails or a tool that errs makes the figure meaningless.

    Every tool runs as on a user's machine, where Python caches compiled modules: a
    PYTHONDONTWRITEBYTECODE inherited from a sandbox is dropped for all three alike (it makes
    pytest recompile every module it rewrites, selfheal's and hypothesis's, on every run).
    """
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(args, env={**inherited, **env}, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{args[0]} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def selfheal_run(dsn: str, work: Path, root: Path = ROOT) -> Callable[[], None]:
    """`pytest -m dq` of the checkout at `root` (its own selfheal: `python -m` puts the working
    folder first on the module path)."""
    work.mkdir(exist_ok=True)
    rules = work / "selfheal-rules"
    rules.mkdir()
    (rules / "events.toml").write_text(RULES)
    (work / "selfheal-sql").mkdir()
    env = {
        "SUPABASE_DB_URL": dsn,
        "SELFHEAL_DQ_DIR": str(rules),
        "SELFHEAL_DQ_SQL_DIR": str(work / "selfheal-sql"),
        "SELFHEAL_REPORTS_DIR": str(work / "reports"),
        "SELFHEAL_BACKLOG_DIR": str(work / "backlog"),
    }
    pytest = [sys.executable, "-m", "pytest", "-m", "dq", "-q", "-p", "no:cacheprovider"]
    args = [*pytest, "--no-tickets", f"--html={work}/report.html"]
    return lambda: run(args, env, root)


def soda_run(dsn: str, work: Path, peers: Path) -> Callable[[], None]:
    parts = conninfo_to_dict(dsn)
    # Soda reads its usage-statistics switch from ~/.soda/config.yml (not the data source's).
    (work / ".soda").mkdir(exist_ok=True)
    (work / ".soda" / "config.yml").write_text("send_anonymous_usage_stats: false\n")
    (work / "soda.yml").write_text(
        "data_source bench:\n  type: postgres\n"
        f"  host: {parts['host']}\n  port: {parts['port']}\n"
        f"  username: {parts['user']}\n  password: ''\n"
        f"  database: {parts['dbname']}\n  schema: public\n"
    )
    (work / "checks.yml").write_text(SODA_CHECKS)
    soda = peers.parent / "soda"
    args = [
        str(soda),
        "scan",
        "-d",
        "bench",
        "-c",
        str(work / "soda.yml"),
        str(work / "checks.yml"),
    ]
    return lambda: run(args, {"HOME": str(work)}, work)


def gx_run(dsn: str, work: Path, peers: Path) -> Callable[[], None]:
    parts = conninfo_to_dict(dsn)
    url = f"postgresql+psycopg2://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"
    script = work / "gx_gates.py"
    script.write_text(GX_SCRIPT)
    args = [str(peers), str(script), url, ",".join(EVENT_NAMES)]
    return lambda: run(args, {"GX_ANALYTICS_ENABLED": "false"}, work)


GOALS = {"soda": 2.5, "gx": 5.0}  # how many times faster than each peer selfheal should be


def compare(rows: int, rounds: int, peers_venv: Path, baseline: Path | None = None) -> None:
    """Build the table, run the tools interleaved, print medians and ratios; `baseline`, another
    checkout of selfheal (e.g. a worktree of main), runs as one more tool, to measure a change
    in the same sitting."""
    peers = ensure_peers(peers_venv.absolute())  # the tools run in a scratch folder
    with start_embedded() as server, tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        dsn = create_database(server.dsn(), "bench")
        build(dsn, rows)
        tools = {"selfheal": selfheal_run(dsn, work / "selfheal")}
        if baseline is not None:
            tools["baseline"] = selfheal_run(dsn, work / "baseline", baseline.absolute())
        tools |= {"soda": soda_run(dsn, work, peers), "gx": gx_run(dsn, work, peers)}
        samples: dict[str, list[float]] = {name: [] for name in tools}
        for round_number in range(rounds):
            for name, action in tools.items():
                started = time.perf_counter()
                action()
                samples[name].append(time.perf_counter() - started)
            print(
                f"round {round_number + 1}: "
                + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in samples.items()),
                flush=True,
            )

    median = {name: statistics.median(values) for name, values in samples.items()}
    for name, seconds in median.items():
        print(f"{name:>9}: {seconds:7.2f} s  (median of {rounds}, whole process)")
    if baseline is not None:
        print(f"baseline / selfheal = {median['baseline'] / median['selfheal']:.2f}")
        for peer, wanted in GOALS.items():
            print(
                f"{peer} / baseline = {median[peer] / median['baseline']:.2f}  (goal >= {wanted})"
            )
    for peer, wanted in GOALS.items():
        ratio = median[peer] / median["selfheal"]
        verdict = "met" if ratio >= wanted else "MISSED"
        print(f"{peer} / selfheal = {ratio:.2f}  (goal >= {wanted}: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peers-venv", type=Path, default=ROOT / ".bench-peers")
    parser.add_argument(
        "--baseline", type=Path, help="another selfheal checkout to run alike (e.g. main)"
    )
    args = parser.parse_args()
    compare(args.rows, args.rounds, args.peers_venv, args.baseline)


if __name__ == "__main__":
    main()
