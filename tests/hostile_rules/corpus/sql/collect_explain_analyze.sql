-- name: collect-explain-analyze
-- table: victim
-- Attack EXPLAIN ANALYZE runs its DELETE.
EXPLAIN ANALYZE DELETE FROM public.victim;
