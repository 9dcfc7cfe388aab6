-- name: collect-values-listen
-- table: victim
-- Attack LISTEN.
LISTEN victim;
