-- The upsert functions of the original stack (supabase/migrations/000000000800_upsert_functions.sql):
-- callable over Supabase RPC with a JSON array of rows; a row is written only when it changed.
-- Each returns the number of rows inserted or updated. search_path is fixed (no hijacking).

CREATE OR REPLACE FUNCTION public.upsert_events(rows jsonb)
RETURNS integer
LANGUAGE sql
SET search_path = ''
AS $$
  WITH written AS (
    INSERT INTO public.events AS e (event_id, user_id, event_name, occurred_at, received_at, properties)
    SELECT r.event_id, r.user_id, r.event_name, r.occurred_at,
           coalesce(r.received_at, now()), coalesce(r.properties, '{}'::jsonb)
    FROM jsonb_to_recordset(rows) AS r(event_id text, user_id uuid, event_name text,
                                       occurred_at timestamptz, received_at timestamptz,
                                       properties jsonb)
    ON CONFLICT (event_id) DO UPDATE
      SET user_id = excluded.user_id, event_name = excluded.event_name,
          occurred_at = excluded.occurred_at, received_at = excluded.received_at,
          properties = excluded.properties, loaded_at = now()
      WHERE (e.user_id, e.event_name, e.occurred_at, e.received_at, e.properties)
            IS DISTINCT FROM
            (excluded.user_id, excluded.event_name, excluded.occurred_at, excluded.received_at,
             excluded.properties)
    RETURNING 1
  )
  SELECT count(*)::integer FROM written
$$;

CREATE OR REPLACE FUNCTION public.upsert_ads_source_a(rows jsonb)
RETURNS integer
LANGUAGE sql
SET search_path = ''
AS $$
  WITH written AS (
    INSERT INTO public.ads_source_a AS a (stat_date, campaign_id, ad_id, impressions, clicks, spend, currency)
    SELECT r.stat_date, r.campaign_id, r.ad_id, r.impressions, r.clicks, r.spend, r.currency
    FROM jsonb_to_recordset(rows) AS r(stat_date date, campaign_id text, ad_id text,
                                       impressions bigint, clicks bigint, spend numeric,
                                       currency text)
    ON CONFLICT (stat_date, campaign_id, ad_id) DO UPDATE
      SET impressions = excluded.impressions, clicks = excluded.clicks,
          spend = excluded.spend, currency = excluded.currency, loaded_at = now()
      WHERE (a.impressions, a.clicks, a.spend, a.currency)
            IS DISTINCT FROM (excluded.impressions, excluded.clicks, excluded.spend, excluded.currency)
    RETURNING 1
  )
  SELECT count(*)::integer FROM written
$$;

CREATE OR REPLACE FUNCTION public.upsert_ads_source_b(rows jsonb)
RETURNS integer
LANGUAGE sql
SET search_path = ''
AS $$
  WITH written AS (
    INSERT INTO public.ads_source_b AS b (stat_hour, campaign, creative, impressions, clicks, cost_micros)
    SELECT r.stat_hour, r.campaign, r.creative, r.impressions, r.clicks, r.cost_micros
    FROM jsonb_to_recordset(rows) AS r(stat_hour timestamptz, campaign text, creative text,
                                       impressions bigint, clicks bigint, cost_micros bigint)
    ON CONFLICT (stat_hour, campaign, creative) DO UPDATE
      SET impressions = excluded.impressions, clicks = excluded.clicks,
          cost_micros = excluded.cost_micros, loaded_at = now()
      WHERE (b.impressions, b.clicks, b.cost_micros)
            IS DISTINCT FROM (excluded.impressions, excluded.clicks, excluded.cost_micros)
    RETURNING 1
  )
  SELECT count(*)::integer FROM written
$$;

REVOKE EXECUTE ON FUNCTION public.upsert_events(jsonb), public.upsert_ads_source_a(jsonb),
                           public.upsert_ads_source_b(jsonb) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.upsert_events(jsonb), public.upsert_ads_source_a(jsonb),
                          public.upsert_ads_source_b(jsonb) TO service_role;
