-- name: clicks_within_impressions
-- table: ads_source_b
-- severity: error
-- description: an hour's clicks never exceed its impressions
SELECT stat_hour, campaign, creative, impressions, clicks
FROM public.ads_source_b
WHERE clicks > impressions
ORDER BY stat_hour DESC, campaign, creative;
