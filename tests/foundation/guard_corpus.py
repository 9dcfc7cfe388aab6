"""Migration snippets the guard must refuse (with the kind of damage) or accept.

Each snippet runs as `0099_snippet.sql` after the project's migrations and `FIXTURE` (extra
objects of every kind, so that each kind can be destroyed).
"""

FIXTURE = """
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE SCHEMA IF NOT EXISTS corpus_extra;
DO $$ BEGIN
  IF to_regtype('public.corpus_status') IS NULL THEN
    CREATE TYPE public.corpus_status AS ENUM ('new', 'done');
  END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.corpus_t (
  id int PRIMARY KEY, label varchar(20), n int, amount numeric(10,2), status public.corpus_status
);
CREATE OR REPLACE VIEW public.corpus_view AS SELECT id FROM public.corpus_t;
CREATE MATERIALIZED VIEW IF NOT EXISTS public.corpus_mv AS SELECT id FROM public.corpus_t;
CREATE SEQUENCE IF NOT EXISTS public.corpus_seq;
CREATE OR REPLACE FUNCTION public.corpus_trg_fn() RETURNS trigger
  LANGUAGE plpgsql SET search_path = '' AS $$ BEGIN RETURN NEW; END $$;
CREATE OR REPLACE TRIGGER corpus_trg BEFORE INSERT ON public.events
  FOR EACH ROW EXECUTE FUNCTION public.corpus_trg_fn();
ALTER TABLE public.daily_metrics FORCE ROW LEVEL SECURITY;
"""

# (id, expected kind, sql)
DESTRUCTIVE = [
    ("drop-table", "drop", "DROP TABLE public.events;"),
    ("drop-table-if-exists-cascade", "drop", "DROP TABLE IF EXISTS public.ads_source_a CASCADE;"),
    ("drop-column", "drop", "ALTER TABLE public.events DROP COLUMN properties;"),
    (
        "drop-column-if-exists",
        "drop",
        "ALTER TABLE public.events DROP COLUMN IF EXISTS received_at;",
    ),
    ("drop-index", "drop", "DROP INDEX public.events_user_id_idx;"),
    ("drop-index-if-exists", "drop", "DROP INDEX IF EXISTS public.events_occurred_at_idx;"),
    (
        "drop-index-concurrently",
        "drop",
        "-- selfheal: no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS public.events_user_id_idx;",
    ),
    (
        "drop-check-constraint",
        "drop",
        "ALTER TABLE public.etl_runs DROP CONSTRAINT etl_runs_status_check;",
    ),
    (
        "drop-foreign-key",
        "drop",
        "ALTER TABLE public.etl_quarantine DROP CONSTRAINT etl_quarantine_run_id_fkey;",
    ),
    ("drop-primary-key", "drop", "ALTER TABLE public.events DROP CONSTRAINT events_pkey;"),
    ("drop-policy", "drop", "DROP POLICY events_select_own ON public.events;"),
    (
        "drop-and-recreate-policy",
        "drop",
        "DROP POLICY IF EXISTS events_select_own ON public.events;\n"
        "CREATE POLICY events_select_own ON public.events FOR SELECT TO authenticated "
        "USING ((SELECT auth.uid()) = user_id);",
    ),
    ("drop-function", "drop", "DROP FUNCTION public.upsert_events(jsonb);"),
    ("drop-function-if-exists", "drop", "DROP FUNCTION IF EXISTS public.upsert_ads_source_a;"),
    ("drop-type", "drop", "DROP TYPE public.corpus_status CASCADE;"),
    ("drop-schema", "drop", "DROP SCHEMA corpus_extra CASCADE;"),
    ("drop-view", "drop", "DROP VIEW public.corpus_view;"),
    ("drop-materialized-view", "drop", "DROP MATERIALIZED VIEW public.corpus_mv;"),
    ("drop-sequence", "drop", "DROP SEQUENCE public.corpus_seq;"),
    ("drop-trigger", "drop", "DROP TRIGGER corpus_trg ON public.events;"),
    ("drop-extension", "drop", "DROP EXTENSION pgcrypto;"),
    ("drop-absent-table", "drop", "DROP TABLE IF EXISTS public.legacy_table;"),
    ("drop-in-do-block", "drop", "DO $$ BEGIN EXECUTE 'DROP TABLE public.daily_metrics'; END $$;"),
    ("rename-table", "rename", "ALTER TABLE public.events RENAME TO events_v2;"),
    ("rename-column", "rename", "ALTER TABLE public.events RENAME COLUMN event_name TO name;"),
    ("rename-index", "rename", "ALTER INDEX public.events_user_id_idx RENAME TO e_uid;"),
    (
        "rename-constraint",
        "rename",
        "ALTER TABLE public.etl_runs RENAME CONSTRAINT etl_runs_status_check TO s_chk;",
    ),
    ("rename-policy", "rename", "ALTER POLICY events_select_own ON public.events RENAME TO p2;"),
    (
        "rename-function",
        "rename",
        "ALTER FUNCTION public.upsert_events(jsonb) RENAME TO upsert_events_v2;",
    ),
    ("rename-schema", "rename", "ALTER SCHEMA corpus_extra RENAME TO corpus_x;"),
    ("rename-type", "rename", "ALTER TYPE public.corpus_status RENAME TO corpus_state;"),
    ("rename-view", "rename", "ALTER VIEW public.corpus_view RENAME TO corpus_view_2;"),
    (
        "narrow-text-to-varchar",
        "narrow",
        "ALTER TABLE public.events ALTER COLUMN event_name TYPE varchar(20);",
    ),
    (
        "narrow-bigint-to-int",
        "narrow",
        "ALTER TABLE public.ads_source_a ALTER COLUMN impressions TYPE integer;",
    ),
    (
        "narrow-numeric-precision",
        "narrow",
        "ALTER TABLE public.ads_source_a ALTER COLUMN spend TYPE numeric(10,2);",
    ),
    (
        "narrow-timestamptz-to-timestamp",
        "narrow",
        "ALTER TABLE public.events ALTER COLUMN occurred_at TYPE timestamp;",
    ),
    (
        "narrow-char",
        "narrow",
        "ALTER TABLE public.ads_source_a ALTER COLUMN currency TYPE char(2);",
    ),
    ("narrow-varchar", "narrow", "ALTER TABLE public.corpus_t ALTER COLUMN label TYPE varchar(5);"),
    (
        "jsonb-to-json",
        "narrow",
        "ALTER TABLE public.events ALTER COLUMN properties TYPE json USING properties::json;",
    ),
    ("disable-rls", "disable-rls", "ALTER TABLE public.events DISABLE ROW LEVEL SECURITY;"),
    (
        "disable-rls-ops-table",
        "disable-rls",
        "ALTER TABLE public.etl_runs DISABLE ROW LEVEL SECURITY;",
    ),
    (
        "no-force-rls",
        "disable-rls",
        "ALTER TABLE public.daily_metrics NO FORCE ROW LEVEL SECURITY;",
    ),
    ("truncate", "truncate", "TRUNCATE public.events;"),
    ("truncate-two", "truncate", "TRUNCATE TABLE public.ads_source_a, public.ads_source_b;"),
    (
        "truncate-in-do-block",
        "truncate",
        "DO $$ BEGIN EXECUTE 'TRUNCATE public.etl_quarantine'; END $$;",
    ),
    ("delete-all", "delete", "DELETE FROM public.etl_quarantine;"),
    (
        "delete-where",
        "delete",
        "DELETE FROM public.events WHERE occurred_at < now() - interval '1 year';",
    ),
    (
        "seed-not-idempotent",
        "not-idempotent",
        "INSERT INTO public.corpus_t (id, label) SELECT coalesce(max(id), 0) + 1, 'x' "
        "FROM public.corpus_t;",
    ),
    ("create-without-if-not-exists", "not-idempotent", "CREATE TABLE public.plain (id int);"),
    (
        "add-column-without-if-not-exists",
        "not-idempotent",
        "ALTER TABLE public.events ADD COLUMN session_id text;",
    ),
    ("syntax-error", "error", "CREATE TABLE IF NOT EXISTS public.ok (id int);\nCREAT TABLE x;"),
]

SAFE = [
    ("create-table", "CREATE TABLE IF NOT EXISTS public.new_t (id bigint PRIMARY KEY);"),
    ("add-column", "ALTER TABLE public.events ADD COLUMN IF NOT EXISTS session_id text;"),
    ("create-index", "CREATE INDEX IF NOT EXISTS events_name_idx ON public.events (event_name);"),
    (
        "create-index-concurrently",
        "-- selfheal: no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_recv_idx ON public.events (received_at);",
    ),
    (
        "create-or-replace-function",
        "CREATE OR REPLACE FUNCTION public.one() RETURNS int LANGUAGE sql SET search_path = '' "
        "AS $$ SELECT 1 $$;",
    ),
    (
        "create-or-replace-view",
        "CREATE OR REPLACE VIEW public.recent_events AS SELECT event_id FROM public.events;",
    ),
    ("comment", "COMMENT ON TABLE public.events IS 'owner: analytics; purpose: events';"),
    ("comment-column", "COMMENT ON COLUMN public.events.user_id IS 'auth.users id';"),
    ("grant", "GRANT SELECT ON public.daily_metrics TO authenticated;"),
    ("revoke", "REVOKE INSERT ON public.daily_metrics FROM anon;"),
    ("create-schema", "CREATE SCHEMA IF NOT EXISTS analytics;"),
    ("create-extension", "CREATE EXTENSION IF NOT EXISTS pg_trgm;"),
    ("same-type", "ALTER TABLE public.events ALTER COLUMN event_name TYPE text;"),
    ("widen-varchar", "ALTER TABLE public.corpus_t ALTER COLUMN label TYPE varchar(40);"),
    ("varchar-to-text", "ALTER TABLE public.corpus_t ALTER COLUMN label TYPE text;"),
    ("int-to-bigint", "ALTER TABLE public.corpus_t ALTER COLUMN n TYPE bigint;"),
    ("widen-numeric", "ALTER TABLE public.corpus_t ALTER COLUMN amount TYPE numeric(12,2);"),
    ("numeric-unbounded", "ALTER TABLE public.corpus_t ALTER COLUMN amount TYPE numeric;"),
    ("enable-rls-again", "ALTER TABLE public.events ENABLE ROW LEVEL SECURITY;"),
    ("force-rls", "ALTER TABLE public.ads_source_a FORCE ROW LEVEL SECURITY;"),
    (
        "guarded-policy",
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_policies WHERE policyname = 'corpus_read') THEN "
        "CREATE POLICY corpus_read ON public.corpus_t FOR SELECT TO authenticated USING (true); "
        "END IF; END $$;",
    ),
    (
        "guarded-enum",
        "DO $$ BEGIN IF to_regtype('public.mood') IS NULL THEN "
        "CREATE TYPE public.mood AS ENUM ('ok', 'meh'); END IF; END $$;",
    ),
    ("enum-add-value", "ALTER TYPE public.corpus_status ADD VALUE IF NOT EXISTS 'archived';"),
    ("set-default", "ALTER TABLE public.corpus_t ALTER COLUMN label SET DEFAULT 'none';"),
    ("set-not-null", "ALTER TABLE public.corpus_t ALTER COLUMN label SET NOT NULL;"),
    ("drop-not-null", "ALTER TABLE public.events ALTER COLUMN received_at DROP NOT NULL;"),
    (
        "guarded-check-constraint",
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'corpus_n_pos') THEN "
        "ALTER TABLE public.corpus_t ADD CONSTRAINT corpus_n_pos CHECK (n >= 0) NOT VALID; "
        "END IF; END $$;",
    ),
    (
        "seed-on-conflict-nothing",
        "INSERT INTO public.corpus_t (id, label) VALUES (1, 'one') ON CONFLICT (id) DO NOTHING;",
    ),
    (
        "seed-on-conflict-update",
        "INSERT INTO public.corpus_t (id, label) VALUES (2, 'two') "
        "ON CONFLICT (id) DO UPDATE SET label = excluded.label;",
    ),
    ("update-nothing", "UPDATE public.corpus_t SET label = label WHERE false;"),
    (
        "helper-table-created-and-dropped",
        "CREATE TABLE public.scratch_helper (x int);\nDROP TABLE public.scratch_helper;",
    ),
    ("temp-table", "CREATE TEMP TABLE staging (x int);\nDROP TABLE staging;"),
    ("create-sequence", "CREATE SEQUENCE IF NOT EXISTS public.invoice_seq;"),
    (
        "create-materialized-view",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS public.daily_totals AS "
        "SELECT metric_date, sum(spend) AS spend FROM public.daily_metrics GROUP BY metric_date;",
    ),
    (
        "create-or-replace-trigger",
        "CREATE OR REPLACE TRIGGER corpus_t_trg BEFORE UPDATE ON public.corpus_t "
        "FOR EACH ROW EXECUTE FUNCTION public.corpus_trg_fn();",
    ),
    (
        "generated-column",
        "ALTER TABLE public.ads_source_a ADD COLUMN IF NOT EXISTS ctr numeric "
        "GENERATED ALWAYS AS (clicks::numeric / nullif(impressions, 0)) STORED;",
    ),
    (
        "partitioned-table",
        "CREATE TABLE IF NOT EXISTS public.events_log (at timestamptz NOT NULL, body text) "
        "PARTITION BY RANGE (at);\n"
        "CREATE TABLE IF NOT EXISTS public.events_log_2026 PARTITION OF public.events_log "
        "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
    ),
    (
        "default-privileges",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO service_role;",
    ),
    ("storage-parameter", "ALTER TABLE public.events SET (fillfactor = 90);"),
    ("statistics-target", "ALTER TABLE public.events ALTER COLUMN user_id SET STATISTICS 500;"),
    ("function-search-path", "ALTER FUNCTION public.upsert_events(jsonb) SET search_path = '';"),
    ("analyze", "ANALYZE public.events;"),
    (
        "waived-drop",
        "-- selfheal:allow-destructive drop index public.events_user_id_idx: "
        "superseded by events_user_occurred_idx, reviewed in PR 42\n"
        "CREATE INDEX IF NOT EXISTS events_user_occurred_idx ON public.events (user_id, occurred_at);\n"
        "DROP INDEX IF EXISTS public.events_user_id_idx;",
    ),
]
