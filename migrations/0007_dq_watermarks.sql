-- Where each incremental table was last verified: the watermark (the largest loaded_at checked),
-- the per-rule counts over every row up to it, the rule file's digest and the last full scan.
-- Written only by the data-quality runner's own write connection after a run, never by a
-- check's read-only session (selfheal/dq/watermarks.py). A small table of its own: it could move
-- into the run history (schema selfheal_history) as one more record kind.
CREATE SCHEMA IF NOT EXISTS selfheal;
CREATE TABLE IF NOT EXISTS selfheal.dq_watermarks (
    table_name   text        PRIMARY KEY,
    rules_digest text        NOT NULL,
    watermark    text,
    full_at      timestamptz NOT NULL,
    counts       jsonb       NOT NULL,
    verified_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE selfheal.dq_watermarks IS 'owner: data-platform; purpose: watermarks and per-rule counts of incremental data-quality gates';
