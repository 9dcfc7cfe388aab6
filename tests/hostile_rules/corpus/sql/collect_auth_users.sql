-- name: collect-auth-users
-- table: victim
-- Attack reads another schema.
SELECT * FROM auth.users;
