-- name: collect-delete
-- table: victim
-- Attack a DELETE instead of a query.
DELETE FROM public.victim RETURNING id;
