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
ALTER TABLE public.corpus_t ENABLE ROW LEVEL SECURITY;
CREATE OR REPLACE VIEW public.corpus_view WITH (security_invoker = true) AS
  SELECT id FROM public.corpus_t;
CREATE MATERIALIZED VIEW IF NOT EXISTS public.corpus_mv AS SELECT id FROM public.corpus_t;
REVOKE ALL ON public.corpus_mv FROM PUBLIC, anon, authenticated;
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
    ("truncate", "data-loss", "TRUNCATE public.events;"),
    ("truncate-two", "data-loss", "TRUNCATE TABLE public.ads_source_a, public.ads_source_b;"),
    (
        "truncate-in-do-block",
        "data-loss",
        "DO $$ BEGIN EXECUTE 'TRUNCATE public.etl_quarantine'; END $$;",
    ),
    ("delete-all", "data-loss", "DELETE FROM public.etl_quarantine;"),
    (
        "delete-where",
        "data-loss",
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
        "CREATE OR REPLACE VIEW public.recent_events WITH (security_invoker = true) AS "
        "SELECT event_id FROM public.events;",
    ),
    ("comment", "COMMENT ON TABLE public.events IS 'owner: analytics; purpose: events';"),
    ("comment-column", "COMMENT ON COLUMN public.events.user_id IS 'auth.users id';"),
    ("grant", "GRANT SELECT ON public.daily_metrics TO authenticated;"),
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
        "guarded-enum",
        "DO $$ BEGIN IF to_regtype('public.mood') IS NULL THEN "
        "CREATE TYPE public.mood AS ENUM ('ok', 'meh'); END IF; END $$;",
    ),
    ("enum-add-value", "ALTER TYPE public.corpus_status ADD VALUE IF NOT EXISTS 'archived';"),
    ("set-default", "ALTER TABLE public.corpus_t ALTER COLUMN label SET DEFAULT 'none';"),
    ("set-not-null", "ALTER TABLE public.corpus_t ALTER COLUMN label SET NOT NULL;"),
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
    ("update-nothing", "UPDATE public.corpus_t SET label = label WHERE false;"),
    (
        "helper-table-created-and-dropped",
        "CREATE TABLE public.scratch_helper (x int);\nDROP TABLE public.scratch_helper;",
    ),
    ("temp-table", "CREATE TEMP TABLE staging (x int);\nDROP TABLE staging;"),
    ("create-sequence", "CREATE SEQUENCE IF NOT EXISTS public.invoice_seq;"),
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

# What the guard judges by effect: rows, writes, access, guarantees, atomicity. Each mechanism
# alone, in other spellings, and combined. (id, expected kind, sql); the kind's finding must
# carry the line of the statement that did it.
EFFECTS = [
    # rows gone, whatever removed them
    (
        "delete-with-user-triggers-disabled",
        "data-loss",
        "ALTER TABLE public.events DISABLE TRIGGER USER;\n"
        "DELETE FROM public.events WHERE event_name LIKE 's1%';\n"
        "ALTER TABLE public.events ENABLE TRIGGER USER;",
    ),
    (
        "delete-as-replica",
        "data-loss",
        "SET LOCAL session_replication_role = replica;\nDELETE FROM public.etl_quarantine;",
    ),
    (
        "delete-with-all-triggers-disabled",
        "data-loss",
        "ALTER TABLE public.ads_source_b DISABLE TRIGGER ALL;\n"
        "DELETE FROM public.ads_source_b WHERE clicks > 10;\n"
        "ALTER TABLE public.ads_source_b ENABLE TRIGGER ALL;",
    ),
    (
        "delete-through-a-function",
        "data-loss",
        "CREATE OR REPLACE FUNCTION public.corpus_purge() RETURNS void LANGUAGE sql "
        "SET search_path = '' AS $$ DELETE FROM public.daily_metrics $$;\n"
        "SELECT public.corpus_purge();",
    ),
    (
        "delete-in-dynamic-sql",
        "data-loss",
        "DO $$ BEGIN EXECUTE format('DELETE FROM %I.%I WHERE impressions > 5', "
        "'public', 'ads_source_a'); END $$;",
    ),
    ("rekey-rows", "data-loss", "UPDATE public.corpus_t SET id = id + 100000;"),
    # values of existing columns changed
    ("update-set-null", "data-rewrite", "UPDATE public.daily_metrics SET ctr = NULL, cpc = NULL;"),
    (
        "type-change-using-constant",
        "data-rewrite",
        "ALTER TABLE public.events ALTER COLUMN event_name TYPE text USING 'x';",
    ),
    (
        "update-in-do-block",
        "data-rewrite",
        "DO $$ BEGIN UPDATE public.etl_runs SET error = 'reset' WHERE true; END $$;",
    ),
    (
        "upsert-overwrites-existing-row",
        "data-rewrite",
        "INSERT INTO public.corpus_t (id, label) VALUES (2, 'two') "
        "ON CONFLICT (id) DO UPDATE SET label = excluded.label;",
    ),
    (
        "update-as-replica",
        "data-rewrite",
        "SET LOCAL session_replication_role = replica;\nUPDATE public.ads_source_a SET spend = 0;",
    ),
    # writes that no longer land
    (
        "trigger-swallows-inserts",
        "writes-blocked",
        "CREATE OR REPLACE FUNCTION public.corpus_swallow() RETURNS trigger LANGUAGE plpgsql "
        "SET search_path = '' AS $$ BEGIN RETURN NULL; END $$;\n"
        "CREATE OR REPLACE TRIGGER corpus_swallow BEFORE INSERT ON public.ads_source_b "
        "FOR EACH ROW EXECUTE FUNCTION public.corpus_swallow();",
    ),
    (
        "rule-swallows-inserts",
        "writes-blocked",
        "CREATE OR REPLACE RULE corpus_nothing AS ON INSERT TO public.etl_quarantine "
        "DO INSTEAD NOTHING;",
    ),
    (
        "rule-swallows-updates",
        "writes-blocked",
        "CREATE OR REPLACE RULE corpus_frozen AS ON UPDATE TO public.daily_metrics "
        "DO INSTEAD NOTHING;",
    ),
    (
        "replaced-trigger-function",
        "writes-blocked",
        "CREATE OR REPLACE FUNCTION public.corpus_trg_fn() RETURNS trigger LANGUAGE plpgsql "
        "SET search_path = '' AS $$ BEGIN RETURN NULL; END $$;",
    ),
    (
        "check-no-row-meets",
        "writes-blocked",
        "ALTER TABLE public.ads_source_a ADD CONSTRAINT corpus_never CHECK (false) NOT VALID;",
    ),
    # access wider for anon / authenticated / PUBLIC
    (
        "policy-using-true",
        "exposure",
        "ALTER POLICY events_select_own ON public.events USING (true);",
    ),
    (
        "policy-to-public",
        "exposure",
        "ALTER POLICY ads_source_a_select_authenticated ON public.ads_source_a TO public;",
    ),
    (
        "new-policy-for-anon",
        "exposure",
        "CREATE POLICY corpus_anon_read ON public.events FOR SELECT TO anon USING (true);",
    ),
    (
        "guarded-policy-for-authenticated",
        "exposure",
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_policies WHERE policyname = 'corpus_read') THEN "
        "CREATE POLICY corpus_read ON public.corpus_t FOR SELECT TO authenticated USING (true); "
        "END IF; END $$;",
    ),
    (
        "grant-execute-to-anon",
        "exposure",
        "GRANT EXECUTE ON FUNCTION public.upsert_events(jsonb) TO anon;",
    ),
    (
        "grant-all-functions-to-public",
        "exposure",
        "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC;",
    ),
    (
        "new-table-without-rls",
        "exposure",
        "CREATE TABLE IF NOT EXISTS public.corpus_open (id int);",
    ),
    (
        "view-not-security-invoker",
        "exposure",
        "CREATE OR REPLACE VIEW public.all_events AS SELECT * FROM public.events;",
    ),
    (
        "view-loses-security-invoker",
        "exposure",
        "ALTER VIEW public.corpus_view RESET (security_invoker);",
    ),
    (
        "materialized-view-readable",
        "exposure",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS public.daily_totals AS "
        "SELECT metric_date, sum(spend) AS spend FROM public.daily_metrics GROUP BY metric_date;",
    ),
    (
        "security-definer-function-for-anon",
        "exposure",
        "CREATE OR REPLACE FUNCTION public.corpus_all_events() RETURNS SETOF public.events "
        "LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$ SELECT * FROM public.events $$;",
    ),
    # access a role had, lost
    (
        "revoke-from-service-role",
        "access-loss",
        "REVOKE SELECT ON public.etl_runs FROM service_role;",
    ),
    ("revoke-from-anon", "access-loss", "REVOKE INSERT ON public.daily_metrics FROM anon;"),
    (
        "revoke-execute-from-service-role",
        "access-loss",
        "REVOKE EXECUTE ON FUNCTION public.upsert_ads_source_b(jsonb) FROM service_role;",
    ),
    (
        "restrictive-policy",
        "access-loss",
        "CREATE POLICY corpus_none ON public.ads_source_b AS RESTRICTIVE FOR SELECT "
        "TO authenticated USING (false);",
    ),
    # functions made less secure
    (
        "replace-auth-uid",
        "security",
        "CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE "
        "SET search_path = '' AS $$ SELECT NULL::uuid $$;",
    ),
    (
        "function-security-definer",
        "security",
        "ALTER FUNCTION public.upsert_events(jsonb) SECURITY DEFINER;",
    ),
    (
        "function-search-path-public",
        "security",
        "ALTER FUNCTION public.upsert_ads_source_a(jsonb) SET search_path = public;",
    ),
    (
        "function-reset-search-path",
        "security",
        "ALTER FUNCTION public.upsert_ads_source_a(jsonb) RESET search_path;",
    ),
    (
        "function-owner",
        "security",
        "ALTER FUNCTION public.upsert_events(jsonb) OWNER TO service_role;",
    ),
    # guarantees loosened
    (
        "drop-not-null",
        "loosen",
        "ALTER TABLE public.events ALTER COLUMN received_at DROP NOT NULL;",
    ),
    ("set-unlogged", "loosen", "ALTER TABLE public.ads_source_b SET UNLOGGED;"),
    (
        "restart-identity",
        "loosen",
        "ALTER TABLE public.etl_quarantine ALTER COLUMN quarantine_id RESTART;",
    ),
    (
        "setval-lower",
        "loosen",
        "SELECT setval(pg_get_serial_sequence('public.etl_runs', 'run_id'), 1);",
    ),
    ("restart-sequence", "loosen", "ALTER SEQUENCE public.etl_runs_run_id_seq RESTART WITH 1;"),
    ("disable-trigger", "loosen", "ALTER TABLE public.events DISABLE TRIGGER corpus_trg;"),
    # atomicity
    (
        "commit-in-the-middle",
        "not-atomic",
        "UPDATE public.corpus_t SET n = 1 WHERE false;\nCOMMIT;\n"
        "CREATE TABLE IF NOT EXISTS public.after_commit (id int);",
    ),
    ("end-in-the-middle", "not-atomic", "SELECT 1;\nEND;\nSELECT 2;"),
    ("rollback", "not-atomic", "BEGIN;\nSELECT 1;\nROLLBACK;"),
    ("session-search-path", "not-atomic", "SET search_path = public, extensions;"),
    ("session-set-config", "not-atomic", "SELECT set_config('search_path', 'public', false);"),
    # dynamic SQL and CASCADE
    (
        "dynamic-drop-of-live-only-table",
        "drop",
        "DO $$ BEGIN EXECUTE 'DROP TABLE IF EXISTS public.live_only_table'; END $$;",
    ),
    (
        "dynamic-drop-computed-name",
        "drop",
        "DO $$ BEGIN EXECUTE format('DROP TABLE IF EXISTS %I.%I', 'public', 'live_' || 'only'); "
        "END $$;",
    ),
    (
        "drop-cascade-takes-view",
        "drop",
        "-- selfheal:allow-destructive drop table public.corpus_t: replaced\n"
        "DROP TABLE public.corpus_t CASCADE;",
    ),
    (
        "waiver-in-string-literal",
        "drop",
        "SELECT '\n-- selfheal:allow-destructive drop index public.events_user_id_idx: sneaky\n';\n"
        "DROP INDEX public.events_user_id_idx;",
    ),
    (
        "waiver-in-function-body",
        "drop",
        "CREATE OR REPLACE FUNCTION public.corpus_note() RETURNS int LANGUAGE sql "
        "SET search_path = '' AS $$\n"
        "-- selfheal:allow-destructive drop index public.events_user_id_idx: sneaky\n"
        "SELECT 1 $$;\nDROP INDEX public.events_user_id_idx;",
    ),
    # combinations: every effect is found, each on its own line
    (
        "combo-hide-and-delete",
        "data-loss",
        "ALTER TABLE public.etl_runs DISABLE TRIGGER USER;\n"
        "DELETE FROM public.etl_quarantine;\n"
        "DELETE FROM public.etl_runs;\n"
        "ALTER POLICY events_select_own ON public.events USING (true);",
    ),
    (
        "combo-null-and-expose",
        "exposure",
        "UPDATE public.daily_metrics SET cpa = NULL;\n"
        "GRANT EXECUTE ON FUNCTION public.upsert_events(jsonb) TO authenticated;",
    ),
    (
        "combo-swallow-and-loosen",
        "writes-blocked",
        "ALTER TABLE public.events ALTER COLUMN user_id DROP NOT NULL;\n"
        "CREATE OR REPLACE RULE corpus_nothing AS ON INSERT TO public.events DO INSTEAD NOTHING;",
    ),
]

# Ordinary additive work the guard accepts without a waiver.
ADDITIVE = [
    (
        "new-table-with-rls-and-policy",
        "CREATE TABLE IF NOT EXISTS public.corpus_notes (id bigint GENERATED ALWAYS AS IDENTITY "
        "PRIMARY KEY, user_id uuid NOT NULL, body text);\n"
        "ALTER TABLE public.corpus_notes ENABLE ROW LEVEL SECURITY;\n"
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_policies WHERE policyname = 'notes_own') THEN "
        "CREATE POLICY notes_own ON public.corpus_notes FOR SELECT TO authenticated "
        "USING ((SELECT auth.uid()) = user_id); END IF; END $$;",
    ),
    (
        "new-column-and-backfill",
        "ALTER TABLE public.events ADD COLUMN IF NOT EXISTS event_day date;\n"
        "UPDATE public.events SET event_day = occurred_at::date WHERE event_day IS NULL;",
    ),
    (
        "new-column-backfill-in-batches-do-block",
        "ALTER TABLE public.daily_metrics ADD COLUMN IF NOT EXISTS spend_cents bigint;\n"
        "DO $$ BEGIN UPDATE public.daily_metrics SET spend_cents = (spend * 100)::bigint "
        "WHERE spend_cents IS NULL; END $$;",
    ),
    (
        "new-column-with-default",
        "ALTER TABLE public.etl_runs ADD COLUMN IF NOT EXISTS attempt int NOT NULL DEFAULT 1;",
    ),
    (
        "not-valid-check",
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'ads_clicks_le') THEN "
        "ALTER TABLE public.ads_source_a ADD CONSTRAINT ads_clicks_le "
        "CHECK (clicks <= impressions) NOT VALID; END IF; END $$;",
    ),
    (
        "security-invoker-view",
        "CREATE OR REPLACE VIEW public.my_events WITH (security_invoker = true) AS "
        "SELECT event_id, event_name FROM public.events;",
    ),
    (
        "partitioned-table-with-rls",
        "CREATE TABLE IF NOT EXISTS public.events_log (at timestamptz NOT NULL, body text) "
        "PARTITION BY RANGE (at);\n"
        "CREATE TABLE IF NOT EXISTS public.events_log_2026 PARTITION OF public.events_log "
        "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');\n"
        "ALTER TABLE public.events_log ENABLE ROW LEVEL SECURITY;\n"
        "ALTER TABLE public.events_log_2026 ENABLE ROW LEVEL SECURITY;",
    ),
    (
        "private-materialized-view",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS public.daily_totals AS "
        "SELECT metric_date, sum(spend) AS spend FROM public.daily_metrics GROUP BY metric_date;\n"
        "REVOKE ALL ON public.daily_totals FROM PUBLIC, anon, authenticated;",
    ),
    (
        "table-in-private-schema",
        "CREATE SCHEMA IF NOT EXISTS corpus_private;\n"
        "CREATE TABLE IF NOT EXISTS corpus_private.staging (id int PRIMARY KEY, payload jsonb);",
    ),
    (
        "reader-role-grant",
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'corpus_reader') THEN "
        "CREATE ROLE corpus_reader NOLOGIN; END IF; END $$;\n"
        "GRANT USAGE ON SCHEMA public TO corpus_reader;\n"
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO corpus_reader;",
    ),
    (
        "service-role-policy",
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_policies WHERE policyname = 'corpus_svc') THEN "
        "CREATE POLICY corpus_svc ON public.corpus_t FOR ALL TO service_role USING (true); "
        "END IF; END $$;",
    ),
    (
        "invoker-function-body-change",
        "CREATE OR REPLACE FUNCTION public.upsert_events(rows jsonb) RETURNS integer LANGUAGE sql "
        "SET search_path = '' AS $$ SELECT jsonb_array_length(rows) $$;",
    ),
    (
        "set-local-in-file",
        "SET LOCAL statement_timeout = '5min';\n"
        "CREATE INDEX IF NOT EXISTS events_name_occurred_idx ON public.events (event_name, occurred_at);",
    ),
    (
        "unique-index-on-new-column",
        "ALTER TABLE public.corpus_t ADD COLUMN IF NOT EXISTS code text;\n"
        "CREATE UNIQUE INDEX IF NOT EXISTS corpus_t_code_idx ON public.corpus_t (code);",
    ),
    (
        "sequence-raised",
        "SELECT setval('public.corpus_seq', greatest(1000000, (SELECT last_value FROM public.corpus_seq)));",
    ),
    (
        "waived-data-rewrite",
        "-- selfheal:allow-destructive data-rewrite table public.daily_metrics: ctr is recomputed "
        "by the next metrics run (PR 51)\n"
        "UPDATE public.daily_metrics SET ctr = NULL;",
    ),
    (
        "commit-in-a-string",
        "COMMENT ON TABLE public.etl_runs IS 'owner: data-platform; COMMIT; SET search_path = x';",
    ),
]

# The line each multi-line EFFECTS snippet's finding must name (a one-line snippet: line 1).
EFFECT_LINES = {
    "delete-with-user-triggers-disabled": 2,
    "delete-as-replica": 2,
    "delete-with-all-triggers-disabled": 2,
    "delete-through-a-function": 2,
    "update-as-replica": 2,
    "trigger-swallows-inserts": 2,
    "commit-in-the-middle": 2,
    "end-in-the-middle": 2,
    "drop-cascade-takes-view": 2,
    "waiver-in-string-literal": 4,
    "waiver-in-function-body": 4,
    "combo-hide-and-delete": 3,
    "combo-null-and-expose": 2,
    "combo-swallow-and-loosen": 2,
}
