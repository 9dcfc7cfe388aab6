-- selfheal_reader: the role checks SET ROLE to when they run SQL from rule files (DQ `where`
-- fragments, checks/sql/). It can read and nothing else: NOLOGIN, SELECT on public only, and
-- BYPASSRLS so data-quality checks see every row (a role under RLS would silently count fewer).
-- Where the migrating role may not grant BYPASSRLS, preflight says so and checks keep to their
-- READ ONLY transactions; a superuser can finish with: ALTER ROLE selfheal_reader BYPASSRLS;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'selfheal_reader') THEN
    CREATE ROLE selfheal_reader NOLOGIN NOINHERIT;
  END IF;
EXCEPTION WHEN duplicate_object THEN
  NULL;  -- created meanwhile by a migration of another database of the same server
END
$$;

DO $$
BEGIN
  IF NOT (SELECT rolbypassrls FROM pg_roles WHERE rolname = 'selfheal_reader') THEN
    ALTER ROLE selfheal_reader BYPASSRLS;
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'selfheal_reader: % may not grant BYPASSRLS; checks keep to read-only transactions', current_user;
END
$$;

GRANT USAGE ON SCHEMA public TO selfheal_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO selfheal_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO selfheal_reader;

-- The login that migrates is usually the one that checks: it may SET ROLE selfheal_reader.
DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'selfheal_reader', 'MEMBER') THEN
    EXECUTE format('GRANT selfheal_reader TO %I', current_user);
  END IF;
END
$$;
