-- name: complete
-- table: daily_metrics
-- severity: error
-- description: every local day with source rows has metrics for each source and campaign (each row is a run of days missing some; the doctor recomputes exactly those days)
WITH expected AS (
  SELECT a.stat_date AS day, 'source_a' AS source, a.campaign_id AS campaign
  FROM public.ads_source_a AS a
  UNION
  -- The check's session runs in TZ: a UTC hour belongs to the local day it starts in.
  SELECT b.stat_hour::date, 'source_b', b.campaign
  FROM public.ads_source_b AS b
),
missing AS (
  SELECT DISTINCT e.day
  FROM expected AS e
  WHERE NOT EXISTS (SELECT 1 FROM public.daily_metrics AS m
                    WHERE m.metric_date = e.day AND m.source = e.source
                      AND m.campaign = e.campaign)
),
runs AS (
  SELECT day, day - (row_number() OVER (ORDER BY day))::integer AS run
  FROM missing
)
SELECT min(day) AS first_day, max(day) AS last_day, count(*) AS days
FROM runs
GROUP BY run
ORDER BY first_day DESC;
