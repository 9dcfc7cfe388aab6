-- name: collect-advisory-xact
-- table: victim
-- Attack pg_try_advisory_xact_lock.
SELECT pg_try_advisory_xact_lock(1) WHERE false;
