-- The domain tables of the original stack, in schema public. Idempotent and additive.

CREATE TABLE IF NOT EXISTS public.events (
    event_id    text        PRIMARY KEY,
    user_id     uuid        NOT NULL,
    event_name  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    properties  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    loaded_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.events IS 'owner: product-analytics; purpose: product analytics events, one row per event';
CREATE INDEX IF NOT EXISTS events_user_id_idx ON public.events (user_id);
CREATE INDEX IF NOT EXISTS events_occurred_at_idx ON public.events (occurred_at);

CREATE TABLE IF NOT EXISTS public.ads_source_a (
    stat_date   date          NOT NULL,
    campaign_id text          NOT NULL,
    ad_id       text          NOT NULL,
    impressions bigint        NOT NULL DEFAULT 0,
    clicks      bigint        NOT NULL DEFAULT 0,
    spend       numeric(18,4) NOT NULL DEFAULT 0,
    currency    char(3)       NOT NULL DEFAULT 'USD',
    loaded_at   timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (stat_date, campaign_id, ad_id)
);
COMMENT ON TABLE public.ads_source_a IS 'owner: growth; purpose: daily ad stats from source A, spend in currency units';

CREATE TABLE IF NOT EXISTS public.ads_source_b (
    stat_hour   timestamptz NOT NULL,
    campaign    text        NOT NULL,
    creative    text        NOT NULL,
    impressions bigint      NOT NULL DEFAULT 0,
    clicks      bigint      NOT NULL DEFAULT 0,
    cost_micros bigint      NOT NULL DEFAULT 0,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stat_hour, campaign, creative)
);
COMMENT ON TABLE public.ads_source_b IS 'owner: growth; purpose: hourly ad stats from source B, stat_hour in UTC, cost in micros';

CREATE TABLE IF NOT EXISTS public.daily_metrics (
    metric_date date          NOT NULL,
    source      text          NOT NULL,
    campaign    text          NOT NULL,
    impressions bigint        NOT NULL DEFAULT 0,
    clicks      bigint        NOT NULL DEFAULT 0,
    spend       numeric(18,4) NOT NULL DEFAULT 0,
    conversions bigint        NOT NULL DEFAULT 0,
    ctr         numeric,
    cpc         numeric,
    cpa         numeric,
    computed_at timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (metric_date, source, campaign)
);
COMMENT ON TABLE public.daily_metrics IS 'owner: analytics; purpose: one row per local day, source and campaign';

CREATE TABLE IF NOT EXISTS public.etl_runs (
    run_id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source            text        NOT NULL,
    mode              text        NOT NULL DEFAULT 'incremental',
    status            text        NOT NULL DEFAULT 'running',
    window_start      timestamptz,
    window_end        timestamptz,
    watermark         timestamptz,
    rows_read         integer     NOT NULL DEFAULT 0,
    rows_inserted     integer     NOT NULL DEFAULT 0,
    rows_updated      integer     NOT NULL DEFAULT 0,
    rows_unchanged    integer     NOT NULL DEFAULT 0,
    rows_quarantined  integer     NOT NULL DEFAULT 0,
    error             text,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    CONSTRAINT etl_runs_status_check CHECK (status IN ('running', 'succeeded', 'failed'))
);
COMMENT ON TABLE public.etl_runs IS 'owner: data-platform; purpose: ledger of every ETL run';
CREATE INDEX IF NOT EXISTS etl_runs_source_started_idx ON public.etl_runs (source, started_at DESC);

CREATE TABLE IF NOT EXISTS public.etl_quarantine (
    quarantine_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          bigint      REFERENCES public.etl_runs (run_id),
    source          text        NOT NULL,
    raw_payload     text        NOT NULL,
    reason          text        NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.etl_quarantine IS 'owner: data-platform; purpose: rejected source rows with their reason';
CREATE INDEX IF NOT EXISTS etl_quarantine_run_id_idx ON public.etl_quarantine (run_id);
CREATE INDEX IF NOT EXISTS etl_quarantine_source_idx ON public.etl_quarantine (source, quarantined_at);
