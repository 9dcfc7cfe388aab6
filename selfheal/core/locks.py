"""Advisory locks that work through a transaction-mode pooler as well as on a direct connection.

A session-level advisory lock belongs to a server connection, and behind a transaction-mode pooler
(PgBouncer, Supavisor on port 6543) the client's next transaction may run on another one: the lock
would be held by a connection the pool hands to someone else, and never released by us. So the
locks are transaction-level, taken in a transaction of a connection of their own that stays open
for the `with` block: the pooler keeps that transaction on one server connection, and the locks go
when it ends (or when the process dies and its connection closes). The work itself runs on other
connections, in as many transactions as it likes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import errors, sql

from selfheal.core.db import connect, set_config

# Namespace of selfheal's two-key advisory locks, so that they do not collide with other
# applications' (the second key is the hash of the lock's name).
LOCK_NAMESPACE = 20_251_112
log = logging.getLogger(__name__)


@contextmanager
def advisory_locks(
    dsn: str,
    names: Sequence[str],
    *,
    wait_seconds: float | None = 0,
    pooler: str | None = None,
    application_name: str = "selfheal",
) -> Iterator[bool]:
    """Hold the locks of `names` (taken in sorted order) for the block; yields False, holding
    none, when one is still busy after `wait_seconds` (0 = do not wait, None = wait for it)."""
    with connect(dsn, application_name=application_name, pooler=pooler) as holder:
        taken = _take(holder, sorted(set(names)), wait_seconds)
        try:
            yield taken
        finally:
            _release(holder)


def _take(holder: psycopg.Connection, names: list[str], wait_seconds: float | None) -> bool:
    wait = wait_seconds is None or wait_seconds > 0
    if wait_seconds:
        set_config(holder, {"lock_timeout": f"{int(wait_seconds * 1000)}ms"}, local=True)
    take = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    query = sql.SQL("SELECT {}(%s, hashtext(%s))").format(sql.Identifier(take))
    try:
        for name in names:
            if (
                holder.execute(query, (LOCK_NAMESPACE, name)).fetchone()[0] is False
            ):  # the try form said busy
                return False
    except errors.LockNotAvailable:
        return False
    return True


def _release(holder: psycopg.Connection) -> None:
    """End the holder's transaction, which releases its locks; a holder the server ended early
    (an idle-in-transaction timeout, a restart) released them then, which is said."""
    try:
        holder.rollback()
    except psycopg.Error as error:
        log.warning("the advisory lock holder ended before the work did: %s", error)
