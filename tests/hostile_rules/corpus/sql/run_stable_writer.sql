-- name: run-stable-writer
-- table: victim
-- Attack a STABLE function that deletes anyway.
SELECT id FROM public.victim WHERE public.stable_writer() = 0;
