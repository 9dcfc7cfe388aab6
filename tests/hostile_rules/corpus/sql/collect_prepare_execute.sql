-- name: collect-prepare-execute
-- table: victim
-- Attack PREPARE a DELETE.
PREPARE p AS DELETE FROM public.victim;
