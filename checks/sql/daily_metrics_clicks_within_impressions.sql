-- name: clicks_within_impressions
-- table: daily_metrics
-- severity: error
-- description: a day's clicks never exceed its impressions
SELECT metric_date, source, campaign, impressions, clicks
FROM public.daily_metrics
WHERE clicks > impressions
ORDER BY metric_date DESC, source, campaign;
