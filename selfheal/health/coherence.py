"""Part 6, multi-agent coherence: sessions and jobs that get in each other's way."""

from __future__ import annotations

from selfheal.core.text import human_seconds
from selfheal.health.model import AuditContext, Check, HealthFinding, HealthResult

PART = "multi_agent_coherence"

# Each query looks at client sessions of this database other than the audit's own. Of a
# statement only its command word is shown: its text may carry data or a password.
IDLE_IN_TRANSACTION = """
SELECT a.pid, a.usename, a.application_name, a.state,
       extract(epoch FROM now() - a.state_change)::bigint AS seconds
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend' AND a.state LIKE 'idle in transaction%%'
  AND now() - a.state_change >= make_interval(secs => %(seconds)s)
ORDER BY a.pid
"""

LONG_RUNNING = """
SELECT a.pid, a.usename, a.application_name, upper(split_part(ltrim(a.query), ' ', 1)) AS command,
       extract(epoch FROM now() - a.query_start)::bigint AS seconds
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend' AND a.state = 'active'
  AND now() - a.query_start >= make_interval(secs => %(seconds)s)
ORDER BY a.pid
"""

BLOCKED = """
SELECT a.pid, a.application_name, pg_blocking_pids(a.pid) AS blockers, a.wait_event,
       upper(split_part(ltrim(a.query), ' ', 1)) AS command, extract(epoch FROM now() - a.query_start)::bigint AS seconds
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend' AND cardinality(pg_blocking_pids(a.pid)) > 0
  AND now() - a.query_start >= make_interval(secs => %(seconds)s)
ORDER BY a.pid
"""

ADVISORY_LOCKS = """
SELECT l.pid, l.classid, l.objid, l.objsubid, a.application_name, a.state
FROM pg_locks l
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY l.pid, l.objid
"""


def _who(r: dict) -> str:
    app = f" ({r['application_name']})" if r.get("application_name") else ""
    return f"pid {r['pid']}{app}"


def idle_in_transaction(ctx: AuditContext) -> HealthResult:
    seconds = ctx.config.threshold("idle_in_transaction_seconds")
    findings = [
        HealthFinding(
            "idle_in_transaction",
            _who(r),
            "warn",
            f"{r['state']} for {human_seconds(r['seconds'])}: holds its locks and snapshot, blocks vacuum",
            "commit or roll back in the client; set idle_in_transaction_session_timeout; "
            f"as a last resort SELECT pg_terminate_backend({r['pid']})",
        )
        for r in ctx.rows(IDLE_IN_TRANSACTION, {"seconds": seconds})
    ]
    return HealthResult(
        f"sessions idle in a transaction for {human_seconds(seconds)} or more", findings
    )


def long_running(ctx: AuditContext) -> HealthResult:
    seconds = ctx.config.threshold("long_running_seconds")
    findings = [
        HealthFinding(
            "long_running",
            _who(r),
            "warn",
            f"a {r['command']} running for {human_seconds(r['seconds'])}",
            f"check the plan; SELECT pg_cancel_backend({r['pid']}) if it is stuck; "
            "set statement_timeout for the role",
        )
        for r in ctx.rows(LONG_RUNNING, {"seconds": seconds})
    ]
    return HealthResult(f"statements running for {human_seconds(seconds)} or more", findings)


def blocked_lock_waits(ctx: AuditContext) -> HealthResult:
    seconds = ctx.config.threshold("lock_wait_seconds")
    findings = [
        HealthFinding(
            "blocked_lock_wait",
            _who(r),
            "error",
            f"a {r['command']} waiting {human_seconds(r['seconds'])} on a {r['wait_event']} lock held by "
            f"pid(s) {', '.join(map(str, r['blockers']))}",
            "end the blocking transaction(s) (see pg_stat_activity for their pids); "
            "set lock_timeout in jobs that take strong locks",
        )
        for r in ctx.rows(BLOCKED, {"seconds": seconds})
    ]
    return HealthResult(
        f"sessions blocked on a lock for {human_seconds(seconds)} or more", findings
    )


def advisory_locks(ctx: AuditContext) -> HealthResult:
    findings = []
    for r in ctx.rows(ADVISORY_LOCKS):
        key = f"({r['classid']}, {r['objid']}, {r['objsubid']})"
        idle = r["state"] is not None and r["state"].startswith("idle")
        findings.append(
            HealthFinding(
                "advisory_lock",
                f"{_who(r)} key {key}",
                "warn" if idle else "info",
                f"advisory lock held by a session that is {r['state'] or 'gone'}"
                + (": a job that never released its lock keeps others out" if idle else ""),
                "release it in the job (pg_advisory_unlock) or end the session holding it",
            )
        )
    return HealthResult("advisory locks held in this database", findings)


OVERLAPS = """
SELECT a.source, a.run_id AS first_run, b.run_id AS second_run,
       a.started_at AS first_started, b.started_at AS second_started,
       a.status AS first_status, b.status AS second_status
FROM {runs} a
JOIN {runs} b ON b.source = a.source AND b.run_id > a.run_id
 AND tstzrange(a.started_at, coalesce(a.finished_at, 'infinity'))
  && tstzrange(b.started_at, coalesce(b.finished_at, 'infinity'))
WHERE a.started_at >= now() - make_interval(days => %(days)s)
  -- A run the ETL closed as abandoned (its process had stopped) ran no longer than its process:
  -- its finished_at is when it was found, so it overlaps nothing (its premise already healed).
  AND coalesce(a.error, '') NOT LIKE 'abandoned:%%' AND coalesce(b.error, '') NOT LIKE 'abandoned:%%'
ORDER BY a.source, a.run_id, b.run_id
"""


def overlapping_etl_runs(ctx: AuditContext) -> HealthResult:
    runs = ctx.config.etl_runs
    days = int(ctx.config.threshold("etl_overlap_days"))
    query = ctx.ledger_query(OVERLAPS)
    if query is None:
        return HealthResult(f"no ETL ledger: {runs} does not exist")
    findings = [
        HealthFinding(
            "overlapping_etl_runs",
            f"{r['source']} runs {r['first_run']} and {r['second_run']}",
            "error",
            f"two runs of {r['source']} at once (started {ctx.at(r['first_started'])} "
            f"[{r['first_status']}] and {ctx.at(r['second_started'])} "
            f"[{r['second_status']}]): they race on the watermark and the upserts",
            "serialize runs per source (an advisory lock keyed on the source); "
            "mark a crashed 'running' run failed",
        )
        for r in ctx.rows(query, {"days": days})
    ]
    return HealthResult(f"ETL runs of the last {days} days in {runs}", findings)


CHECKS = (
    Check(PART, "idle_in_transaction", idle_in_transaction),
    Check(PART, "long_running", long_running),
    Check(PART, "blocked_lock_wait", blocked_lock_waits),
    Check(PART, "advisory_lock", advisory_locks),
    Check(PART, "overlapping_etl_runs", overlapping_etl_runs, reads_rows=True),
)
