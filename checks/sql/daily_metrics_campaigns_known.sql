-- name: campaigns_known
-- table: daily_metrics
-- severity: error
-- description: every metrics row names a campaign its source has reported
SELECT m.metric_date, m.source, m.campaign
FROM public.daily_metrics AS m
WHERE (m.source = 'source_a'
       AND NOT EXISTS (SELECT 1 FROM public.ads_source_a AS a WHERE a.campaign_id = m.campaign))
   OR (m.source = 'source_b'
       AND NOT EXISTS (SELECT 1 FROM public.ads_source_b AS b WHERE b.campaign = m.campaign))
ORDER BY m.metric_date DESC, m.source, m.campaign;
