-- name: collect-call
-- table: victim
-- Attack CALL runs a procedure that can commit.
CALL public.wipe();
