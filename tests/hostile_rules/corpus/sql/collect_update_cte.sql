-- name: collect-update-cte
-- table: victim
-- Attack WITH ... UPDATE ... SELECT.
WITH u AS (UPDATE public.victim SET note = 'owned' RETURNING id) SELECT id FROM u;
