-- name: collect-set-config
-- table: victim
-- Attack set_config in the select list.
SELECT pg_catalog.set_config('default_transaction_read_only', 'off', false) WHERE false;
