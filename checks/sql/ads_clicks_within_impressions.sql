-- name: clicks_within_impressions
-- table: ads_source_a
-- severity: error
-- description: a day's clicks never exceed its impressions
SELECT stat_date, campaign_id, ad_id, impressions, clicks
FROM public.ads_source_a
WHERE clicks > impressions
ORDER BY stat_date DESC, campaign_id, ad_id;
