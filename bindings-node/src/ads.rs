//! Ads, similar users, audiences, impressions, clicks and click reports: conversions between
//! the core's types and plain JS objects, and the `Engine` methods that wrap the core's.

use crate::{
    count32, from_date, options_of, promise, size, to_date, Engine, EventOptions, EventOutcome,
};
use chrono::{DateTime, Utc};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use sociallens as core;
use sociallens::ads::{AdStatus, AudienceQuery as CoreAudienceQuery, FrequencyCap as CoreCap};
use sociallens::analytics::{Dimension, ReportQuery as CoreReportQuery};

/// How often one user may see one ad (impressions come from `recordImpression`).
#[napi(object)]
pub struct FrequencyCap {
    /// At most this many impressions in any 24 hours.
    pub per_day: Option<f64>,
    /// At most this many impressions ever.
    pub lifetime: Option<f64>,
}

/// An ad: who pays for it, what it shows, where it leads, and whom it is for. Fields marked
/// optional may be left out when adding; ads read back always carry `interests`,
/// `excludedCategories` and `status`.
#[napi(object)]
pub struct Ad {
    /// Unique id.
    pub id: String,
    /// Who pays for it.
    pub advertiser: String,
    /// Headline.
    pub title: String,
    /// Product category ("surf", "kitchen"): what reports group by and users opt out of.
    pub category: String,
    /// Targeting: the interests or keywords of the people it is for.
    pub interests: Option<Vec<String>>,
    /// Never shown to users who clicked ads of these categories.
    pub excluded_categories: Option<Vec<String>>,
    /// The picture or video shown.
    pub creative_url: Option<String>,
    /// Where a click leads.
    pub landing_url: Option<String>,
    /// Not served before this time.
    pub start: Option<DateTime<Utc>>,
    /// Not served from this time on.
    pub end: Option<DateTime<Utc>>,
    /// How often one user may see it.
    pub frequency_cap: Option<FrequencyCap>,
    /// `active` (default), `paused` or `removed`.
    #[napi(ts_type = "'active' | 'paused' | 'removed'")]
    pub status: Option<String>,
}

impl From<core::ads::Ad> for Ad {
    fn from(a: core::ads::Ad) -> Self {
        Self {
            id: a.id,
            advertiser: a.advertiser,
            title: a.title,
            category: a.category,
            interests: Some(a.interests),
            excluded_categories: Some(a.excluded_categories),
            creative_url: a.creative_url,
            landing_url: a.landing_url,
            start: a.start.map(to_date),
            end: a.end.map(to_date),
            frequency_cap: a.frequency_cap.map(|c| FrequencyCap {
                per_day: c.per_day.map(f64::from),
                lifetime: c.lifetime.map(f64::from),
            }),
            status: Some(a.status.as_str().to_string()),
        }
    }
}

impl Ad {
    /// The core's ad, checked and normalised.
    fn into_core(self) -> core::Result<core::ads::Ad> {
        let status = match self.status.as_deref() {
            None | Some("active") => AdStatus::Active,
            Some("paused") => AdStatus::Paused,
            Some("removed") => AdStatus::Removed,
            Some(s) => {
                return Err(core::Error::InvalidInput(format!(
                    "ad {}: status {s:?} is not active, paused or removed",
                    self.id
                )))
            }
        };
        let frequency_cap = match self.frequency_cap {
            Some(c) => Some(CoreCap {
                per_day: count32("frequencyCap.perDay", c.per_day)?,
                lifetime: count32("frequencyCap.lifetime", c.lifetime)?,
            }),
            None => None,
        };
        core::ads::Ad {
            id: self.id,
            advertiser: self.advertiser,
            title: self.title,
            creative_url: self.creative_url,
            landing_url: self.landing_url,
            category: self.category,
            interests: self.interests.unwrap_or_default(),
            excluded_categories: self.excluded_categories.unwrap_or_default(),
            start: from_date(self.start),
            end: from_date(self.end),
            frequency_cap,
            status,
        }
        .validate()
    }
}

/// One interest of the user that matched one targeting term of an ad.
#[napi(object)]
pub struct MatchedInterest {
    /// The user's interest.
    pub interest: String,
    /// The ad's targeting term it matched.
    pub ad_term: String,
    /// How it matched: the same term, the same lemma, one a word of the other, or close in
    /// meaning (with an embedder).
    #[napi(ts_type = "'exact' | 'lemma' | 'compound' | 'semantic'")]
    pub kind: String,
    /// How strongly, 0..1 (1 for exact).
    pub strength: f64,
    /// The interest's share of the user's profile.
    pub weight: f64,
}

/// An ad chosen for a user, with why.
#[napi(object)]
pub struct AdMatch {
    /// The ad.
    pub ad: Ad,
    /// Total score: `interestScore · interestWeight + lookalikeScore · lookalikeWeight`.
    pub score: f64,
    /// How well the user's interests match the ad's targeting (a cosine, 0..1).
    pub interest_score: f64,
    /// Share of the user's similar users (by similarity) who clicked the ad, 0..1.
    pub lookalike_score: f64,
    /// The user's interests that matched, strongest contribution first.
    pub matched: Vec<MatchedInterest>,
    /// How many of the user's similar users clicked the ad.
    pub similar_users_engaged: u32,
    /// When those similar users were computed (`serving: 'stateless'`); absent with the
    /// in-memory index, where they are live.
    pub neighbours_computed_at: Option<DateTime<Utc>>,
}

impl From<core::ads::AdMatch> for AdMatch {
    fn from(m: core::ads::AdMatch) -> Self {
        Self {
            ad: m.ad.into(),
            score: m.score,
            interest_score: m.interest_score,
            lookalike_score: m.lookalike_score,
            matched: m
                .matched
                .into_iter()
                .map(|i| MatchedInterest {
                    interest: i.interest,
                    ad_term: i.ad_term,
                    kind: i.kind.as_str().to_string(),
                    strength: i.strength,
                    weight: i.weight,
                })
                .collect(),
            similar_users_engaged: m.similar_users_engaged.min(u32::MAX as usize) as u32,
            neighbours_computed_at: m.neighbours_computed_at.map(to_date),
        }
    }
}

/// Another user whose interests resemble the user's.
#[napi(object)]
pub struct SimilarUser {
    /// The other user.
    pub user: String,
    /// Cosine similarity of the two decayed interest profiles, 0..1.
    pub score: f64,
    /// The interests both share, largest contribution first (at most 5).
    pub shared: Vec<String>,
    /// When this similarity was computed (`serving: 'stateless'`); absent with the
    /// in-memory index, where it is live.
    pub computed_at: Option<DateTime<Utc>>,
}

/// Whom an audience is for: give exactly one of `interests` and `ad`.
#[napi(object)]
pub struct AudienceQuery {
    /// Users interested in these terms.
    pub interests: Option<Vec<String>>,
    /// Users an ad is for: its targeting, plus a lookalike of the users who clicked it.
    pub ad: Option<String>,
}

impl AudienceQuery {
    fn into_core(self) -> core::Result<CoreAudienceQuery> {
        match (self.interests, self.ad) {
            (Some(terms), None) => Ok(CoreAudienceQuery::Interests(terms)),
            (None, Some(ad)) => Ok(CoreAudienceQuery::Ad(ad)),
            _ => Err(core::Error::InvalidInput(
                "an audience query needs exactly one of interests and ad".into(),
            )),
        }
    }
}

/// One user of an audience.
#[napi(object)]
pub struct AudienceMember {
    /// The user.
    pub user: String,
    /// How well the user fits, 0..1.
    pub score: f64,
    /// The user's interests that put them in the audience (at most 5).
    pub matched: Vec<String>,
}

/// What a click report covers and how it is grouped.
#[napi(object)]
pub struct ReportQuery {
    /// The dimensions, in column order (none: one row of totals).
    #[napi(ts_type = "Array<'category' | 'ad' | 'hour' | 'day_of_week' | 'date'>")]
    pub group_by: Option<Vec<String>>,
    /// Events at or after this time.
    pub start: Option<DateTime<Utc>>,
    /// Events before this time.
    pub end: Option<DateTime<Utc>>,
    /// IANA time zone for hours, days and dates (default `UTC`).
    pub time_zone: Option<String>,
}

/// One group of a click report. Only the fields of the query's dimensions are set.
#[napi(object)]
pub struct ReportRow {
    /// The ad's category (`(unknown)` for an ad no longer stored).
    pub category: Option<String>,
    /// The ad id.
    pub ad: Option<String>,
    /// Hour of day, 0–23, in the report's time zone.
    pub hour: Option<u32>,
    /// Day of week, 0 (Monday) – 6 (Sunday), in the report's time zone.
    pub day_of_week: Option<u32>,
    /// `YYYY-MM-DD` in the report's time zone.
    pub date: Option<String>,
    /// Impressions recorded.
    pub impressions: i64,
    /// Clicks recorded.
    pub clicks: i64,
    /// Clicks / impressions; absent without impressions.
    pub ctr: Option<f64>,
}

/// A click report: rows sorted by their dimensions, and totals.
#[napi(object)]
pub struct ClickReport {
    /// The dimensions the rows are grouped by.
    #[napi(ts_type = "Array<'category' | 'ad' | 'hour' | 'day_of_week' | 'date'>")]
    pub group_by: Vec<String>,
    /// The time zone of hours, days and dates.
    pub time_zone: String,
    /// One row per group that had events.
    pub rows: Vec<ReportRow>,
    /// All impressions in range.
    pub impressions: i64,
    /// All clicks in range.
    pub clicks: i64,
    /// Overall click-through rate; absent without impressions.
    pub ctr: Option<f64>,
}

impl From<core::analytics::Report> for ClickReport {
    fn from(r: core::analytics::Report) -> Self {
        let ctr = r.ctr();
        Self {
            group_by: r
                .query
                .group_by
                .iter()
                .map(|d| d.as_str().to_string())
                .collect(),
            time_zone: r.query.time_zone,
            rows: r
                .rows
                .into_iter()
                .map(|row| ReportRow {
                    ctr: row.ctr(),
                    category: row.category,
                    ad: row.ad,
                    hour: row.hour.map(u32::from),
                    day_of_week: row.day_of_week.map(u32::from),
                    date: row.date,
                    impressions: count(row.impressions),
                    clicks: count(row.clicks),
                })
                .collect(),
            impressions: count(r.impressions),
            clicks: count(r.clicks),
            ctr,
        }
    }
}

fn count(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

impl ReportQuery {
    fn into_core(self) -> core::Result<CoreReportQuery> {
        let group_by = self
            .group_by
            .unwrap_or_default()
            .iter()
            .map(|d| Dimension::parse(d))
            .collect::<core::Result<Vec<_>>>()?;
        let mut q =
            CoreReportQuery::by(group_by).between(from_date(self.start), from_date(self.end));
        if let Some(tz) = self.time_zone {
            q = q.time_zone(tz);
        }
        Ok(q)
    }
}

/// What the in-memory similarity index holds.
#[napi(object)]
pub struct IndexStats {
    /// Users with at least one interest.
    pub users: u32,
    /// Ads, in any status.
    pub ads: u32,
    /// Distinct terms of profiles and targeting.
    pub terms: u32,
}

/// What `buildNeighbours` wrote.
#[napi(object)]
pub struct NeighbourStats {
    /// Users whose list was written.
    pub users: u32,
    /// Neighbour entries written, over all lists.
    pub neighbours: u32,
    /// The time every list was stamped with.
    pub computed_at: DateTime<Utc>,
}

fn small(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

/// Reads `addAds`'s argument: a path, or an array of plain ad objects read one by one, so
/// that anything malformed rejects with `INVALID_INPUT` naming its index instead of throwing
/// a conversion error.
fn ads_arg(ads: Unknown<'_>) -> core::Result<Either<Vec<core::ads::Ad>, String>> {
    let bad = |m: String| core::Error::InvalidInput(m);
    let napi_bad = |e: napi::Error| bad(e.reason);
    let is_object = |v: &Unknown<'_>| -> core::Result<bool> {
        Ok(v.get_type().map_err(napi_bad)? == ValueType::Object
            && !v.is_array().map_err(napi_bad)?)
    };
    match ads.get_type().map_err(napi_bad)? {
        // SAFETY (all casts): the value's type was checked just before.
        ValueType::String => Ok(Either::B(
            unsafe { ads.cast::<String>() }.map_err(napi_bad)?,
        )),
        ValueType::Object if ads.is_array().map_err(napi_bad)? => {
            let items: Vec<Unknown<'_>> = unsafe { ads.cast() }.map_err(napi_bad)?;
            let list = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    if !is_object(item)? {
                        return Err(bad(format!("ads[{i}] is not an ad object")));
                    }
                    unsafe { item.cast::<Ad>() }
                        .map_err(|e| bad(format!("ads[{i}]: {}", e.reason)))?
                        .into_core()
                })
                .collect::<core::Result<_>>()?;
            Ok(Either::A(list))
        }
        _ => Err(bad(
            "addAds takes an array of ads or the path of a .jsonl or .csv file".into(),
        )),
    }
}

#[napi]
impl Engine {
    /// Adds (or replaces) ads: an array of ads, or the path of a `.jsonl` or `.csv` file.
    /// Every ad is checked first; one bad ad rejects the batch (`INVALID_INPUT`) and changes
    /// nothing. Resolves to how many were written.
    #[napi(
        catch_unwind,
        ts_args_type = "ads: Array<Ad> | string",
        ts_return_type = "Promise<number>"
    )]
    pub fn add_ads<'env>(&self, env: &'env Env, ads: Unknown<'_>) -> Result<PromiseRaw<'env, u32>> {
        let engine = self.inner.clone();
        let ads = ads_arg(ads);
        promise(env, async move {
            let n = match ads? {
                Either::A(list) => engine.add_ads(list).await?,
                Either::B(path) => engine.add_ads_from_path(path).await?,
            };
            Ok(small(n))
        })
    }

    /// Every ad that is not removed, by id.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<Ad>>")]
    pub fn ads<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Vec<Ad>>> {
        let engine = self.inner.clone();
        promise(env, async move {
            Ok(engine.ads().await?.into_iter().map(Ad::from).collect())
        })
    }

    /// An ad by id (removed ones included, with their status), or `null`.
    #[napi(catch_unwind, ts_return_type = "Promise<Ad | null>")]
    pub fn ad<'env>(&self, env: &'env Env, id: String) -> Result<PromiseRaw<'env, Option<Ad>>> {
        let engine = self.inner.clone();
        promise(env, async move { Ok(engine.ad(&id).await?.map(Ad::from)) })
    }

    /// Stops serving an ad until `resumeAd`. Rejects with `NOT_FOUND` for an unknown ad and
    /// `CONFLICT` for a removed one.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn pause_ad<'env>(&self, env: &'env Env, id: String) -> Result<PromiseRaw<'env, ()>> {
        let engine = self.inner.clone();
        promise(env, async move { engine.pause_ad(&id).await })
    }

    /// Serves a paused ad again.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn resume_ad<'env>(&self, env: &'env Env, id: String) -> Result<PromiseRaw<'env, ()>> {
        let engine = self.inner.clone();
        promise(env, async move { engine.resume_ad(&id).await })
    }

    /// Withdraws an ad for good; `false` if there was none or it was already removed. Its
    /// record stays so that reports still know its category.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn remove_ad<'env>(&self, env: &'env Env, id: String) -> Result<PromiseRaw<'env, bool>> {
        let engine = self.inner.clone();
        promise(env, async move { engine.remove_ad(&id).await })
    }

    /// The `k` users (default 10) whose decayed interest profiles are closest (cosine) to the
    /// user's, best first, each with the interests they share. The user is never included.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<SimilarUser>>")]
    pub fn similar_users<'env>(
        &self,
        env: &'env Env,
        user: String,
        k: Option<f64>,
    ) -> Result<PromiseRaw<'env, Vec<SimilarUser>>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let k = size("k", k, 10)?;
            Ok(engine
                .similar_users(&user, k)
                .await?
                .into_iter()
                .map(|s| SimilarUser {
                    user: s.user.to_string(),
                    score: s.score,
                    shared: s.shared,
                    computed_at: s.computed_at.map(to_date),
                })
                .collect())
        })
    }

    /// Up to `k` ads for the user (default 5), best first, each explaining itself: the
    /// interests that matched, how many similar users clicked it, the parts of its score.
    /// Paused, removed, out-of-date, capped, opted-out and excluded ads are left out. Call
    /// `recordImpression` for each ad shown: that is what frequency caps count.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<AdMatch>>")]
    pub fn ads_for<'env>(
        &self,
        env: &'env Env,
        user: String,
        k: Option<f64>,
    ) -> Result<PromiseRaw<'env, Vec<AdMatch>>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let k = size("k", k, 5)?;
            Ok(engine
                .ads_for(&user, k)
                .await?
                .into_iter()
                .map(AdMatch::from)
                .collect())
        })
    }

    /// The users to target, best first (at most `limit`, default 100): for `interests`, users
    /// with those interests; for `ad`, users matching its targeting plus a lookalike of those
    /// who clicked it. Users who opted out of the ad's category are never included. Fewer
    /// matching users than the engine's `minAudienceSize` (default 50) reject with code
    /// `PRIVACY`: small groups are neither listed nor counted.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<AudienceMember>>")]
    pub fn audience<'env>(
        &self,
        env: &'env Env,
        query: AudienceQuery,
        limit: Option<f64>,
    ) -> Result<PromiseRaw<'env, Vec<AudienceMember>>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let limit = size("limit", limit, 100)?;
            Ok(members(engine.audience(query.into_core()?, limit).await?))
        })
    }

    /// `audience` WITHOUT the privacy minimum: every member, however few. For the platform's
    /// own trusted jobs only, never for anything an advertiser or another user can read; the
    /// loud name is on purpose.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<AudienceMember>>")]
    pub fn audience_bypassing_privacy_minimum<'env>(
        &self,
        env: &'env Env,
        query: AudienceQuery,
        limit: Option<f64>,
    ) -> Result<PromiseRaw<'env, Vec<AudienceMember>>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let limit = size("limit", limit, 100)?;
            Ok(members(
                engine
                    .audience_bypassing_privacy_minimum(query.into_core()?, limit)
                    .await?,
            ))
        })
    }

    /// How many users `audience` would return, for advertisers. Counts below the engine's
    /// `minAudienceSize` (default 50) reject with code `PRIVACY`.
    #[napi(catch_unwind, ts_return_type = "Promise<number>")]
    pub fn audience_size<'env>(
        &self,
        env: &'env Env,
        query: AudienceQuery,
    ) -> Result<PromiseRaw<'env, u32>> {
        let engine = self.inner.clone();
        promise(env, async move {
            Ok(small(engine.audience_size(query.into_core()?).await?))
        })
    }

    /// Records that the user was shown an ad (what frequency caps count). Replaying an event
    /// id changes nothing (`status: 'duplicate'`).
    #[napi(catch_unwind, ts_return_type = "Promise<EventOutcome>")]
    pub fn record_impression<'env>(
        &self,
        env: &'env Env,
        user: String,
        ad: String,
        options: Option<EventOptions>,
    ) -> Result<PromiseRaw<'env, EventOutcome>> {
        let opts = options_of(options);
        let engine = self.inner.clone();
        promise(env, async move {
            engine
                .record_impression_with(&user, &ad, opts)
                .await
                .map(Into::into)
        })
    }

    /// Records that the user clicked an ad: counted in reports, a lookalike signal for similar
    /// users, and the ad's targeting interests gain `clickWeight` in the user's profile.
    /// Replaying an event id changes nothing (`status: 'duplicate'`).
    #[napi(catch_unwind, ts_return_type = "Promise<EventOutcome>")]
    pub fn record_click<'env>(
        &self,
        env: &'env Env,
        user: String,
        ad: String,
        options: Option<EventOptions>,
    ) -> Result<PromiseRaw<'env, EventOutcome>> {
        let opts = options_of(options);
        let engine = self.inner.clone();
        promise(env, async move {
            engine
                .record_click_with(&user, &ad, opts)
                .await
                .map(Into::into)
        })
    }

    /// Opts a user out of ads of a category (`optedOut` true, the default) or back in.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn set_opt_out<'env>(
        &self,
        env: &'env Env,
        user: String,
        category: String,
        opted_out: Option<bool>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let engine = self.inner.clone();
        promise(env, async move {
            engine
                .set_opt_out(&user, &category, opted_out.unwrap_or(true))
                .await
        })
    }

    /// The categories a user opted out of.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<string>>")]
    pub fn opt_outs<'env>(
        &self,
        env: &'env Env,
        user: String,
    ) -> Result<PromiseRaw<'env, Vec<String>>> {
        let engine = self.inner.clone();
        promise(env, async move { engine.opt_outs(&user).await })
    }

    /// Impressions, clicks and CTR of ads as typed rows, grouped by any of `category`, `ad`,
    /// `hour`, `day_of_week` and `date` (in `timeZone`, an IANA name, default UTC), over
    /// `start <= at < end`. An unknown dimension or time zone rejects with `INVALID_INPUT`.
    #[napi(catch_unwind, ts_return_type = "Promise<ClickReport>")]
    pub fn click_report<'env>(
        &self,
        env: &'env Env,
        query: Option<ReportQuery>,
    ) -> Result<PromiseRaw<'env, ClickReport>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let query = match query {
                Some(q) => q.into_core()?,
                None => CoreReportQuery::default(),
            };
            Ok(engine.click_report(query).await?.into())
        })
    }

    /// Computes every user's `k` (default 50) most similar users into the store's neighbour
    /// table: what `similarUsers` and lookalikes read with `serving: 'stateless'` (see
    /// docs/scaling.md). Run it on a schedule; results carry the time it ran.
    #[napi(catch_unwind, ts_return_type = "Promise<NeighbourStats>")]
    pub fn build_neighbours<'env>(
        &self,
        env: &'env Env,
        k: Option<f64>,
    ) -> Result<PromiseRaw<'env, NeighbourStats>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let k = size("k", k, 50)?;
            let s = engine.build_neighbours(k).await?;
            Ok(NeighbourStats {
                users: small(s.users),
                neighbours: small(s.neighbours),
                computed_at: to_date(s.computed_at),
            })
        })
    }

    /// Rebuilds the in-memory similarity index from the store, picking up what other
    /// processes wrote. The engine keeps it current with its own events, so a single process
    /// never needs this.
    #[napi(catch_unwind, ts_return_type = "Promise<IndexStats>")]
    pub fn refresh_index<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, IndexStats>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let s = engine.refresh_index().await?;
            Ok(IndexStats {
                users: small(s.users),
                ads: small(s.ads),
                terms: small(s.terms),
            })
        })
    }
}

fn members(found: Vec<core::ads::AudienceMember>) -> Vec<AudienceMember> {
    found
        .into_iter()
        .map(|m| AudienceMember {
            user: m.user.to_string(),
            score: m.score,
            matched: m.matched,
        })
        .collect()
}
