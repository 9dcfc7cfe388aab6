"""Advisory locks that work through a transaction-mode pooler as well as on a direct connection.

The locks are held by a connection of their own for the `with` block; the work runs on other
connections, in as many transactions as it likes. On a direct connection they are session locks
of that connection, gone when it closes (or the process dies). Behind a transaction-mode pooler
(PgBouncer, Supavisor on port 6543) a session lock would belong to a server connection the pool
hands to someone else, so there they are transaction locks, taken in a transaction that stays
open for the block: the pooler keeps it on one server connection, and the locks go when it ends.
That open transaction holds back the cleanup horizon while it lasts, and a CREATE INDEX
CONCURRENTLY waits for it: work that needs one is not done through a transaction pooler.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import errors, sql

from selfheal.core.db import connect, set_config, transaction_pooled

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
    with connect(dsn, autocommit=True, application_name=application_name, pooler=pooler) as holder:
        pooled = transaction_pooled(holder, pooler)
        holder.autocommit = not pooled  # pooled: the first statement opens the holding transaction
        taken = _take(holder, sorted(set(names)), wait_seconds, pooled)
        try:
            yield taken
        finally:
            _release(holder)


def _take(
    holder: psycopg.Connection, names: list[str], wait_seconds: float | None, pooled: bool
) -> bool:
    wait = wait_seconds is None or wait_seconds > 0
    if wait_seconds:
        set_config(holder, {"lock_timeout": f"{int(wait_seconds * 1000)}ms"}, local=pooled)
    take = _FUNCTIONS[wait, pooled]
    query = sql.SQL("SELECT {}(%s, hashtext(%s))").format(sql.Identifier(take))
    try:
        for name in names:
            if holder.execute(query, (LOCK_NAMESPACE, name)).fetchone()[0] is False:
                _release(holder)  # the try form said busy: let go of those already taken
                return False
    except errors.LockNotAvailable:
        _release(holder)
        return False
    return True


# (wait for it, behind a transaction pooler) -> the function that takes the lock
_FUNCTIONS = {
    (True, False): "pg_advisory_lock",
    (False, False): "pg_try_advisory_lock",
    (True, True): "pg_advisory_xact_lock",
    (False, True): "pg_try_advisory_xact_lock",
}


def _release(holder: psycopg.Connection) -> None:
    """Let go of every lock the holder has: end its transaction (pooled), or unlock them all.
    A holder the server ended early (an idle-in-transaction timeout, a restart) released them
    then, which is said."""
    try:
        if holder.autocommit:
            holder.execute("SELECT pg_advisory_unlock_all()")
        else:
            holder.rollback()
    except psycopg.Error as error:
        log.warning("the advisory lock holder ended before the work did: %s", error)
