-- name: collect-for-update
-- table: victim
-- Attack FOR UPDATE locks every row.
SELECT id FROM public.victim WHERE false FOR UPDATE;
