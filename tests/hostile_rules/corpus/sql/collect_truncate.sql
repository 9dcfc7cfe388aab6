-- name: collect-truncate
-- table: victim
-- Attack TRUNCATE.
TRUNCATE public.victim;
