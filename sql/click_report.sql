-- Clicks, impressions and CTR per ad category per hour of day: the warehouse form of
-- sociallens's `click_report` (group_by = category, hour), over two exported datasets:
--   ad_events (event_id, user, kind, ad_id, category, at)  and  catalog (kind, item_id, category, ...)
-- Hours are in the session's time zone, as click_report's time_zone argument:
--   Snowflake: ALTER SESSION SET TIMEZONE = 'Europe/Paris';   (ad_events.at is TIMESTAMP_LTZ)
--   DuckDB:    SET TimeZone = 'Europe/Paris';                   (at is TIMESTAMP WITH TIME ZONE)
-- The category is the ad's current one in the catalog, as click_report reads it; an ad no
-- longer in the catalog, or one without a category, reports as '(unknown)'.
-- To restrict the range, add: AND e.at >= <from> AND e.at < <to>  (click_report's start/end).
-- Written in the SQL both engines share; tests/test_warehouse.py runs this file on DuckDB.
SELECT
    COALESCE(c.category, '(unknown)')                         AS category,
    EXTRACT(HOUR FROM e.at)                                   AS hour,
    SUM(CASE WHEN e.kind = 'impression' THEN 1 ELSE 0 END)    AS impressions,
    SUM(CASE WHEN e.kind = 'click' THEN 1 ELSE 0 END)         AS clicks,
    CAST(SUM(CASE WHEN e.kind = 'click' THEN 1 ELSE 0 END) AS DOUBLE)
        / NULLIF(SUM(CASE WHEN e.kind = 'impression' THEN 1 ELSE 0 END), 0) AS ctr
FROM ad_events AS e
LEFT JOIN catalog AS c
    ON c.kind = 'ad' AND c.item_id = e.ad_id
WHERE e.kind IN ('click', 'impression')
GROUP BY 1, 2
ORDER BY 1, 2;
