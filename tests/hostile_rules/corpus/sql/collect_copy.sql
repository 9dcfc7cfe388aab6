-- name: collect-copy
-- table: victim
-- Attack COPY writes a server file.
COPY public.victim TO '/tmp/selfheal-stolen.csv';
