//! Click analytics: impressions, clicks and CTR grouped by category, ad, hour of day, day of
//! week and date, in any IANA time zone.
//!
//! [`Engine::click_report`](crate::Engine::click_report) reads the recorded impressions and
//! clicks from the store and [`aggregate`]s them; the function is public so that events
//! exported elsewhere can be grouped the same way.

use crate::domain::{Event, EventKind};
use crate::error::{Error, Result};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Something a report groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// The ad's product category.
    Category,
    /// The ad.
    Ad,
    /// Hour of day, 0–23, in the report's time zone.
    Hour,
    /// Day of week, 0 (Monday) – 6 (Sunday), in the report's time zone.
    DayOfWeek,
    /// Calendar date (`YYYY-MM-DD`) in the report's time zone.
    Date,
}

impl Dimension {
    /// The snake_case name used in the bindings and as a column name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Category => "category",
            Dimension::Ad => "ad",
            Dimension::Hour => "hour",
            Dimension::DayOfWeek => "day_of_week",
            Dimension::Date => "date",
        }
    }

    /// Parses [`Dimension::as_str`] back (also accepts `hour_of_day`, `dow`, `day`).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.trim().to_lowercase().as_str() {
            "category" => Dimension::Category,
            "ad" => Dimension::Ad,
            "hour" | "hour_of_day" => Dimension::Hour,
            "day_of_week" | "dow" | "weekday" => Dimension::DayOfWeek,
            "date" | "day" => Dimension::Date,
            other => {
                return Err(Error::invalid(format!(
                "unknown report dimension {other:?}: use category, ad, hour, day_of_week or date"
            )))
            }
        })
    }
}

/// What a click report covers and how it is grouped.
///
/// ```
/// use sociallens::analytics::{Dimension, ReportQuery};
/// use sociallens::Timestamp;
/// let q = ReportQuery::by_category_and_hour()
///     .between(Some(Timestamp::from_millis(0)), None)
///     .time_zone("Europe/Paris");
/// assert_eq!(q.group_by, [Dimension::Category, Dimension::Hour]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportQuery {
    /// The dimensions, in column order (none: one row of totals).
    pub group_by: Vec<Dimension>,
    /// Events at or after this time.
    pub from: Option<Timestamp>,
    /// Events before this time.
    pub to: Option<Timestamp>,
    /// IANA time zone for hours, days and dates (default `UTC`).
    pub time_zone: String,
}

impl Default for ReportQuery {
    fn default() -> Self {
        Self {
            group_by: Vec::new(),
            from: None,
            to: None,
            time_zone: "UTC".into(),
        }
    }
}

impl ReportQuery {
    /// Grouped by these dimensions, all time, UTC.
    pub fn by(dims: impl IntoIterator<Item = Dimension>) -> Self {
        Self {
            group_by: dims.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Clicks per category per hour of day: the heatmap.
    pub fn by_category_and_hour() -> Self {
        Self::by([Dimension::Category, Dimension::Hour])
    }

    /// Restricts to `from <= at < to`.
    pub fn between(mut self, from: Option<Timestamp>, to: Option<Timestamp>) -> Self {
        self.from = from;
        self.to = to;
        self
    }

    /// Sets the time zone (IANA name such as `America/New_York`).
    pub fn time_zone(mut self, tz: impl Into<String>) -> Self {
        self.time_zone = tz.into();
        self
    }
}

/// One group of a report. Only the fields of the query's dimensions are set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// The category, when grouped by category (`"(unknown)"` for an ad no longer stored).
    pub category: Option<String>,
    /// The ad id, when grouped by ad.
    pub ad: Option<String>,
    /// Hour of day 0–23, when grouped by hour.
    pub hour: Option<u8>,
    /// Day of week 0 (Monday) – 6 (Sunday), when grouped by day of week.
    pub day_of_week: Option<u8>,
    /// `YYYY-MM-DD`, when grouped by date.
    pub date: Option<String>,
    /// Impressions recorded.
    pub impressions: u64,
    /// Clicks recorded.
    pub clicks: u64,
}

impl ReportRow {
    /// Click-through rate: clicks / impressions (`None` without impressions).
    pub fn ctr(&self) -> Option<f64> {
        (self.impressions > 0).then(|| self.clicks as f64 / self.impressions as f64)
    }
}

/// A click report: rows sorted by their dimensions, and totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The query that made it.
    pub query: ReportQuery,
    /// One row per group that had events.
    pub rows: Vec<ReportRow>,
    /// All impressions in range.
    pub impressions: u64,
    /// All clicks in range.
    pub clicks: u64,
    /// Events in range left out of rows and totals because their time lies outside
    /// [`Timestamp::MIN`]`..=`[`Timestamp::MAX`], where no calendar date can show it (an
    /// event written to the store directly, or by an older version): one such event never
    /// makes a report fail.
    #[serde(default)]
    pub skipped: u64,
}

impl Report {
    /// Overall click-through rate.
    pub fn ctr(&self) -> Option<f64> {
        (self.impressions > 0).then(|| self.clicks as f64 / self.impressions as f64)
    }

    /// The report as CSV: the dimension columns, then impressions, clicks, ctr.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let mut header: Vec<&str> = self.query.group_by.iter().map(|d| d.as_str()).collect();
        header.extend(["impressions", "clicks", "ctr"]);
        out.push_str(&header.join(","));
        out.push('\n');
        for r in &self.rows {
            let mut cells: Vec<String> = self
                .query
                .group_by
                .iter()
                .map(|d| match d {
                    Dimension::Category => csv_cell(r.category.as_deref().unwrap_or("")),
                    Dimension::Ad => csv_cell(r.ad.as_deref().unwrap_or("")),
                    Dimension::Hour => r.hour.map(|h| h.to_string()).unwrap_or_default(),
                    Dimension::DayOfWeek => {
                        r.day_of_week.map(|h| h.to_string()).unwrap_or_default()
                    }
                    Dimension::Date => r.date.clone().unwrap_or_default(),
                })
                .collect();
            cells.push(r.impressions.to_string());
            cells.push(r.clicks.to_string());
            cells.push(r.ctr().map(|c| format!("{c:.6}")).unwrap_or_default());
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Looks up an IANA time zone, with a typed error for unknown names.
pub(crate) fn time_zone(name: &str) -> Result<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::get(name).map_err(|e| {
        Error::invalid(format!(
            "unknown time zone {name:?} (use an IANA name such as Europe/Paris): {e}"
        ))
    })
}

type Key = (
    Option<String>,
    Option<String>,
    Option<u8>,
    Option<u8>,
    Option<String>,
);

/// Groups impressions and clicks as the query says. `category_of` maps an ad id to its
/// category; events of other kinds, or outside the query's range, are ignored. Event items
/// name ads as `ad:<id>`. Events whose time no calendar can show are counted in
/// [`Report::skipped`] instead of failing the report, whatever the grouping.
///
/// ```
/// use sociallens::analytics::{aggregate, ReportQuery};
/// use sociallens::{Event, EventId, EventKind, Timestamp, UserId};
/// let click = Event {
///     id: EventId::new("c1")?,
///     user: UserId::new("u1")?,
///     kind: EventKind::Click,
///     post: None,
///     item: Some("ad:ad-1".into()),
///     at: Timestamp::from_millis(13 * 3_600_000), // 13:00 UTC
///     deltas: vec![],
/// };
/// let report = aggregate(&[click], |_| Some("surf".into()), &ReportQuery::by_category_and_hour())?;
/// assert_eq!(report.rows[0].category.as_deref(), Some("surf"));
/// assert_eq!((report.rows[0].hour, report.rows[0].clicks), (Some(13), 1));
/// # Ok::<(), sociallens::Error>(())
/// ```
pub fn aggregate(
    events: &[Event],
    category_of: impl Fn(&str) -> Option<String>,
    query: &ReportQuery,
) -> Result<Report> {
    let mut agg = Aggregator::new(query)?;
    agg.add(events, category_of);
    Ok(agg.finish())
}

/// [`aggregate`] in steps: events go in page by page and only the groups are kept, so a
/// report over millions of events needs memory for its rows, not its events (how
/// [`Engine::click_report`](crate::Engine::click_report) streams the store's pages).
///
/// ```
/// use sociallens::analytics::{Aggregator, ReportQuery};
/// use sociallens::{Event, EventId, EventKind, Timestamp, UserId};
/// let ev = |id: &str, kind| Event {
///     id: EventId::new(id).unwrap(),
///     user: UserId::new("u1").unwrap(),
///     kind,
///     post: None,
///     item: Some("ad:ad-1".into()),
///     at: Timestamp::from_millis(0),
///     deltas: vec![],
/// };
/// let mut agg = Aggregator::new(&ReportQuery::default())?;
/// agg.add(&[ev("i1", EventKind::Impression)], |_| None);
/// agg.add(&[ev("c1", EventKind::Click)], |_| None);
/// let report = agg.finish();
/// assert_eq!((report.impressions, report.clicks), (1, 1));
/// # Ok::<(), sociallens::Error>(())
/// ```
#[derive(Debug)]
pub struct Aggregator {
    query: ReportQuery,
    tz: jiff::tz::TimeZone,
    groups: BTreeMap<Key, (u64, u64)>,
    categories: HashMap<String, String>,
    impressions: u64,
    clicks: u64,
    skipped: u64,
}

impl Aggregator {
    /// An empty aggregation for `query` (an unknown time zone or a range that ends before
    /// it starts is [`Error::InvalidInput`]).
    pub fn new(query: &ReportQuery) -> Result<Self> {
        let tz = time_zone(&query.time_zone)?;
        if let (Some(f), Some(t)) = (query.from, query.to) {
            if t < f {
                return Err(Error::invalid("report range ends before it starts"));
            }
        }
        Ok(Self {
            query: query.clone(),
            tz,
            groups: BTreeMap::new(),
            categories: HashMap::new(),
            impressions: 0,
            clicks: 0,
            skipped: 0,
        })
    }

    /// Adds events (other kinds and events outside the range are ignored); `category_of`
    /// is asked once per ad.
    pub fn add(&mut self, events: &[Event], category_of: impl Fn(&str) -> Option<String>) {
        let query = &self.query;
        let want = |d: Dimension| query.group_by.contains(&d);
        for e in events {
            if !matches!(e.kind, EventKind::Click | EventKind::Impression)
                || query.from.is_some_and(|f| e.at < f)
                || query.to.is_some_and(|t| e.at >= t)
            {
                continue;
            }
            let Some(ad) = e.item.as_deref().and_then(|i| i.strip_prefix("ad:")) else {
                continue;
            };
            // Skipped whatever the grouping, so totals never depend on the dimensions asked for.
            let ts = match jiff::Timestamp::from_millisecond(e.at.as_millis()) {
                Ok(ts) if e.at.is_supported() => ts,
                _ => {
                    self.skipped += 1;
                    continue;
                }
            };
            let local =
                if want(Dimension::Hour) || want(Dimension::DayOfWeek) || want(Dimension::Date) {
                    Some(ts.to_zoned_datetime(self.tz.clone()))
                } else {
                    None
                };
            let category = if want(Dimension::Category) {
                Some(
                    self.categories
                        .entry(ad.to_string())
                        .or_insert_with(|| category_of(ad).unwrap_or_else(|| "(unknown)".into()))
                        .clone(),
                )
            } else {
                None
            };
            let key: Key = (
                category,
                want(Dimension::Ad).then(|| ad.to_string()),
                local
                    .as_ref()
                    .filter(|_| want(Dimension::Hour))
                    .map(|z| z.hour() as u8),
                local
                    .as_ref()
                    .filter(|_| want(Dimension::DayOfWeek))
                    .map(|z| z.weekday().to_monday_zero_offset() as u8),
                local
                    .as_ref()
                    .filter(|_| want(Dimension::Date))
                    .map(|z| z.date().to_string()),
            );
            let g = self.groups.entry(key).or_default();
            if e.kind == EventKind::Click {
                g.1 += 1;
                self.clicks += 1;
            } else {
                g.0 += 1;
                self.impressions += 1;
            }
        }
    }

    /// The report: rows sorted by the query's dimensions, in its order.
    pub fn finish(self) -> Report {
        let query = self.query;
        let mut rows: Vec<ReportRow> = self
            .groups
            .into_iter()
            .map(
                |((category, ad, hour, day_of_week, date), (i, c))| ReportRow {
                    category,
                    ad,
                    hour,
                    day_of_week,
                    date,
                    impressions: i,
                    clicks: c,
                },
            )
            .collect();
        rows.sort_by(|a, b| {
            for d in &query.group_by {
                let o = match d {
                    Dimension::Category => a.category.cmp(&b.category),
                    Dimension::Ad => a.ad.cmp(&b.ad),
                    Dimension::Hour => a.hour.cmp(&b.hour),
                    Dimension::DayOfWeek => a.day_of_week.cmp(&b.day_of_week),
                    Dimension::Date => a.date.cmp(&b.date),
                };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        Report {
            query,
            rows,
            impressions: self.impressions,
            clicks: self.clicks,
            skipped: self.skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EventId, UserId};

    fn ev(id: &str, kind: EventKind, ad: &str, at_ms: i64) -> Event {
        Event {
            id: EventId::new(id).unwrap(),
            user: UserId::new("u").unwrap(),
            kind,
            post: None,
            item: Some(format!("ad:{ad}")),
            at: Timestamp::from_millis(at_ms),
            deltas: vec![],
        }
    }

    #[test]
    fn time_zone_moves_hours_days_and_dates() {
        // 2026-03-29 00:30 UTC: 01:30 in Paris before the switch... the switch to summer
        // time happens at 01:00 UTC that night, so 02:30 UTC is 04:30 in Paris.
        let t0 = 1_774_744_200_000; // 2026-03-29T00:30:00Z
        let evs = [
            ev("a", EventKind::Click, "x", t0),
            ev("b", EventKind::Click, "x", t0 + 2 * 3_600_000),
        ];
        let q = ReportQuery::by([Dimension::Date, Dimension::Hour, Dimension::DayOfWeek])
            .time_zone("Europe/Paris");
        let r = aggregate(&evs, |_| None, &q).unwrap();
        let got: Vec<_> = r
            .rows
            .iter()
            .map(|r| {
                (
                    r.date.clone().unwrap(),
                    r.hour.unwrap(),
                    r.day_of_week.unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [("2026-03-29".into(), 1, 6), ("2026-03-29".into(), 4, 6)]
        );
        let utc = aggregate(&evs, |_| None, &ReportQuery::by([Dimension::Hour])).unwrap();
        assert_eq!(utc.rows[0].hour, Some(0));
    }

    #[test]
    fn times_no_calendar_can_show_are_skipped_not_fatal() {
        let evs = [
            ev("ok", EventKind::Click, "x", 1_774_744_200_000),
            ev("y10000", EventKind::Click, "x", 253_402_300_800_000),
            ev("max", EventKind::Impression, "x", i64::MAX),
            ev("min", EventKind::Click, "x", i64::MIN),
            ev("bc", EventKind::Click, "x", Timestamp::MIN.as_millis() - 1),
        ];
        for q in [
            ReportQuery::default(),
            ReportQuery::by_category_and_hour(),
            ReportQuery::by([Dimension::Date, Dimension::DayOfWeek])
                .time_zone("Pacific/Kiritimati"),
            ReportQuery::by([Dimension::Hour]).between(
                Some(Timestamp::from_millis(i64::MIN)),
                Some(Timestamp::from_millis(i64::MAX)),
            ),
        ] {
            let r = aggregate(&evs, |_| Some("surf".into()), &q).unwrap();
            assert_eq!(
                (r.clicks, r.impressions, r.skipped),
                (1, 0, 3 + q.to.is_none() as u64)
            );
            assert_eq!(r.rows.iter().map(|r| r.clicks).sum::<u64>(), 1);
        }
    }

    #[test]
    fn ranges_kinds_and_ctr() {
        let evs = [
            ev("i1", EventKind::Impression, "x", 10),
            ev("i2", EventKind::Impression, "x", 20),
            ev("c1", EventKind::Click, "x", 30),
            ev("c2", EventKind::Click, "y", 40),
            ev("l1", EventKind::Like, "y", 40),
        ];
        let q = ReportQuery::by([Dimension::Ad]).between(
            Some(Timestamp::from_millis(10)),
            Some(Timestamp::from_millis(40)),
        );
        let r = aggregate(&evs, |_| None, &q).unwrap();
        assert_eq!(r.rows.len(), 1);
        assert_eq!((r.rows[0].impressions, r.rows[0].clicks), (2, 1));
        assert_eq!(r.rows[0].ctr(), Some(0.5));
        assert!(r
            .to_csv()
            .starts_with("ad,impressions,clicks,ctr\nx,2,1,0.500000\n"));
        assert!(aggregate(
            &evs,
            |_| None,
            &ReportQuery::default().time_zone("Mars/Base")
        )
        .is_err());
    }
}
