-- name: collect-set-role
-- table: victim
-- Attack SET ROLE escapes the reader role.
SET ROLE postgres;
