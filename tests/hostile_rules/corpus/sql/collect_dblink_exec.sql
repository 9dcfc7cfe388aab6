-- name: collect-dblink-exec
-- table: victim
-- Attack dblink_exec on a loopback connection.
SELECT dblink_exec('dbname=postgres', 'DROP TABLE public.victim') WHERE false;
