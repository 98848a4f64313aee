//! Ads: the inventory, ads for a user, similar users and lookalike audiences.
//!
//! Everything here reads from an in-memory index the engine builds from the store on first
//! use and keeps current as it records events: an inverted index from interest to users (for
//! cosine similarity between decayed interest profiles) and one from targeting term to ads.
//! See [`Engine::ads_for`](crate::Engine::ads_for),
//! [`Engine::similar_users`](crate::Engine::similar_users) and
//! [`Engine::audience`](crate::Engine::audience).

pub(crate) mod index;
pub(crate) mod terms;

use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::interests::normalize_terms;
use crate::store::{CatalogRecord, ItemKind};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

/// Whether an ad may be shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdStatus {
    /// Served when its dates, caps and targeting allow.
    #[default]
    Active,
    /// Kept, never served, until resumed.
    Paused,
    /// Withdrawn for good. Kept only so that reports still know its category.
    Removed,
}

impl AdStatus {
    /// The lowercase name used in storage and in the bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            AdStatus::Active => "active",
            AdStatus::Paused => "paused",
            AdStatus::Removed => "removed",
        }
    }
}

/// How often one user may see one ad. Impressions are counted from
/// [`Engine::record_impression`](crate::Engine::record_impression).
///
/// ```
/// use sociallens::ads::FrequencyCap;
/// let cap = FrequencyCap::per_day(3).with_lifetime(10);
/// assert_eq!((cap.per_day, cap.lifetime), (Some(3), Some(10)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencyCap {
    /// At most this many impressions in any 24 hours.
    #[serde(default)]
    pub per_day: Option<u32>,
    /// At most this many impressions ever.
    #[serde(default)]
    pub lifetime: Option<u32>,
}

impl FrequencyCap {
    /// A cap per rolling 24 hours.
    pub fn per_day(n: u32) -> Self {
        Self {
            per_day: Some(n),
            lifetime: None,
        }
    }

    /// A lifetime cap.
    pub fn lifetime(n: u32) -> Self {
        Self {
            per_day: None,
            lifetime: Some(n),
        }
    }

    /// Adds a lifetime cap.
    pub fn with_lifetime(mut self, n: u32) -> Self {
        self.lifetime = Some(n);
        self
    }

    /// Whether a user who saw the ad `today` times in the last 24 hours and `total` times
    /// ever may see it again.
    pub fn allows(&self, today: u64, total: u64) -> bool {
        self.per_day.is_none_or(|c| today < u64::from(c))
            && self.lifetime.is_none_or(|c| total < u64::from(c))
    }
}

/// An ad: who pays for it, what it shows, where it leads, and whom it is for.
///
/// ```
/// use sociallens::ads::{Ad, FrequencyCap};
/// let ad = Ad::new("ad-1", "WaveCo", "Boards for every wave", "surf")
///     .interests(["surfboard", "wave", "beach"])
///     .landing_url("https://example.com/boards")
///     .frequency_cap(FrequencyCap::per_day(3))
///     .validate()?;
/// assert_eq!(ad.interests, ["surfboard", "wave", "beach"]);
/// # Ok::<(), sociallens::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ad {
    /// Unique id.
    pub id: String,
    /// Who pays for it.
    pub advertiser: String,
    /// Headline.
    pub title: String,
    /// The picture or video shown.
    #[serde(default)]
    pub creative_url: Option<String>,
    /// Where a click leads.
    #[serde(default)]
    pub landing_url: Option<String>,
    /// Product category ("surf", "kitchen"): what reports group by and users opt out of.
    pub category: String,
    /// Targeting: the interests or keywords of the people it is for.
    #[serde(default, alias = "keywords")]
    pub interests: Vec<String>,
    /// Never shown to users who clicked ads of these categories (a competitor's, or one the
    /// advertiser must stay away from).
    #[serde(default)]
    pub excluded_categories: Vec<String>,
    /// Not served before this time.
    #[serde(default)]
    pub start: Option<Timestamp>,
    /// Not served from this time on.
    #[serde(default)]
    pub end: Option<Timestamp>,
    /// How often one user may see it.
    #[serde(default)]
    pub frequency_cap: Option<FrequencyCap>,
    /// Active, paused or removed.
    #[serde(default)]
    pub status: AdStatus,
}

impl Ad {
    /// An active ad with no targeting yet.
    pub fn new(
        id: impl Into<String>,
        advertiser: impl Into<String>,
        title: impl Into<String>,
        category: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            advertiser: advertiser.into(),
            title: title.into(),
            creative_url: None,
            landing_url: None,
            category: category.into(),
            interests: Vec::new(),
            excluded_categories: Vec::new(),
            start: None,
            end: None,
            frequency_cap: None,
            status: AdStatus::Active,
        }
    }

    /// Sets the targeting interests.
    pub fn interests<I, S>(mut self, terms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.interests = terms.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the categories whose clickers never see this ad.
    pub fn excluded_categories<I, S>(mut self, categories: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.excluded_categories = categories.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the creative.
    pub fn creative_url(mut self, url: impl Into<String>) -> Self {
        self.creative_url = Some(url.into());
        self
    }

    /// Sets the landing page.
    pub fn landing_url(mut self, url: impl Into<String>) -> Self {
        self.landing_url = Some(url.into());
        self
    }

    /// Serves the ad only from `start` (inclusive) to `end` (exclusive).
    pub fn between(mut self, start: Option<Timestamp>, end: Option<Timestamp>) -> Self {
        self.start = start;
        self.end = end;
        self
    }

    /// Sets the frequency cap.
    pub fn frequency_cap(mut self, cap: FrequencyCap) -> Self {
        self.frequency_cap = Some(cap);
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: AdStatus) -> Self {
        self.status = status;
        self
    }

    /// Checks the ad and normalises its terms (trimmed, lowercase, deduplicated) and its
    /// categories (trimmed, lowercase). `start` and `end` must lie within
    /// [`Timestamp::MIN`]`..=`[`Timestamp::MAX`] (an end in year 9999 is a fine "never").
    pub fn validate(mut self) -> Result<Self> {
        crate::ids::PostId::new(self.id.clone())
            .map_err(|e| Error::invalid(format!("ad id: {e}")))?;
        let ctx = |m: &str| Error::invalid(format!("ad {}: {m}", self.id));
        if self.advertiser.trim().is_empty() {
            return Err(ctx("advertiser is empty"));
        }
        if self.title.trim().is_empty() {
            return Err(ctx("title is empty"));
        }
        self.category = normalize_category(&self.category).map_err(|e| ctx(&e.to_string()))?;
        self.interests = normalize_terms(&self.interests).map_err(|e| ctx(&e.to_string()))?;
        self.excluded_categories = self
            .excluded_categories
            .iter()
            .map(|c| normalize_category(c))
            .collect::<Result<_>>()
            .map_err(|e| ctx(&e.to_string()))?;
        for (name, t) in [("start", self.start), ("end", self.end)] {
            // Far-future ends are fine; times no calendar can show would break reports and
            // the bindings' datetimes.
            if let Some(t) = t.filter(|t| !t.is_supported()) {
                return Err(ctx(&format!(
                    "{name} {} is outside the supported range {}..={}",
                    t.to_rfc3339(),
                    Timestamp::MIN.to_rfc3339(),
                    Timestamp::MAX.to_rfc3339()
                )));
            }
        }
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if e <= s {
                return Err(ctx("end is not after start"));
            }
        }
        if let Some(cap) = self.frequency_cap {
            if cap.per_day == Some(0) || cap.lifetime == Some(0) {
                return Err(ctx(
                    "a frequency cap of 0 would never show the ad: pause it",
                ));
            }
        }
        Ok(self)
    }

    /// Whether the ad may be served at `now` (status and dates; not caps or targeting).
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.status == AdStatus::Active
            && self.start.is_none_or(|s| now >= s)
            && self.end.is_none_or(|e| now < e)
    }

    pub(crate) fn to_record(&self, now: Timestamp) -> Result<CatalogRecord> {
        Ok(CatalogRecord {
            kind: ItemKind::Ad,
            id: self.id.clone(),
            category: Some(self.category.clone()),
            body: serde_json::to_value(self)?,
            updated_at: now,
        })
    }

    pub(crate) fn from_record(r: &CatalogRecord) -> Result<Self> {
        Ok(serde_json::from_value(r.body.clone())?)
    }

    /// Reads ads from JSON Lines, one object per line with the fields of this type;
    /// `interests` and `excluded_categories` may be lists or `;`/`|`/`,`-separated strings.
    /// Errors name the line.
    pub fn from_jsonl(reader: impl Read) -> Result<Vec<Self>> {
        crate::recommend::catalog::read_jsonl(
            reader,
            "ads",
            &["interests", "keywords", "excluded_categories"],
            Self::validate,
        )
    }

    /// Reads ads from CSV with a header row: `id`, `advertiser`, `title`, `category`
    /// required; `interests` (or `keywords`), `excluded_categories`, `creative_url`,
    /// `landing_url`, `start`/`end` (milliseconds since the epoch), `cap_per_day`,
    /// `cap_lifetime`, `status` optional.
    pub fn from_csv(reader: impl Read) -> Result<Vec<Self>> {
        let rows = crate::recommend::catalog::read_csv_rows(reader, "ads")?;
        let mut out = Vec::with_capacity(rows.len());
        for (line, row) in rows {
            let at = |m: String| Error::invalid(format!("ads CSV line {line}: {m}"));
            let get = |k: &str| row.get(k).cloned();
            let need = |k: &str| get(k).ok_or_else(|| at(format!("{k} is missing")));
            let num = |k: &str| -> Result<Option<i64>> {
                get(k)
                    .map(|v| {
                        v.parse::<i64>()
                            .map_err(|_| at(format!("{k} {v:?} is not a number")))
                    })
                    .transpose()
            };
            let cap = |k: &str| -> Result<Option<u32>> {
                get(k)
                    .map(|v| {
                        v.parse::<u32>()
                            .map_err(|_| at(format!("{k} {v:?} is not a count")))
                    })
                    .transpose()
            };
            let (per_day, lifetime) = (cap("cap_per_day")?, cap("cap_lifetime")?);
            let status = match get("status").as_deref() {
                None | Some("active") => AdStatus::Active,
                Some("paused") => AdStatus::Paused,
                Some("removed") => AdStatus::Removed,
                Some(s) => {
                    return Err(at(format!("status {s:?} is not active, paused or removed")))
                }
            };
            let ad = Ad {
                id: need("id")?,
                advertiser: need("advertiser")?,
                title: need("title")?,
                creative_url: get("creative_url"),
                landing_url: get("landing_url"),
                category: need("category")?,
                interests: get("interests")
                    .or_else(|| get("keywords"))
                    .map(|s| crate::recommend::catalog::split_keywords(&s))
                    .unwrap_or_default(),
                excluded_categories: get("excluded_categories")
                    .map(|s| crate::recommend::catalog::split_keywords(&s))
                    .unwrap_or_default(),
                start: num("start")?.map(Timestamp::from_millis),
                end: num("end")?.map(Timestamp::from_millis),
                frequency_cap: (per_day.is_some() || lifetime.is_some())
                    .then_some(FrequencyCap { per_day, lifetime }),
                status,
            };
            out.push(ad.validate().map_err(|e| at(e.to_string()))?);
        }
        Ok(out)
    }

    /// Reads a `.jsonl`/`.ndjson` or `.csv` file of ads.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Vec<Self>> {
        let path = path.as_ref();
        let file = std::fs::File::open(path)
            .map_err(|e| Error::invalid(format!("cannot open ads {}: {e}", path.display())))?;
        match crate::recommend::catalog::extension(path).as_deref() {
            Some("jsonl") | Some("ndjson") | Some("json") => Self::from_jsonl(file),
            Some("csv") => Self::from_csv(file),
            _ => Err(Error::invalid(format!(
                "ads file {} must end in .jsonl, .ndjson or .csv",
                path.display()
            ))),
        }
    }
}

/// A category name as stored: trimmed and lowercase, not empty.
pub(crate) fn normalize_category(c: &str) -> Result<String> {
    let c = c
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if c.is_empty() {
        return Err(Error::invalid("a category is empty"));
    }
    if c.chars().count() > crate::interests::MAX_TERM_CHARS || c.chars().any(char::is_control) {
        return Err(Error::invalid(format!("category {c:?} is not usable")));
    }
    Ok(c)
}

/// How a user's interest matched an ad's targeting term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The same term.
    Exact,
    /// The same after lemmatising ("surfboards" and "surfboard").
    Lemma,
    /// One is a word of the other ("tennis" and "tennis racket").
    Compound,
    /// Close in meaning according to the configured embedder ("puppy" and "dog").
    Semantic,
}

impl MatchKind {
    /// The lowercase name used in the bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Lemma => "lemma",
            MatchKind::Compound => "compound",
            MatchKind::Semantic => "semantic",
        }
    }
}

/// One interest of the user that matched one targeting term of an ad.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchedInterest {
    /// The user's interest.
    pub interest: String,
    /// The ad's targeting term it matched.
    pub ad_term: String,
    /// How it matched.
    pub kind: MatchKind,
    /// How strongly, in 0..=1 (1 for exact).
    pub strength: f64,
    /// The interest's share of the user's profile (its weight over the profile's norm).
    pub weight: f64,
}

/// An ad chosen for a user, with why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdMatch {
    /// The ad.
    pub ad: Ad,
    /// Total score: `interest_score · w_interest + lookalike_score · w_lookalike`.
    pub score: f64,
    /// How well the user's interests match the ad's targeting (a cosine, 0..=1).
    pub interest_score: f64,
    /// Share of the user's similar users (by similarity) who clicked the ad, 0..=1.
    pub lookalike_score: f64,
    /// The user's interests that matched, strongest contribution first.
    pub matched: Vec<MatchedInterest>,
    /// How many of the user's similar users clicked the ad.
    pub similar_users_engaged: usize,
    /// When the similar users behind the lookalike signal were computed: `None` with the
    /// in-memory index (they are live), the neighbour table's time in stateless serving
    /// (see [`Serving`](crate::Serving)); `None` there too when the user has no stored list.
    pub neighbours_computed_at: Option<Timestamp>,
}

/// Another user whose interests resemble the user's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimilarUser {
    /// The other user.
    pub user: UserId,
    /// Cosine similarity of the two decayed interest profiles, 0..=1.
    pub score: f64,
    /// The interests both share, largest contribution to the score first (at most 5).
    pub shared: Vec<String>,
    /// When this similarity was computed: `None` with the in-memory index (live), the
    /// neighbour table's time in stateless serving (see [`Serving`](crate::Serving)).
    pub computed_at: Option<Timestamp>,
}

/// Whom an audience is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudienceQuery {
    /// Users interested in these terms.
    Interests(Vec<String>),
    /// Users an ad is for: its targeting, plus a lookalike of the users who clicked it.
    Ad(String),
}

impl AudienceQuery {
    /// Users interested in these terms.
    pub fn interests<I, S>(terms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Interests(terms.into_iter().map(Into::into).collect())
    }

    /// The users an ad is for.
    pub fn ad(id: impl Into<String>) -> Self {
        Self::Ad(id.into())
    }
}

/// One user of an audience.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AudienceMember {
    /// The user.
    pub user: UserId,
    /// How well the user fits, 0..=1 (cosine against the audience's query).
    pub score: f64,
    /// The user's interests that put them in the audience (at most 5).
    pub matched: Vec<String>,
}

/// Tuning of ad selection. The defaults suit most platforms.
///
/// ```
/// use sociallens::ads::AdsConfig;
/// let cfg = AdsConfig { min_audience_size: 100, ..AdsConfig::default() };
/// assert_eq!(cfg.lookalike_weight, 0.5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdsConfig {
    /// Weight of the interest match in an ad's score (default 1).
    pub interest_weight: f64,
    /// Weight of the lookalike signal (default 0.5).
    pub lookalike_weight: f64,
    /// How many similar users the lookalike signal asks (default 30).
    pub lookalike_neighbors: usize,
    /// Smallest audience [`Engine::audience_size`](crate::Engine::audience_size) reports
    /// (default 50): smaller groups are refused so that no one is singled out.
    pub min_audience_size: usize,
    /// Least embedder similarity that counts as a semantic match (default 0.6).
    pub semantic_threshold: f32,
    /// Postings scanned when generating similar-user candidates (default 20,000): the
    /// recall/latency trade-off of [`Engine::similar_users`](crate::Engine::similar_users),
    /// which scans at least one posting per 16 users whatever this says. The lookalike part
    /// of [`Engine::ads_for`](crate::Engine::ads_for) only needs a few close neighbours and
    /// scans an eighth of it, to stay within its latency.
    pub candidate_budget: usize,
    /// Least cosine a user needs to belong to an audience (default 0.05): keeps out users
    /// whose only overlap with the query is a faint or long-decayed interest.
    pub audience_min_score: f64,
}

impl Default for AdsConfig {
    fn default() -> Self {
        Self {
            interest_weight: 1.0,
            lookalike_weight: 0.5,
            lookalike_neighbors: 30,
            min_audience_size: 50,
            semantic_threshold: 0.6,
            candidate_budget: 20_000,
            audience_min_score: 0.05,
        }
    }
}

impl AdsConfig {
    /// Largest `interest_weight` and `lookalike_weight`.
    pub const MAX_WEIGHT: f64 = 1e6;
    /// Largest `lookalike_neighbors`.
    pub const MAX_LOOKALIKE_NEIGHBORS: usize = 100_000;
    /// Largest `candidate_budget`.
    pub const MAX_CANDIDATE_BUDGET: usize = 1_000_000_000;

    /// Checks every number is usable: the weights finite, >= 0 and at most
    /// [`MAX_WEIGHT`](Self::MAX_WEIGHT); the thresholds (cosines) within 0..=1; the sizes
    /// within their documented ranges.
    ///
    /// ```
    /// use sociallens::ads::AdsConfig;
    /// assert!(AdsConfig::default().validate().is_ok());
    /// assert!(AdsConfig { interest_weight: 1e300, ..AdsConfig::default() }.validate().is_err());
    /// assert!(AdsConfig { lookalike_neighbors: usize::MAX, ..AdsConfig::default() }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        for (name, w, max) in [
            ("interest_weight", self.interest_weight, Self::MAX_WEIGHT),
            ("lookalike_weight", self.lookalike_weight, Self::MAX_WEIGHT),
            (
                "semantic_threshold",
                f64::from(self.semantic_threshold),
                1.0,
            ),
            ("audience_min_score", self.audience_min_score, 1.0),
        ] {
            if !(w >= 0.0 && w <= max) {
                return Err(Error::invalid(format!(
                    "{name} must be finite, >= 0 and <= {max}, got {w}"
                )));
            }
        }
        if !(1..=Self::MAX_CANDIDATE_BUDGET).contains(&self.candidate_budget) {
            return Err(Error::invalid(format!(
                "candidate_budget must be between 1 and {}, got {}",
                Self::MAX_CANDIDATE_BUDGET,
                self.candidate_budget
            )));
        }
        if self.lookalike_neighbors > Self::MAX_LOOKALIKE_NEIGHBORS {
            return Err(Error::invalid(format!(
                "lookalike_neighbors must be at most {}, got {}",
                Self::MAX_LOOKALIKE_NEIGHBORS,
                self.lookalike_neighbors
            )));
        }
        Ok(())
    }
}
