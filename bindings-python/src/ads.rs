//! Ads, similar users, audiences and click reports: the Python classes and conversions. The
//! `Engine` methods that return them live with the other `Engine` methods in `lib.rs`.

use crate::{count32, from_time, size, to_datetime, to_py_err};
use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use sociallens as core;
use sociallens::ads::{AdStatus, FrequencyCap};
use sociallens::analytics::Dimension;

fn invalid(message: String) -> PyErr {
    to_py_err(core::Error::InvalidInput(message))
}

// ---------------------------------------------------------------------------------------
// Configuration

/// Tuning of ad selection and audiences, given to `Engine(..., ads_config=...)`.
///
/// `interest_weight` and `lookalike_weight` weigh the two parts of an ad's score;
/// `lookalike_neighbors` is how many similar users the lookalike signal asks;
/// `min_audience_size` is the smallest audience `audience_size` reports (smaller ones raise
/// `PrivacyError`); `semantic_threshold` is the least embedder similarity that counts as a
/// semantic match; `candidate_budget` trades recall of `similar_users` for speed;
/// `audience_min_score` is the least cosine a user needs to belong to an audience.
#[pyclass(module = "sociallens", frozen, get_all, name = "AdsConfig")]
pub(crate) struct PyAdsConfig {
    interest_weight: f64,
    lookalike_weight: f64,
    lookalike_neighbors: usize,
    min_audience_size: usize,
    semantic_threshold: f32,
    candidate_budget: usize,
    audience_min_score: f64,
}

#[pymethods]
impl PyAdsConfig {
    #[new]
    #[pyo3(signature = (*, interest_weight=1.0, lookalike_weight=0.5, lookalike_neighbors=30, min_audience_size=50, semantic_threshold=0.6, candidate_budget=20000, audience_min_score=0.05))]
    fn new(
        interest_weight: f64,
        lookalike_weight: f64,
        #[pyo3(from_py_with = size)] lookalike_neighbors: usize,
        #[pyo3(from_py_with = size)] min_audience_size: usize,
        semantic_threshold: f32,
        #[pyo3(from_py_with = size)] candidate_budget: usize,
        audience_min_score: f64,
    ) -> PyResult<Self> {
        crate::guard(|| {
            let cfg = core::ads::AdsConfig {
                interest_weight,
                lookalike_weight,
                lookalike_neighbors,
                min_audience_size,
                semantic_threshold,
                candidate_budget,
                audience_min_score,
            };
            cfg.validate().map_err(to_py_err)?;
            Ok(Self {
                interest_weight,
                lookalike_weight,
                lookalike_neighbors,
                min_audience_size,
                semantic_threshold,
                candidate_budget,
                audience_min_score,
            })
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "AdsConfig(interest_weight={}, lookalike_weight={}, lookalike_neighbors={}, min_audience_size={}, semantic_threshold={}, candidate_budget={}, audience_min_score={})",
            self.interest_weight,
            self.lookalike_weight,
            self.lookalike_neighbors,
            self.min_audience_size,
            self.semantic_threshold,
            self.candidate_budget,
            self.audience_min_score
        )
    }
}

impl PyAdsConfig {
    pub(crate) fn to_core(&self) -> core::ads::AdsConfig {
        core::ads::AdsConfig {
            interest_weight: self.interest_weight,
            lookalike_weight: self.lookalike_weight,
            lookalike_neighbors: self.lookalike_neighbors,
            min_audience_size: self.min_audience_size,
            semantic_threshold: self.semantic_threshold,
            candidate_budget: self.candidate_budget,
            audience_min_score: self.audience_min_score,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Ads

/// An ad: who pays for it (`advertiser`), what it shows (`title`, `creative_url`), where it
/// leads (`landing_url`), its `category`, whom it is for (`interests`), the categories
/// whose clickers never see it (`excluded_categories`), when it runs (`start`, `end`:
/// datetimes or epoch seconds, UTC datetimes when read), how often one user may see it
/// (`cap_per_day` in any 24 hours, `cap_lifetime` ever) and its `status` ("active",
/// "paused" or "removed").
///
/// Terms and categories are normalised (trimmed, lowercase, deduplicated) on creation;
/// anything unusable raises `InvalidInputError`. `Engine.add_ads` also takes plain dicts
/// with these keys (`keywords` is accepted for `interests`).
#[pyclass(module = "sociallens", frozen, name = "Ad")]
pub(crate) struct PyAd {
    pub(crate) inner: core::ads::Ad,
}

const AD_KEYS: &[&str] = &[
    "id",
    "advertiser",
    "title",
    "category",
    "interests",
    "keywords",
    "excluded_categories",
    "creative_url",
    "landing_url",
    "start",
    "end",
    "cap_per_day",
    "cap_lifetime",
    "status",
];

fn terms(ctx: &str, what: &str, v: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    if v.is_instance_of::<PyString>() {
        return Err(invalid(format!(
            "{ctx}: {what} must be a list of strings, not one string"
        )));
    }
    v.extract()
        .map_err(|_| invalid(format!("{ctx}: {what} must be a list of strings")))
}

fn parse_status(ctx: &str, s: &str) -> PyResult<AdStatus> {
    match s {
        "active" => Ok(AdStatus::Active),
        "paused" => Ok(AdStatus::Paused),
        "removed" => Ok(AdStatus::Removed),
        other => Err(invalid(format!(
            "{ctx}: status {other:?} is not active, paused or removed"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn build_ad(
    ctx: &str,
    id: String,
    advertiser: String,
    title: String,
    category: String,
    interests: Option<&Bound<'_, PyAny>>,
    excluded_categories: Option<&Bound<'_, PyAny>>,
    creative_url: Option<String>,
    landing_url: Option<String>,
    start: Option<&Bound<'_, PyAny>>,
    end: Option<&Bound<'_, PyAny>>,
    cap_per_day: Option<u32>,
    cap_lifetime: Option<u32>,
    status: &str,
) -> PyResult<core::ads::Ad> {
    let ad = core::ads::Ad {
        id,
        advertiser,
        title,
        creative_url,
        landing_url,
        category,
        interests: terms(ctx, "interests", interests)?,
        excluded_categories: terms(ctx, "excluded_categories", excluded_categories)?,
        start: from_time(start.filter(|v| !v.is_none()))?,
        end: from_time(end.filter(|v| !v.is_none()))?,
        frequency_cap: (cap_per_day.is_some() || cap_lifetime.is_some()).then_some(FrequencyCap {
            per_day: cap_per_day,
            lifetime: cap_lifetime,
        }),
        status: parse_status(ctx, status)?,
    };
    ad.validate().map_err(to_py_err)
}

/// An ad from a dict with the keys of `Ad`'s constructor; errors say which ad and key.
fn ad_from_dict(ctx: &str, d: &Bound<'_, PyDict>) -> PyResult<core::ads::Ad> {
    for key in d.keys() {
        let key: String = key
            .extract()
            .map_err(|_| invalid(format!("{ctx}: ad dict keys must be strings")))?;
        if !AD_KEYS.contains(&key.as_str()) {
            return Err(invalid(format!(
                "{ctx}: unknown ad field {key:?}; known fields: {}",
                AD_KEYS.join(", ")
            )));
        }
    }
    let get = |k: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(d.get_item(k)?.filter(|v| !v.is_none()))
    };
    let text = |k: &str| -> PyResult<Option<String>> {
        get(k)?
            .map(|v| {
                v.extract::<String>()
                    .map_err(|_| invalid(format!("{ctx}: {k} must be a string")))
            })
            .transpose()
    };
    let need = |k: &str| -> PyResult<String> {
        text(k)?.ok_or_else(|| invalid(format!("{ctx}: {k} is missing")))
    };
    let count = |k: &str| -> PyResult<Option<u32>> {
        get(k)?
            .map(|v| {
                count32(&v)
                    .ok()
                    .flatten()
                    .ok_or_else(|| invalid(format!("{ctx}: {k} must be a count (an int >= 1)")))
            })
            .transpose()
    };
    let interests = match get("interests")? {
        Some(v) => Some(v),
        None => get("keywords")?,
    };
    build_ad(
        ctx,
        need("id")?,
        need("advertiser")?,
        need("title")?,
        need("category")?,
        interests.as_ref(),
        get("excluded_categories")?.as_ref(),
        text("creative_url")?,
        text("landing_url")?,
        get("start")?.as_ref(),
        get("end")?.as_ref(),
        count("cap_per_day")?,
        count("cap_lifetime")?,
        text("status")?.as_deref().unwrap_or("active"),
    )
}

/// What `Engine.add_ads` was given: a file, or ads (dicts or `Ad`s), checked here.
pub(crate) enum AdsSource {
    Path(std::path::PathBuf),
    Ads(Vec<core::ads::Ad>),
}

pub(crate) fn ads_from_py(ads: &Bound<'_, PyAny>) -> PyResult<AdsSource> {
    if let Ok(path) = ads.extract::<std::path::PathBuf>() {
        return Ok(AdsSource::Path(path));
    }
    if ads.is_instance_of::<PyDict>() || ads.cast::<PyAd>().is_ok() {
        return Err(invalid(
            "add_ads takes a list of ads (dicts or Ad) or a path".into(),
        ));
    }
    let mut out = Vec::new();
    for (i, item) in ads.try_iter()?.enumerate() {
        let item = item?;
        let ad = if let Ok(ad) = item.cast::<PyAd>() {
            ad.get().inner.clone()
        } else if let Ok(d) = item.cast::<PyDict>() {
            ad_from_dict(&format!("ads[{i}]"), d)?
        } else {
            return Err(invalid(format!(
                "ads[{i}]: an ad must be a dict or an Ad, not {}",
                item.get_type().name()?
            )));
        };
        out.push(ad);
    }
    Ok(AdsSource::Ads(out))
}

#[pymethods]
impl PyAd {
    #[new]
    #[pyo3(signature = (id, advertiser, title, category, *, interests=None, excluded_categories=None, creative_url=None, landing_url=None, start=None, end=None, cap_per_day=None, cap_lifetime=None, status="active"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: String,
        advertiser: String,
        title: String,
        category: String,
        interests: Option<Bound<'_, PyAny>>,
        excluded_categories: Option<Bound<'_, PyAny>>,
        creative_url: Option<String>,
        landing_url: Option<String>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        #[pyo3(from_py_with = count32)] cap_per_day: Option<u32>,
        #[pyo3(from_py_with = count32)] cap_lifetime: Option<u32>,
        status: &str,
    ) -> PyResult<Self> {
        crate::guard(|| {
            Ok(Self {
                inner: build_ad(
                    "Ad",
                    id,
                    advertiser,
                    title,
                    category,
                    interests.as_ref(),
                    excluded_categories.as_ref(),
                    creative_url,
                    landing_url,
                    start.as_ref(),
                    end.as_ref(),
                    cap_per_day,
                    cap_lifetime,
                    status,
                )?,
            })
        })
    }

    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }

    #[getter]
    fn advertiser(&self) -> &str {
        &self.inner.advertiser
    }

    #[getter]
    fn title(&self) -> &str {
        &self.inner.title
    }

    #[getter]
    fn category(&self) -> &str {
        &self.inner.category
    }

    #[getter]
    fn interests(&self) -> Vec<String> {
        self.inner.interests.clone()
    }

    #[getter]
    fn excluded_categories(&self) -> Vec<String> {
        self.inner.excluded_categories.clone()
    }

    #[getter]
    fn creative_url(&self) -> Option<&str> {
        self.inner.creative_url.as_deref()
    }

    #[getter]
    fn landing_url(&self) -> Option<&str> {
        self.inner.landing_url.as_deref()
    }

    #[getter]
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        crate::guard(|| self.inner.start.map(|t| to_datetime(py, t)).transpose())
    }

    #[getter]
    fn end<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        crate::guard(|| self.inner.end.map(|t| to_datetime(py, t)).transpose())
    }

    #[getter]
    fn cap_per_day(&self) -> Option<u32> {
        self.inner.frequency_cap.and_then(|c| c.per_day)
    }

    #[getter]
    fn cap_lifetime(&self) -> Option<u32> {
        self.inner.frequency_cap.and_then(|c| c.lifetime)
    }

    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status.as_str()
    }

    /// The ad as a dict with the constructor's keys (what `add_ads` takes back).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::guard(|| {
            let d = PyDict::new(py);
            d.set_item("id", self.id())?;
            d.set_item("advertiser", self.advertiser())?;
            d.set_item("title", self.title())?;
            d.set_item("category", self.category())?;
            d.set_item("interests", self.interests())?;
            d.set_item("excluded_categories", self.excluded_categories())?;
            d.set_item("creative_url", self.creative_url())?;
            d.set_item("landing_url", self.landing_url())?;
            d.set_item("start", self.start(py)?)?;
            d.set_item("end", self.end(py)?)?;
            d.set_item("cap_per_day", self.cap_per_day())?;
            d.set_item("cap_lifetime", self.cap_lifetime())?;
            d.set_item("status", self.status())?;
            Ok(d)
        })
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyAd>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "Ad(id={:?}, title={:?}, category={:?}, interests={:?}, status={:?})",
            self.inner.id,
            self.inner.title,
            self.inner.category,
            self.inner.interests,
            self.inner.status.as_str()
        )
    }
}

/// One interest of the user that matched one targeting term of an ad: `interest` (the
/// user's), `ad_term` (the ad's), `kind` ("exact", "lemma", "compound" or "semantic"),
/// `strength` (0..1, 1 for exact) and `weight` (the interest's share of the profile).
#[pyclass(module = "sociallens", frozen, get_all)]
pub(crate) struct MatchedInterest {
    interest: String,
    ad_term: String,
    kind: &'static str,
    strength: f64,
    weight: f64,
}

#[pymethods]
impl MatchedInterest {
    fn __repr__(&self) -> String {
        format!(
            "MatchedInterest(interest={:?}, ad_term={:?}, kind={:?}, strength={:.3}, weight={:.3})",
            self.interest, self.ad_term, self.kind, self.strength, self.weight
        )
    }
}

/// An ad chosen for a user, with why: `score` = `interest_score` · interest_weight +
/// `lookalike_score` · lookalike_weight; `matched` lists the user's interests that matched
/// the targeting (strongest first); `similar_users_engaged` counts the user's similar users
/// who clicked it; `neighbours_computed_at` is when those similar users were computed (a
/// UTC datetime with `serving="stateless"`, None with the in-memory index, where they are
/// live).
#[pyclass(module = "sociallens", frozen, get_all)]
pub(crate) struct AdMatch {
    ad: Py<PyAd>,
    score: f64,
    interest_score: f64,
    lookalike_score: f64,
    matched: Vec<Py<MatchedInterest>>,
    similar_users_engaged: usize,
    neighbours_computed_at: Option<Py<PyAny>>,
}

#[pymethods]
impl AdMatch {
    fn __repr__(&self, py: Python<'_>) -> String {
        let matched: Vec<String> = self
            .matched
            .iter()
            .map(|m| m.get().interest.clone())
            .collect();
        format!(
            "AdMatch(ad={:?}, score={:.3}, matched={:?}, similar_users_engaged={})",
            self.ad.bind(py).get().inner.id,
            self.score,
            matched,
            self.similar_users_engaged
        )
    }
}

impl AdMatch {
    pub(crate) fn from_core(py: Python<'_>, m: core::ads::AdMatch) -> PyResult<Self> {
        Ok(Self {
            ad: Py::new(py, PyAd { inner: m.ad })?,
            score: m.score,
            interest_score: m.interest_score,
            lookalike_score: m.lookalike_score,
            matched: m
                .matched
                .into_iter()
                .map(|i| {
                    Py::new(
                        py,
                        MatchedInterest {
                            interest: i.interest,
                            ad_term: i.ad_term,
                            kind: i.kind.as_str(),
                            strength: i.strength,
                            weight: i.weight,
                        },
                    )
                })
                .collect::<PyResult<_>>()?,
            similar_users_engaged: m.similar_users_engaged,
            neighbours_computed_at: m
                .neighbours_computed_at
                .map(|t| crate::to_datetime(py, t).map(Bound::unbind))
                .transpose()?,
        })
    }
}

/// Another user whose interests resemble the user's: `score` (cosine, 0..1), `shared`
/// (the interests both have, largest contribution first, at most 5) and `computed_at`
/// (when: a UTC datetime with `serving="stateless"`, None with the in-memory index).
#[pyclass(module = "sociallens", frozen, get_all)]
pub(crate) struct SimilarUser {
    user: String,
    score: f64,
    shared: Vec<String>,
    computed_at: Option<Py<PyAny>>,
}

#[pymethods]
impl SimilarUser {
    fn __repr__(&self) -> String {
        format!(
            "SimilarUser(user={:?}, score={:.3}, shared={:?})",
            self.user, self.score, self.shared
        )
    }
}

impl SimilarUser {
    pub(crate) fn from_core(py: Python<'_>, s: core::ads::SimilarUser) -> PyResult<Self> {
        Ok(Self {
            user: s.user.to_string(),
            score: s.score,
            shared: s.shared,
            computed_at: s
                .computed_at
                .map(|t| crate::to_datetime(py, t).map(Bound::unbind))
                .transpose()?,
        })
    }
}

/// One user of an audience: `score` (0..1, fit to the query) and `matched` (the user's
/// interests that put them in it, at most 5).
#[pyclass(module = "sociallens", frozen, get_all)]
pub(crate) struct AudienceMember {
    user: String,
    score: f64,
    matched: Vec<String>,
}

#[pymethods]
impl AudienceMember {
    fn __repr__(&self) -> String {
        format!(
            "AudienceMember(user={:?}, score={:.3}, matched={:?})",
            self.user, self.score, self.matched
        )
    }
}

impl From<core::ads::AudienceMember> for AudienceMember {
    fn from(m: core::ads::AudienceMember) -> Self {
        Self {
            user: m.user.to_string(),
            score: m.score,
            matched: m.matched,
        }
    }
}

/// The audience asked for: exactly one of `interests` and `ad`.
pub(crate) fn audience_query(
    interests: Option<Vec<String>>,
    ad: Option<String>,
) -> PyResult<core::ads::AudienceQuery> {
    match (interests, ad) {
        (Some(t), None) => Ok(core::ads::AudienceQuery::Interests(t)),
        (None, Some(a)) => Ok(core::ads::AudienceQuery::Ad(a)),
        _ => Err(invalid(
            "give exactly one of interests=[...] and ad=\"ad-id\"".into(),
        )),
    }
}

/// What the in-memory ads index holds after `refresh_index`: `users` with interests, `ads`
/// (any status) and distinct `terms`.
#[pyclass(module = "sociallens", frozen, get_all)]
pub(crate) struct IndexStats {
    users: usize,
    ads: usize,
    terms: usize,
}

#[pymethods]
impl IndexStats {
    fn __repr__(&self) -> String {
        format!(
            "IndexStats(users={}, ads={}, terms={})",
            self.users, self.ads, self.terms
        )
    }
}

/// What `Engine.build_neighbours` wrote: `users` (lists written), `neighbours` (entries,
/// over all lists) and `computed_at` (the UTC datetime every list was stamped with).
#[pyclass(module = "sociallens", frozen, get_all)]
pub(crate) struct NeighbourStats {
    users: usize,
    neighbours: usize,
    computed_at: Py<PyAny>,
}

#[pymethods]
impl NeighbourStats {
    fn __repr__(&self) -> String {
        format!(
            "NeighbourStats(users={}, neighbours={})",
            self.users, self.neighbours
        )
    }
}

impl NeighbourStats {
    pub(crate) fn from_core(py: Python<'_>, s: core::NeighbourStats) -> PyResult<Self> {
        Ok(Self {
            users: s.users,
            neighbours: s.neighbours,
            computed_at: crate::to_datetime(py, s.computed_at)?.unbind(),
        })
    }
}

impl From<core::IndexStats> for IndexStats {
    fn from(s: core::IndexStats) -> Self {
        Self {
            users: s.users,
            ads: s.ads,
            terms: s.terms,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reports

/// The query of `Engine.click_report`: `group_by` is one dimension name or a sequence of
/// them; `start`/`end` bound the events (`start <= at < end`).
pub(crate) fn report_query(
    group_by: Option<&Bound<'_, PyAny>>,
    start: Option<&Bound<'_, PyAny>>,
    end: Option<&Bound<'_, PyAny>>,
    time_zone: &str,
) -> PyResult<core::analytics::ReportQuery> {
    let names: Vec<String> = match group_by.filter(|g| !g.is_none()) {
        None => Vec::new(),
        Some(g) if g.is_instance_of::<PyString>() => vec![g.extract()?],
        Some(g) => g.extract().map_err(|_| {
            invalid("group_by must be a dimension name or a sequence of them".into())
        })?,
    };
    let mut group_by = Vec::with_capacity(names.len());
    for n in &names {
        let d = Dimension::parse(n).map_err(to_py_err)?;
        if group_by.contains(&d) {
            return Err(invalid(format!("group_by names {} twice", d.as_str())));
        }
        group_by.push(d);
    }
    Ok(core::analytics::ReportQuery {
        group_by,
        from: from_time(start)?,
        to: from_time(end)?,
        time_zone: time_zone.to_string(),
    })
}

fn iso_date<'py>(py: Python<'py>, s: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("datetime")?
        .getattr("date")?
        .call_method1("fromisoformat", (s,))
}

/// One group of a report. Only the dimensions the report was grouped by are set (others
/// are None): `category`, `ad`, `hour` (0–23), `day_of_week` (0 Monday – 6 Sunday), `date`
/// (a `datetime.date`), all in the report's time zone; then `impressions`, `clicks` and
/// `ctr` (clicks / impressions, None without impressions).
#[pyclass(module = "sociallens", frozen, get_all)]
pub(crate) struct ReportRow {
    category: Option<String>,
    ad: Option<String>,
    hour: Option<u8>,
    day_of_week: Option<u8>,
    date: Option<Py<PyAny>>,
    impressions: u64,
    clicks: u64,
    ctr: Option<f64>,
}

#[pymethods]
impl ReportRow {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        crate::guard(|| {
            let mut parts = Vec::new();
            if let Some(c) = &self.category {
                parts.push(format!("category={c:?}"));
            }
            if let Some(a) = &self.ad {
                parts.push(format!("ad={a:?}"));
            }
            if let Some(h) = self.hour {
                parts.push(format!("hour={h}"));
            }
            if let Some(d) = self.day_of_week {
                parts.push(format!("day_of_week={d}"));
            }
            if let Some(d) = &self.date {
                parts.push(format!("date={}", d.bind(py).str()?));
            }
            parts.push(format!("impressions={}", self.impressions));
            parts.push(format!("clicks={}", self.clicks));
            if let Some(c) = self.ctr {
                parts.push(format!("ctr={c:.4}"));
            }
            Ok(format!("ReportRow({})", parts.join(", ")))
        })
    }
}

/// A click report: `rows` (one per group with events, sorted by the dimensions), totals
/// `impressions`, `clicks` and `ctr`, and what it covers (`group_by`, `time_zone`, `start`,
/// `end`). `to_dicts()`, `to_csv()` and `to_pandas()` export it with the columns
/// `group_by..., impressions, clicks, ctr`; `sociallens.plots` draws it.
#[pyclass(module = "sociallens", frozen)]
pub(crate) struct Report {
    inner: core::analytics::Report,
}

impl From<core::analytics::Report> for Report {
    fn from(inner: core::analytics::Report) -> Self {
        Self { inner }
    }
}

impl Report {
    fn columns(&self) -> Vec<&'static str> {
        let mut cols: Vec<&'static str> = self
            .inner
            .query
            .group_by
            .iter()
            .map(|d| d.as_str())
            .collect();
        cols.extend(["impressions", "clicks", "ctr"]);
        cols
    }
}

#[pymethods]
impl Report {
    #[getter]
    fn rows(&self, py: Python<'_>) -> PyResult<Vec<ReportRow>> {
        crate::guard(|| {
            self.inner
                .rows
                .iter()
                .map(|r| {
                    Ok(ReportRow {
                        category: r.category.clone(),
                        ad: r.ad.clone(),
                        hour: r.hour,
                        day_of_week: r.day_of_week,
                        date: r
                            .date
                            .as_deref()
                            .map(|d| iso_date(py, d).map(Bound::unbind))
                            .transpose()?,
                        impressions: r.impressions,
                        clicks: r.clicks,
                        ctr: r.ctr(),
                    })
                })
                .collect()
        })
    }

    #[getter]
    fn impressions(&self) -> u64 {
        self.inner.impressions
    }

    #[getter]
    fn clicks(&self) -> u64 {
        self.inner.clicks
    }

    /// Overall click-through rate (None without impressions).
    #[getter]
    fn ctr(&self) -> Option<f64> {
        self.inner.ctr()
    }

    /// The dimensions, in column order.
    #[getter]
    fn group_by<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        crate::guard(|| PyTuple::new(py, self.inner.query.group_by.iter().map(|d| d.as_str())))
    }

    #[getter]
    fn time_zone(&self) -> &str {
        &self.inner.query.time_zone
    }

    #[getter]
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        crate::guard(|| {
            self.inner
                .query
                .from
                .map(|t| to_datetime(py, t))
                .transpose()
        })
    }

    #[getter]
    fn end<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        crate::guard(|| self.inner.query.to.map(|t| to_datetime(py, t)).transpose())
    }

    /// One dict per row: the `group_by` dimensions, then impressions, clicks, ctr.
    fn to_dicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        crate::guard(|| {
            let out = PyList::empty(py);
            for row in self.rows(py)? {
                let d = PyDict::new(py);
                for dim in &self.inner.query.group_by {
                    let v: Bound<'py, PyAny> = match dim {
                        Dimension::Category => row.category.clone().into_pyobject(py)?.into_any(),
                        Dimension::Ad => row.ad.clone().into_pyobject(py)?.into_any(),
                        Dimension::Hour => row.hour.into_pyobject(py)?.into_any(),
                        Dimension::DayOfWeek => row.day_of_week.into_pyobject(py)?.into_any(),
                        Dimension::Date => match &row.date {
                            Some(d) => d.bind(py).clone(),
                            None => py.None().into_bound(py),
                        },
                    };
                    d.set_item(dim.as_str(), v)?;
                }
                d.set_item("impressions", row.impressions)?;
                d.set_item("clicks", row.clicks)?;
                d.set_item("ctr", row.ctr)?;
                out.append(d)?;
            }
            Ok(out)
        })
    }

    /// The report as CSV text with a header row (ctr with 6 decimals, empty without
    /// impressions).
    fn to_csv(&self) -> PyResult<String> {
        crate::guard(|| Ok(self.inner.to_csv()))
    }

    /// The report as a pandas DataFrame (columns: the `group_by` dimensions, then
    /// impressions, clicks, ctr). Needs pandas: `pip install 'sociallens[plots]'`.
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::guard(|| {
            let pandas = py.import("pandas").map_err(|e| {
                PyImportError::new_err(format!(
                "Report.to_pandas() needs pandas: pip install 'sociallens[plots]' (or pandas) ({e})"
            ))
            })?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("columns", self.columns())?;
            let df = pandas
                .getattr("DataFrame")?
                .call((self.to_dicts(py)?,), Some(&kwargs))?;
            // Counts stay integers even for an empty report; ctr is a float with NaN for None.
            let dtypes = PyDict::new(py);
            dtypes.set_item("impressions", "int64")?;
            dtypes.set_item("clicks", "int64")?;
            dtypes.set_item("ctr", "float64")?;
            df.call_method1("astype", (dtypes,))
        })
    }

    fn __len__(&self) -> usize {
        self.inner.rows.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Report(group_by={:?}, rows={}, impressions={}, clicks={}, ctr={}, time_zone={:?})",
            self.inner
                .query
                .group_by
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>(),
            self.inner.rows.len(),
            self.inner.impressions,
            self.inner.clicks,
            self.inner
                .ctr()
                .map(|c| format!("{c:.4}"))
                .unwrap_or_else(|| "None".into()),
            self.inner.query.time_zone
        )
    }
}
