-- name: run-volatile-function
-- table: victim
-- Attack a VOLATILE function of the checked schema.
SELECT public.zap() AS deleted WHERE false;
