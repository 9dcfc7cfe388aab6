"""`daily_metrics`, computed in SQL from the loaded tables.

A metric day is a calendar day of the configured time zone, so a day at a DST change has 23 or
25 hours; source B's UTC hours are assigned to the local day in which they start. Source B's
micros become currency (/ 1,000,000). Conversions are attributed as documented in
etl/contracts.py. ctr = clicks / impressions, cpc = spend / clicks, cpa = spend / conversions,
NULL when the divisor is zero. Rows are upserted, written only when they change; rows of a
recomputed day that no longer have any data are deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import psycopg
from psycopg import sql

from etl.contracts import AD_SOURCES, CONVERSION_EVENT

_COMPUTED = sql.SQL("""
WITH days AS (SELECT DISTINCT unnest(%(days)s::date[]) AS day),
bounds AS (
  SELECT min(day)::timestamp AT TIME ZONE %(tz)s AS lo,
         (max(day) + 1)::timestamp AT TIME ZONE %(tz)s AS hi
  FROM days
),
ads AS (
  SELECT a.stat_date AS metric_date, 'source_a'::text AS source, a.campaign_id AS campaign,
         sum(a.impressions) AS impressions, sum(a.clicks) AS clicks, sum(a.spend) AS spend
  FROM public.ads_source_a AS a
  WHERE a.stat_date IN (SELECT day FROM days)
  GROUP BY 1, 2, 3
  UNION ALL
  SELECT (b.stat_hour AT TIME ZONE %(tz)s)::date, 'source_b', b.campaign,
         sum(b.impressions), sum(b.clicks), round(sum(b.cost_micros) / 1000000.0, 4)
  FROM public.ads_source_b AS b, bounds
  WHERE b.stat_hour >= bounds.lo AND b.stat_hour < bounds.hi
    AND (b.stat_hour AT TIME ZONE %(tz)s)::date IN (SELECT day FROM days)
  GROUP BY 1, 2, 3
),
conversions AS (
  SELECT (e.occurred_at AT TIME ZONE %(tz)s)::date AS metric_date,
         e.properties ->> 'source' AS source, e.properties ->> 'campaign' AS campaign,
         count(*) AS conversions
  FROM public.events AS e, bounds
  WHERE e.event_name = %(conversion)s
    AND e.occurred_at >= bounds.lo AND e.occurred_at < bounds.hi
    AND (e.occurred_at AT TIME ZONE %(tz)s)::date IN (SELECT day FROM days)
    AND e.properties ->> 'source' = ANY(%(sources)s) AND e.properties ->> 'campaign' IS NOT NULL
  GROUP BY 1, 2, 3
),
totals AS (
  SELECT metric_date, source, campaign, coalesce(ads.impressions, 0) AS impressions,
         coalesce(ads.clicks, 0) AS clicks, coalesce(ads.spend, 0) AS spend,
         coalesce(c.conversions, 0) AS conversions
  FROM ads FULL JOIN conversions AS c USING (metric_date, source, campaign)
),
computed AS (
  SELECT metric_date, source, campaign, impressions, clicks, spend, conversions,
         round(clicks::numeric / nullif(impressions, 0), 6) AS ctr,
         round(spend / nullif(clicks, 0), 4) AS cpc,
         round(spend / nullif(conversions, 0), 4) AS cpa
  FROM totals
)
""")

_UPSERT = _COMPUTED + sql.SQL(
    """,
written AS (
  INSERT INTO public.daily_metrics AS m
    (metric_date, source, campaign, impressions, clicks, spend, conversions, ctr, cpc, cpa)
  SELECT * FROM computed
  ON CONFLICT (metric_date, source, campaign) DO UPDATE
    SET impressions = excluded.impressions, clicks = excluded.clicks, spend = excluded.spend,
        conversions = excluded.conversions, ctr = excluded.ctr, cpc = excluded.cpc,
        cpa = excluded.cpa, computed_at = now()
    WHERE (m.impressions, m.clicks, m.spend, m.conversions, m.ctr, m.cpc, m.cpa)
          IS DISTINCT FROM (excluded.impressions, excluded.clicks, excluded.spend,
                            excluded.conversions, excluded.ctr, excluded.cpc, excluded.cpa)
  RETURNING m.xmax::text = '0' AS inserted
),
removed AS (
  DELETE FROM public.daily_metrics AS m
  WHERE m.metric_date IN (SELECT day FROM days)
    AND NOT EXISTS (SELECT FROM computed AS c WHERE (c.metric_date, c.source, c.campaign)
                                                  = (m.metric_date, m.source, m.campaign))
  RETURNING 1
)
SELECT (SELECT count(*) FROM computed), count(*) FILTER (WHERE inserted),
       count(*) FILTER (WHERE NOT inserted), (SELECT count(*) FROM removed)
FROM written
"""
)

_TOUCHED = """
SELECT day FROM (
  SELECT stat_date AS day FROM public.ads_source_a WHERE loaded_at >= %(since)s
  UNION SELECT (stat_hour AT TIME ZONE %(tz)s)::date FROM public.ads_source_b
        WHERE loaded_at >= %(since)s
  UNION SELECT (occurred_at AT TIME ZONE %(tz)s)::date FROM public.events
        WHERE loaded_at >= %(since)s AND event_name = %(conversion)s
) AS touched
ORDER BY day
"""


@dataclass(frozen=True)
class MetricCounts:
    computed: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    @property
    def unchanged(self) -> int:
        return self.computed - self.inserted - self.updated


def touched_days(conn: psycopg.Connection, tz: str, since: datetime | None) -> list[date]:
    """Local days with source rows loaded at or after `since` (every day when None)."""
    params = {
        "since": since or datetime.min.replace(year=1),
        "tz": tz,
        "conversion": CONVERSION_EVENT,
    }
    return [row[0] for row in conn.execute(_TOUCHED, params).fetchall()]


def _params(tz: str, days: Sequence[date]) -> dict[str, object]:
    return {
        "days": list(days),
        "tz": tz,
        "conversion": CONVERSION_EVENT,
        "sources": list(AD_SOURCES),
    }


def recompute(conn: psycopg.Connection, tz: str, days: Sequence[date]) -> MetricCounts:
    """Upsert the metrics of `days` in the caller's transaction."""
    if not days:
        return MetricCounts()
    computed, inserted, updated, deleted = conn.execute(_UPSERT, _params(tz, days)).fetchone()
    return MetricCounts(computed, inserted, updated, deleted)


def preview(conn: psycopg.Connection, tz: str, days: Sequence[date]) -> MetricCounts:
    """What `recompute` would do, read-only."""
    if not days:
        return MetricCounts()
    query = _COMPUTED + sql.SQL("""
SELECT count(*), count(*) FILTER (WHERE m.metric_date IS NULL),
       count(*) FILTER (WHERE m.metric_date IS NOT NULL AND
         (m.impressions, m.clicks, m.spend, m.conversions, m.ctr, m.cpc, m.cpa) IS DISTINCT FROM
         (c.impressions, c.clicks, c.spend, c.conversions, c.ctr, c.cpc, c.cpa)),
       (SELECT count(*) FROM public.daily_metrics AS d WHERE d.metric_date IN (SELECT day FROM days))
         - count(m.metric_date)
FROM computed AS c
LEFT JOIN public.daily_metrics AS m USING (metric_date, source, campaign)
""")
    return MetricCounts(*conn.execute(query, _params(tz, days)).fetchone())
