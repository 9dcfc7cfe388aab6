-- The run history: one row per pytest session (runs), the outcome of each check it ran
-- (check_results), each problem it found (problem_results), what the doctor did (heals) and the
-- state of each checked table (table_stats). Additive and idempotent; RLS on, no API access.

CREATE SCHEMA IF NOT EXISTS selfheal_history;

CREATE TABLE IF NOT EXISTS selfheal_history.schema_version (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS selfheal_history.runs (
    run_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id  text        NOT NULL UNIQUE,
    target      text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    full_run    boolean     NOT NULL,
    selection   text        NOT NULL DEFAULT '',
    passed      integer     NOT NULL DEFAULT 0,
    failed      integer     NOT NULL DEFAULT 0,
    skipped     integer     NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_target_finished_idx
    ON selfheal_history.runs (target, finished_at DESC);

CREATE TABLE IF NOT EXISTS selfheal_history.check_results (
    run_id   bigint           NOT NULL REFERENCES selfheal_history.runs ON DELETE CASCADE,
    node_id  text             NOT NULL,
    stage    text             NOT NULL,
    outcome  text             NOT NULL,
    complete boolean          NOT NULL,
    seconds  double precision NOT NULL DEFAULT 0,
    message  text             NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, node_id)
);
CREATE INDEX IF NOT EXISTS check_results_node_idx ON selfheal_history.check_results (node_id);

CREATE TABLE IF NOT EXISTS selfheal_history.problem_results (
    run_id      bigint NOT NULL REFERENCES selfheal_history.runs ON DELETE CASCADE,
    node_id     text   NOT NULL,
    fingerprint text   NOT NULL,
    code        text   NOT NULL,
    object      text   NOT NULL,
    severity    text   NOT NULL,
    error_type  text   NOT NULL DEFAULT '',
    message     text   NOT NULL DEFAULT '',
    samples     jsonb  NOT NULL DEFAULT '[]'::jsonb,
    PRIMARY KEY (run_id, node_id, fingerprint)
);
CREATE INDEX IF NOT EXISTS problem_results_fingerprint_idx
    ON selfheal_history.problem_results (fingerprint);

CREATE TABLE IF NOT EXISTS selfheal_history.heals (
    run_id      bigint NOT NULL REFERENCES selfheal_history.runs ON DELETE CASCADE,
    node_id     text   NOT NULL,
    fingerprint text   NOT NULL,
    code        text   NOT NULL,
    object      text   NOT NULL,
    remedy      text   NOT NULL,
    outcome     text   NOT NULL,
    detail      text   NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS heals_run_idx ON selfheal_history.heals (run_id);

CREATE TABLE IF NOT EXISTS selfheal_history.table_stats (
    run_id      bigint NOT NULL REFERENCES selfheal_history.runs ON DELETE CASCADE,
    schema_name text   NOT NULL,
    table_name  text   NOT NULL,
    row_count   bigint,
    new_rows    bigint,
    bytes       bigint,
    newest      jsonb  NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (run_id, schema_name, table_name)
);

ALTER TABLE selfheal_history.schema_version  ENABLE ROW LEVEL SECURITY;
ALTER TABLE selfheal_history.runs            ENABLE ROW LEVEL SECURITY;
ALTER TABLE selfheal_history.check_results   ENABLE ROW LEVEL SECURITY;
ALTER TABLE selfheal_history.problem_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE selfheal_history.heals           ENABLE ROW LEVEL SECURITY;
ALTER TABLE selfheal_history.table_stats     ENABLE ROW LEVEL SECURITY;

-- Nothing for the API roles (Supabase's anon and authenticated), wherever they exist.
DO $$
DECLARE
  api_role text;
BEGIN
  FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = api_role) THEN
      EXECUTE format('REVOKE ALL ON SCHEMA selfheal_history FROM %I', api_role);
      EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA selfheal_history FROM %I', api_role);
      EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA selfheal_history FROM %I', api_role);
    END IF;
  END LOOP;
END
$$;
REVOKE ALL ON SCHEMA selfheal_history FROM PUBLIC;
