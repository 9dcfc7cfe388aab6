-- name: collect-insert-select
-- table: victim
-- Attack INSERT ... SELECT.
INSERT INTO public.victim SELECT 100, 'x' RETURNING id;
