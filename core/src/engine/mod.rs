//! The façade most users touch: [`Engine`] wires captioning, interest extraction, the
//! profile arithmetic and the store together.

mod ads;
mod export;

pub use ads::{IndexStats, NeighbourStats, Serving};

use crate::ads::AdsConfig;
use crate::caption::{image_sha256, Captioner};
use crate::domain::{Event, EventKind, Interest, InterestProfile, Post, TermDelta};
use crate::error::{Error, Result};
use crate::ids::{EventId, PostId, UserId};
use crate::interests::{
    normalize_extracted, normalize_terms, InterestExtractor, NounExtractor, INLINE_EXTRACT_BYTES,
    MAX_CAPTION_BYTES, MAX_INTERESTS_PER_POST,
};
use crate::profile::{self, Decay, SignalWeights};
use crate::recommend::{
    ground, product_ideas, rank, CachingLlm, CatalogItem, Embedder, Llm, Recommendation, Semantic,
};
use crate::store::{
    open_store, CachedCaption, EventStatus, ForgetReport, ItemKind, PostRecord, Store,
};
use crate::time::{Clock, SystemClock, Timestamp};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OnceCell};

/// The largest signal weight [`EngineBuilder::build`] accepts.
pub const MAX_SIGNAL_WEIGHT: f64 = 1e6;

/// The longest LLM cache TTL [`EngineBuilder::build`] accepts: 100 years.
pub const MAX_LLM_CACHE_TTL: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Most LLM product ideas one [`Engine::recommend_products`] call asks for.
const MAX_LLM_IDEAS: usize = 50;

/// Optional details of an event: its id (for idempotent retries) and its time (for backfills).
///
/// ```
/// use sociallens::{EventOptions, Timestamp};
/// let opts = EventOptions::id("like-991").at(Timestamp::from_millis(1_700_000_000_000));
/// assert_eq!(opts.id.as_deref(), Some("like-991"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventOptions {
    /// The event's id; a replay with the same id changes nothing. Generated when absent.
    pub id: Option<String>,
    /// When the event happened; the engine's clock when absent.
    pub at: Option<Timestamp>,
}

impl EventOptions {
    /// Options with an event id.
    pub fn id(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            at: None,
        }
    }

    /// Sets the event's time.
    pub fn at(mut self, at: Timestamp) -> Self {
        self.at = Some(at);
        self
    }
}

/// What recording an event did.
#[derive(Clone, Debug, PartialEq)]
pub struct EventOutcome {
    /// The event's id (generated if the caller gave none).
    pub event_id: EventId,
    /// Applied, or why nothing changed.
    pub status: EventStatus,
    /// The post's caption, when it has one.
    pub caption: Option<String>,
    /// The post's interests.
    pub interests: Vec<String>,
    /// What changed in the user's profile, term by term (negative for an unlike).
    pub deltas: Vec<TermDelta>,
}

struct Inner {
    store: Arc<dyn Store>,
    captioner: Option<Arc<dyn Captioner>>,
    extractor: Option<Arc<dyn InterestExtractor>>,
    embedder: Option<Arc<dyn Embedder>>,
    llm: Option<Arc<dyn Llm>>,
    /// How long LLM answers stay cached (zero: not cached), each under its user.
    llm_cache_ttl: Duration,
    /// Embeddings by model and text hash, in front of the store's cache.
    vectors: std::sync::Mutex<HashMap<String, Arc<Vec<f32>>>>,
    weights: SignalWeights,
    decay: Decay,
    clock: Arc<dyn Clock>,
    /// How far past the clock an event's time may lie.
    max_clock_skew: Duration,
    /// Captions being computed, by image hash: concurrent likes of one new image share one
    /// model call.
    inflight: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
    ads_config: AdsConfig,
    ads: ads::AdsState,
    serving: Serving,
}

/// Turns likes and uploads into interest profiles, through a [`Store`].
///
/// Cheap to clone; clones share everything.
///
/// A post's interests come, in order of preference, from the post itself
/// ([`Post::with_interests`]), from the store (a post seen before), or from the
/// [`InterestExtractor`] (by default [`NounExtractor::default`]) applied to the caption
/// (given, stored, or made by the configured [`Captioner`] from the image). With none of
/// these the engine returns [`Error::Config`] or [`Error::InvalidInput`] instead of guessing.
///
/// ```
/// use sociallens::{Engine, Post};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let engine = Engine::builder()
///     .store_url(&format!("sqlite://{}/sociallens.db", dir.path().display()))
///     .build()?;
/// engine
///     .record_like("user-42", Post::new("post-7").with_interests(["giraffe", "zoo"]))
///     .await?;
/// engine
///     .record_upload("user-42", Post::new("post-8").with_interests(["giraffe"]))
///     .await?;
/// let top = engine.interests("user-42", 10).await?;
/// assert_eq!(top[0].term, "giraffe");
/// assert_eq!(top[0].count, 2);
/// engine.forget_user("user-42").await?;
/// assert!(engine.interests("user-42", 10).await?.is_empty());
/// # Ok::<(), sociallens::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.inner.store)
            .field(
                "captioner",
                &self.inner.captioner.as_ref().map(|c| c.model_id()),
            )
            .field("extractor", &self.inner.extractor.is_some())
            .field("weights", &self.inner.weights)
            .field("decay", &self.inner.decay)
            .finish()
    }
}

/// Builds an [`Engine`]. A store is required; everything else has a default.
#[derive(Default)]
pub struct EngineBuilder {
    store: Option<Arc<dyn Store>>,
    store_url: Option<String>,
    captioner: Option<Arc<dyn Captioner>>,
    extractor: Option<Arc<dyn InterestExtractor>>,
    embedder: Option<Arc<dyn Embedder>>,
    llm: Option<Arc<dyn Llm>>,
    llm_cache_ttl: Option<Duration>,
    no_extractor: bool,
    weights: SignalWeights,
    decay: Option<Decay>,
    ads_config: Option<AdsConfig>,
    clock: Option<Arc<dyn Clock>>,
    max_clock_skew: Option<Duration>,
    serving: Option<Serving>,
}

impl EngineBuilder {
    /// How far past the engine's clock an event's time may lie by default: one day.
    pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(24 * 3600);

    /// The store to use.
    pub fn store(mut self, store: impl Store + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// A store shared with other code.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// A store opened by URL at [`build`](Self::build) (see [`open_store`]).
    pub fn store_url(mut self, url: &str) -> Self {
        self.store_url = Some(url.to_string());
        self
    }

    /// The captioner for posts that come with an image and no caption.
    pub fn captioner(mut self, captioner: impl Captioner + 'static) -> Self {
        self.captioner = Some(Arc::new(captioner));
        self
    }

    /// A captioner shared with other code.
    pub fn shared_captioner(mut self, captioner: Arc<dyn Captioner>) -> Self {
        self.captioner = Some(captioner);
        self
    }

    /// The extractor for posts that come with a caption and no interests.
    pub fn extractor(mut self, extractor: impl InterestExtractor + 'static) -> Self {
        self.extractor = Some(Arc::new(extractor));
        self
    }

    /// A shared extractor.
    pub fn shared_extractor(mut self, extractor: Arc<dyn InterestExtractor>) -> Self {
        self.extractor = Some(extractor);
        self
    }

    /// No extractor: every post must come with its interests (or be known to the store).
    /// Without this, captions are read by [`NounExtractor::default`].
    pub fn no_extractor(mut self) -> Self {
        self.no_extractor = true;
        self.extractor = None;
        self
    }

    /// The sentence-embedding model for semantic matching of interests and products.
    pub fn embedder(mut self, embedder: impl Embedder + 'static) -> Self {
        self.embedder = Some(Arc::new(embedder));
        self
    }

    /// A shared embedder.
    pub fn shared_embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    /// A language model for product ideas (grounded in the catalog). Its answers are cached
    /// in the store for a day unless [`llm_cache_ttl`](Self::llm_cache_ttl) says otherwise.
    pub fn llm(mut self, llm: impl Llm + 'static) -> Self {
        self.llm = Some(Arc::new(llm));
        self
    }

    /// A shared language model.
    pub fn shared_llm(mut self, llm: Arc<dyn Llm>) -> Self {
        self.llm = Some(llm);
        self
    }

    /// How long LLM answers stay cached (zero: not cached).
    pub fn llm_cache_ttl(mut self, ttl: Duration) -> Self {
        self.llm_cache_ttl = Some(ttl);
        self
    }

    /// Weights of likes, uploads, clicks and impressions.
    pub fn signal_weights(mut self, weights: SignalWeights) -> Self {
        self.weights = weights;
        self
    }

    /// How fast interests fade (default: [`Decay::default`], a 30-day half-life).
    pub fn decay(mut self, decay: Decay) -> Self {
        self.decay = Some(decay);
        self
    }

    /// Tunes ad selection, lookalikes and the minimum audience size (see [`AdsConfig`]).
    pub fn ads_config(mut self, config: AdsConfig) -> Self {
        self.ads_config = Some(config);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How far past the engine's clock an event's time ([`EventOptions::at`]) may lie
    /// (default [`DEFAULT_MAX_CLOCK_SKEW`](Self::DEFAULT_MAX_CLOCK_SKEW), one day), for
    /// callers whose clocks run a little ahead. Times before 1970 or later than now plus
    /// this are rejected with [`Error::InvalidInput`]; backfills of the past are always
    /// allowed. A time far ahead would hold its interests undecayed until the clock caught
    /// up, and shrink every real signal before then to almost nothing.
    ///
    /// ```
    /// use sociallens::{Engine, EventOptions, Post};
    /// use std::time::Duration;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let engine = Engine::builder()
    ///     .store_url("memory://")
    ///     .max_clock_skew(Duration::from_secs(60))
    ///     .build()?;
    /// let soon = engine.now().plus(Duration::from_secs(30));
    /// let later = engine.now().plus(Duration::from_secs(3600));
    /// let post = || Post::new("p1").with_interests(["surf"]);
    /// assert!(engine.record_like_with("u1", post(), EventOptions::default().at(later)).await.is_err());
    /// engine.record_like_with("u1", post(), EventOptions::default().at(soon)).await?;
    /// # Ok::<(), sociallens::Error>(()) }).unwrap();
    /// ```
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = Some(skew);
        self
    }

    /// How `ads_for`, `similar_users` and audiences are served (default
    /// [`Serving::InMemoryIndex`]); [`Serving::stateless`] for many processes or Lambda
    /// over one store, with neighbours precomputed by
    /// [`Engine::build_neighbours`] or a batch job (see `docs/scaling.md`).
    ///
    /// ```
    /// use sociallens::{Engine, Serving};
    /// let engine = Engine::builder().store_url("memory://").serving(Serving::stateless()).build()?;
    /// assert!(engine.serving().is_stateless());
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    pub fn serving(mut self, serving: Serving) -> Self {
        self.serving = Some(serving);
        self
    }

    /// Checks the configuration and builds the engine.
    pub fn build(self) -> Result<Engine> {
        self.weights.validate()?;
        for (name, w) in [
            ("like", self.weights.like),
            ("upload", self.weights.upload),
            ("click", self.weights.click),
            ("impression", self.weights.impression),
        ] {
            // Weights add up in stored sums for years: a huge one overflows them to infinity.
            if w > MAX_SIGNAL_WEIGHT {
                return Err(Error::invalid(format!(
                    "{name} weight must be at most {MAX_SIGNAL_WEIGHT}, got {w}"
                )));
            }
        }
        if let Some(ttl) = self.llm_cache_ttl {
            if ttl > MAX_LLM_CACHE_TTL {
                return Err(Error::invalid(format!(
                    "llm_cache_ttl must be at most {} s (100 years), got {} s",
                    MAX_LLM_CACHE_TTL.as_secs(),
                    ttl.as_secs_f64()
                )));
            }
        }
        let ads_config = self.ads_config.unwrap_or_default();
        ads_config.validate()?;
        let serving = self.serving.unwrap_or_default();
        let store = match (self.store, self.store_url) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "give either a store or a store URL, not both".into(),
                ))
            }
            (Some(s), None) => s,
            (None, Some(url)) => open_store(&url)?,
            (None, None) => {
                return Err(Error::Config(
                    "an engine needs a store: .store(SqliteStore::open(path)?) or .store_url(\"sqlite:///path.db\")"
                        .into(),
                ))
            }
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                embedder: self.embedder,
                llm: self.llm,
                llm_cache_ttl: self.llm_cache_ttl.unwrap_or(Duration::from_secs(24 * 3600)),
                vectors: std::sync::Mutex::new(HashMap::new()),
                store,
                captioner: self.captioner,
                extractor: match (self.extractor, self.no_extractor) {
                    (Some(e), _) => Some(e),
                    (None, true) => None,
                    (None, false) => Some(Arc::new(NounExtractor::default())),
                },
                weights: self.weights,
                decay: self.decay.unwrap_or_default(),
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                max_clock_skew: self
                    .max_clock_skew
                    .unwrap_or(EngineBuilder::DEFAULT_MAX_CLOCK_SKEW),
                inflight: Mutex::new(HashMap::new()),
                ads_config,
                ads: ads::AdsState::default(),
                serving,
            }),
        })
    }
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// How this engine serves ads, similar users and audiences.
    pub fn serving(&self) -> Serving {
        self.inner.serving
    }

    /// The store this engine writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The current time by the engine's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Records that `user` liked `post`: its interests gain the like weight.
    /// Liking a post the user already likes changes nothing.
    pub async fn record_like(&self, user: &str, post: Post) -> Result<EventOutcome> {
        self.record_like_with(user, post, EventOptions::default())
            .await
    }

    /// [`record_like`](Self::record_like) with an event id and/or time.
    pub async fn record_like_with(
        &self,
        user: &str,
        post: Post,
        opts: EventOptions,
    ) -> Result<EventOutcome> {
        self.record_post_signal(EventKind::Like, user, post, opts)
            .await
    }

    /// Records that `user` uploaded `post` (the user becomes its author): its interests gain
    /// the upload weight.
    pub async fn record_upload(&self, user: &str, post: Post) -> Result<EventOutcome> {
        self.record_upload_with(user, post, EventOptions::default())
            .await
    }

    /// [`record_upload`](Self::record_upload) with an event id and/or time.
    pub async fn record_upload_with(
        &self,
        user: &str,
        mut post: Post,
        opts: EventOptions,
    ) -> Result<EventOutcome> {
        match &post.author {
            Some(a) if a != user => {
                return Err(Error::invalid(format!(
                    "post {} is by {a}, but {user} uploaded it",
                    post.id
                )))
            }
            _ => post.author = Some(user.to_string()),
        }
        self.record_post_signal(EventKind::Upload, user, post, opts)
            .await
    }

    /// Takes back `user`'s like of `post_id`, removing exactly the weight that like added
    /// (as decayed since). Unliking a post the user does not like changes nothing.
    pub async fn unlike(&self, user: &str, post_id: &str) -> Result<EventOutcome> {
        self.unlike_with(user, post_id, EventOptions::default())
            .await
    }

    /// [`unlike`](Self::unlike) with an event id and/or time.
    pub async fn unlike_with(
        &self,
        user: &str,
        post_id: &str,
        opts: EventOptions,
    ) -> Result<EventOutcome> {
        let user = UserId::new(user)?;
        let post = PostId::new(post_id)?;
        let event = self.event(
            EventKind::Unlike,
            user,
            Some(post.clone()),
            Vec::new(),
            &opts,
        )?;
        let stored = self.inner.store.post(&post).await?;
        let recorded = self
            .inner
            .store
            .record_event(event.clone(), self.inner.decay)
            .await?;
        if recorded.status == EventStatus::Applied {
            self.profile_changed(&event.user).await;
        }
        Ok(EventOutcome {
            event_id: event.id,
            status: recorded.status,
            caption: stored.as_ref().and_then(|p| p.caption.clone()),
            interests: stored.and_then(|p| p.interests).unwrap_or_default(),
            deltas: recorded.deltas,
        })
    }

    /// The user's `k` strongest interests, decayed to now.
    pub async fn interests(&self, user: &str, k: usize) -> Result<Vec<Interest>> {
        let user = UserId::new(user)?;
        let records = self.inner.store.interests(&user).await?;
        Ok(profile::top_k(&records, k, self.now(), self.inner.decay))
    }

    /// The user's whole profile, decayed to now.
    pub async fn profile(&self, user: &str) -> Result<InterestProfile> {
        let user = UserId::new(user)?;
        let records = self.inner.store.interests(&user).await?;
        let now = self.now();
        let interests = records
            .iter()
            .map(|r| r.to_interest(now, self.inner.decay))
            .collect();
        Ok(InterestProfile::new(user, now, interests))
    }

    /// A stored post.
    pub async fn post(&self, post_id: &str) -> Result<Option<PostRecord>> {
        self.inner.store.post(&PostId::new(post_id)?).await
    }

    /// Erases every record of the user (see [`Store::forget_user`]).
    pub async fn forget_user(&self, user: &str) -> Result<ForgetReport> {
        let user = UserId::new(user)?;
        // Held from the store write on: see `user_forgotten`.
        let _order = self.lock_user(&user).await;
        let report = self.inner.store.forget_user(&user).await?;
        self.user_forgotten(&user);
        Ok(report)
    }

    /// Adds (or replaces) products of the catalog. Every item is checked before anything is
    /// written: one bad item rejects the batch and changes nothing. With an embedder, the
    /// items' embeddings are computed now and cached.
    pub async fn add_products(&self, items: Vec<CatalogItem>) -> Result<usize> {
        let now = self.now();
        let items: Vec<CatalogItem> = items
            .into_iter()
            .map(CatalogItem::validate)
            .collect::<Result<_>>()?;
        let records = items
            .iter()
            .map(|i| i.to_record(now))
            .collect::<Result<Vec<_>>>()?;
        self.inner.store.put_items(&records).await?;
        if self.inner.embedder.is_some() {
            let texts: Vec<String> = items.iter().map(CatalogItem::embedding_text).collect();
            self.vectors_for(&texts).await?;
        }
        Ok(items.len())
    }

    /// Adds products from a `.jsonl`/`.ndjson` or `.csv` file (see [`CatalogItem::from_path`]).
    pub async fn add_products_from_path(&self, path: impl AsRef<std::path::Path>) -> Result<usize> {
        let path = path.as_ref().to_path_buf();
        let items = tokio::task::spawn_blocking(move || CatalogItem::from_path(path)).await??;
        self.add_products(items).await
    }

    /// Every product of the catalog, by id.
    pub async fn products(&self) -> Result<Vec<CatalogItem>> {
        self.inner
            .store
            .items(ItemKind::Product)
            .await?
            .iter()
            .map(CatalogItem::from_record)
            .collect()
    }

    /// Removes a product; `false` if there was none.
    pub async fn remove_product(&self, id: &str) -> Result<bool> {
        self.inner.store.remove_item(ItemKind::Product, id).await
    }

    /// Up to `k` products for the user, best first, each with its score and the interests
    /// it matched.
    ///
    /// Offline (no LLM): catalog items ranked by the user's decayed interest weights times
    /// how well each interest matches the item (keywords, category, title, description and,
    /// with an embedder, semantic similarity), diversified across categories. With an LLM:
    /// its product ideas, each grounded to the closest catalog item (an idea no item is close
    /// to is returned with `in_catalog: false`), then catalog items to fill up to `k`.
    ///
    /// A user with no interests yet gets an empty list (nothing is known to go on).
    pub async fn recommend_products(&self, user: &str, k: usize) -> Result<Vec<Recommendation>> {
        let interests = self.interests(user, 20).await?;
        if interests.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let items = self.products().await?;
        // No more than exist: the catalog's items plus the ideas an LLM is asked for.
        let ideas_k = if self.inner.llm.is_some() {
            k.min(MAX_LLM_IDEAS)
        } else {
            0
        };
        let k = k.min(items.len().saturating_add(ideas_k));
        if k == 0 {
            return Ok(Vec::new());
        }
        let item_vectors = match self.inner.embedder {
            Some(_) => Some(
                self.vectors_for(
                    &items
                        .iter()
                        .map(CatalogItem::embedding_text)
                        .collect::<Vec<_>>(),
                )
                .await?,
            ),
            None => None,
        };
        let interest_vectors = match self.inner.embedder {
            Some(_) => Some(
                self.vectors_for(&interests.iter().map(|i| i.term.clone()).collect::<Vec<_>>())
                    .await?,
            ),
            None => None,
        };
        let semantic = match (&item_vectors, &interest_vectors) {
            (Some(items), Some(interests)) => Some(Semantic { items, interests }),
            _ => None,
        };
        let ranked = rank(&interests, &items, semantic.as_ref(), k);
        let Some(llm) = &self.inner.llm else {
            return Ok(ranked);
        };
        // The prompt carries the user's interests and captions: its answer is cached under
        // the user, so that forget_user removes it.
        let cached;
        let llm: &dyn Llm = if self.inner.llm_cache_ttl.is_zero() {
            llm.as_ref()
        } else {
            cached = CachingLlm::new(
                llm.clone(),
                self.inner.store.clone(),
                self.inner.llm_cache_ttl,
            )
            .clock(self.inner.clock.clone())
            .for_user(&UserId::new(user)?);
            &cached
        };
        let captions = self.recent_captions(user, 5).await?;
        let ideas = product_ideas(llm, &interests, &captions, ideas_k).await?;
        let idea_vectors = match (&self.inner.embedder, &item_vectors) {
            (Some(e), Some(_)) => {
                let texts: Vec<String> = ideas
                    .iter()
                    .map(|i| format!("{}. {}", i.name, i.category.clone().unwrap_or_default()))
                    .collect();
                let e = e.clone();
                Some(
                    tokio::task::spawn_blocking(move || {
                        e.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>())
                    })
                    .await??,
                )
            }
            _ => None,
        };
        let mut out = ground(
            &ideas,
            &items,
            idea_vectors.as_deref().zip(item_vectors.as_deref()),
            0.6,
        );
        for r in ranked {
            if out.len() >= k {
                break;
            }
            let id = r.item.as_ref().map(|i| i.id.clone());
            if !out
                .iter()
                .any(|o| o.item.as_ref().map(|i| i.id.clone()) == id)
            {
                out.push(r);
            }
        }
        out.truncate(k);
        Ok(out)
    }

    /// Captions of the user's latest likes and uploads.
    async fn recent_captions(&self, user: &str, n: usize) -> Result<Vec<String>> {
        let events = self
            .inner
            .store
            .user_events(&UserId::new(user)?, 50)
            .await?;
        let mut out = Vec::new();
        for e in events {
            if !matches!(e.kind, EventKind::Like | EventKind::Upload) || e.deltas.is_empty() {
                continue;
            }
            if let Some(post) = &e.post {
                if let Some(c) = self.inner.store.post(post).await?.and_then(|p| p.caption) {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
            if out.len() >= n {
                break;
            }
        }
        Ok(out)
    }

    /// Embeddings of texts, from memory, then the store, then the embedder (in one batch).
    async fn vectors_for(&self, texts: &[String]) -> Result<Vec<Arc<Vec<f32>>>> {
        let Some(embedder) = self.inner.embedder.clone() else {
            return Err(Error::Config("no embedder configured".into()));
        };
        let model = embedder.model_id();
        let keys: Vec<String> = texts
            .iter()
            .map(|t| format!("emb:{model}:{}", hex::encode(Sha256::digest(t.as_bytes()))))
            .collect();
        let mut out: Vec<Option<Arc<Vec<f32>>>> = {
            let mem = self.inner.vectors.lock().unwrap_or_else(|p| p.into_inner());
            keys.iter().map(|k| mem.get(k).cloned()).collect()
        };
        let now = self.now();
        for (i, k) in keys.iter().enumerate() {
            if out[i].is_none() {
                if let Some(json) = self.inner.store.cache_get(k, now).await? {
                    if let Ok(v) = serde_json::from_str::<Vec<f32>>(&json) {
                        out[i] = Some(Arc::new(v));
                    }
                }
            }
        }
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let batch: Vec<String> = missing.iter().map(|&i| texts[i].clone()).collect();
            let vectors = tokio::task::spawn_blocking(move || {
                embedder.embed(&batch.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .await??;
            if vectors.len() != missing.len() {
                return Err(Error::Model(
                    "the embedder returned the wrong number of vectors".into(),
                ));
            }
            // Embeddings of a text never change for a model: keep them for years.
            let forever = now.plus(Duration::from_secs(10 * 365 * 86_400));
            for (&i, v) in missing.iter().zip(vectors) {
                self.inner
                    .store
                    .cache_put(&keys[i], &serde_json::to_string(&v)?, now, forever)
                    .await?;
                out[i] = Some(Arc::new(v));
            }
        }
        let out: Vec<Arc<Vec<f32>>> = out.into_iter().flatten().collect();
        let mut mem = self.inner.vectors.lock().unwrap_or_else(|p| p.into_inner());
        for (k, v) in keys.iter().zip(&out) {
            mem.insert(k.clone(), v.clone());
        }
        Ok(out)
    }

    fn event(
        &self,
        kind: EventKind,
        user: UserId,
        post: Option<PostId>,
        deltas: Vec<TermDelta>,
        opts: &EventOptions,
    ) -> Result<Event> {
        let now = self.now();
        let at = opts.at.unwrap_or(now);
        // From the epoch to now plus the skew, and never past what a calendar can show (a
        // clock set beyond year 9999 must not store events no report can place).
        let latest = now.plus(self.inner.max_clock_skew).min(Timestamp::MAX);
        if at < Timestamp::EPOCH || at > latest {
            return Err(Error::invalid(format!(
                "event time {} is outside the allowed range {}..={} (from the epoch to the \
                 engine's clock, {}, plus the allowed clock skew of {} s)",
                at.to_rfc3339(),
                Timestamp::EPOCH.to_rfc3339(),
                latest.to_rfc3339(),
                now.to_rfc3339(),
                self.inner.max_clock_skew.as_secs_f64(),
            )));
        }
        Ok(Event {
            id: match &opts.id {
                Some(id) => EventId::new(id.clone())?,
                None => EventId::generate(),
            },
            user,
            kind,
            post,
            item: None,
            at,
            deltas,
        })
    }

    async fn record_post_signal(
        &self,
        kind: EventKind,
        user: &str,
        post: Post,
        opts: EventOptions,
    ) -> Result<EventOutcome> {
        let user = UserId::new(user)?;
        let post_id = PostId::new(post.id.clone())?;
        let author = post.author.clone().map(UserId::new).transpose()?;
        if let Some(given) = &post.interests {
            // Counted before normalising, so an oversized list costs nothing to refuse.
            if given.len() > MAX_INTERESTS_PER_POST {
                return Err(Error::invalid(format!(
                    "post {post_id} has {} interests; at most {MAX_INTERESTS_PER_POST} are allowed",
                    given.len()
                )));
            }
        }
        let given_interests = post.interests.as_ref().map(normalize_terms).transpose()?;
        if let Some(caption) = &post.caption {
            if caption.len() > MAX_CAPTION_BYTES {
                return Err(Error::invalid(format!(
                    "post {post_id} has a caption of {} bytes; at most {MAX_CAPTION_BYTES} are allowed",
                    caption.len()
                )));
            }
            if caption.trim().is_empty() {
                return Err(Error::invalid(format!(
                    "post {post_id} has an empty caption"
                )));
            }
        }
        let event_template =
            self.event(kind, user.clone(), Some(post_id.clone()), Vec::new(), &opts)?;

        // A retried event needs no captioning: answer from the stored event.
        if opts.id.is_some() {
            if let Some(seen) = self.inner.store.event(&event_template.id).await? {
                let recorded = self
                    .inner
                    .store
                    .record_event(event_template.clone(), self.inner.decay)
                    .await?;
                let stored = self.inner.store.post(&post_id).await?;
                debug_assert_eq!(recorded.status, EventStatus::Duplicate);
                return Ok(EventOutcome {
                    event_id: seen.id,
                    status: recorded.status,
                    caption: stored.as_ref().and_then(|p| p.caption.clone()),
                    interests: stored.and_then(|p| p.interests).unwrap_or_default(),
                    deltas: Vec::new(),
                });
            }
        }

        let stored = self.inner.store.post(&post_id).await?;
        let image_sha256 = post.image.as_deref().map(image_sha256);
        let mut caption = post
            .caption
            .clone()
            .or_else(|| stored.as_ref().and_then(|p| p.caption.clone()));
        if caption.is_none() {
            if let (Some(bytes), Some(hash)) = (&post.image, &image_sha256) {
                caption = Some(self.caption_cached(bytes, hash).await?);
            }
        }
        let interests = match given_interests {
            Some(i) => i,
            None => match stored.as_ref().and_then(|p| p.interests.clone()) {
                Some(i) if post.caption.is_none() => i,
                _ => self.extract(&post_id, caption.as_deref()).await?,
            },
        };

        let record = PostRecord {
            id: post_id.clone(),
            author,
            caption: caption.clone(),
            image_sha256,
            interests: Some(interests.clone()),
            created_at: event_template.at,
        };
        if stored.as_ref() != Some(&crate::store::merge_post(stored.clone(), &record)) {
            self.inner.store.put_post(&record).await?;
        }

        let weight = self.inner.weights.for_kind(kind);
        let mut event = event_template;
        event.deltas = interests
            .iter()
            .map(|term| TermDelta {
                term: term.clone(),
                weight,
            })
            .collect();
        let recorded = self
            .inner
            .store
            .record_event(event.clone(), self.inner.decay)
            .await?;
        if recorded.status == EventStatus::Applied {
            self.profile_changed(&event.user).await;
        }
        Ok(EventOutcome {
            event_id: event.id,
            status: recorded.status,
            caption,
            interests,
            deltas: recorded.deltas,
        })
    }

    async fn extract(&self, post: &PostId, caption: Option<&str>) -> Result<Vec<String>> {
        let Some(caption) = caption else {
            return Err(Error::invalid(format!(
                "post {post} has no interests, caption or image, and the store does not know it"
            )));
        };
        let Some(extractor) = &self.inner.extractor else {
            return Err(Error::Config(format!(
                "post {post} has a caption but no interests, and no interest extractor is configured: \
                 pass the interests with the post, or configure an extractor"
            )));
        };
        // Long captions are tagged on the blocking pool so that they do not hold up the
        // other tasks of this async worker.
        let terms = if caption.len() > INLINE_EXTRACT_BYTES {
            let (extractor, caption) = (extractor.clone(), caption.to_string());
            tokio::task::spawn_blocking(move || extractor.extract(&caption)).await??
        } else {
            extractor.extract(caption)?
        };
        Ok(normalize_extracted(terms, MAX_INTERESTS_PER_POST))
    }

    /// The caption of an image: from the store's cache, or from the captioner (once per image,
    /// even under concurrent requests), then cached.
    async fn caption_cached(&self, bytes: &[u8], hash: &str) -> Result<String> {
        let Some(captioner) = self.inner.captioner.clone() else {
            return Err(Error::Config(
                "the post has an image but no caption, and no captioner is configured".into(),
            ));
        };
        let model = captioner.model_id();
        let cell = {
            let mut inflight = self.inner.inflight.lock().await;
            inflight.entry(hash.to_string()).or_default().clone()
        };
        let result = cell
            .get_or_try_init(|| async {
                if let Some(c) = self.inner.store.cached_caption(hash).await? {
                    if c.model == model {
                        return Ok(c.caption);
                    }
                }
                let owned = bytes.to_vec();
                let captioner = captioner.clone();
                let caption = tokio::task::spawn_blocking(move || captioner.caption(&[&owned]))
                    .await??
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Model("the captioner returned no caption".into()))?;
                self.inner
                    .store
                    .put_cached_caption(&CachedCaption {
                        image_sha256: hash.to_string(),
                        caption: caption.clone(),
                        model: model.clone(),
                        created_at: self.now(),
                    })
                    .await?;
                Ok::<_, Error>(caption)
            })
            .await
            .cloned();
        let mut inflight = self.inner.inflight.lock().await;
        if inflight.get(hash).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(hash);
        }
        result
    }
}

/// `n` days as a [`Duration`], for constants in code (half-lives are usually given in days).
///
/// Never panics: NaN and negative counts give zero, counts too long for a `Duration` give
/// [`Duration::MAX`]. Numbers that come from callers go through [`try_days`] instead, which
/// rejects them.
///
/// ```
/// use sociallens::days;
/// assert_eq!(days(1.5).as_secs(), 129_600);
/// assert_eq!(days(f64::NAN), std::time::Duration::ZERO);
/// ```
pub fn days(n: f64) -> Duration {
    try_days("days", n).unwrap_or(if n > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    })
}

/// `n` days as a [`Duration`], checked: [`Error::InvalidInput`] (naming `what`) for NaN,
/// ±infinity, negative counts and counts too long for a `Duration` (about 2.1e14 days).
///
/// ```
/// use sociallens::try_days;
/// assert_eq!(try_days("half-life", 2.0)?.as_secs(), 172_800);
/// assert!(try_days("half-life", 1e300).is_err());
/// assert!(try_days("half-life", -1.0).is_err());
/// # Ok::<(), sociallens::Error>(())
/// ```
pub fn try_days(what: &str, n: f64) -> Result<Duration> {
    duration_from_secs(what, n * 86_400.0)
        .map_err(|_| Error::invalid(format!("{what} must be a number of days >= 0, got {n}")))
}

/// (Possibly fractional) seconds as a [`Duration`], checked: [`Error::InvalidInput`]
/// (naming `what`) for NaN, ±infinity, negative numbers and numbers too large for a
/// `Duration` (about 1.8e19 s), where [`Duration::from_secs_f64`] would panic.
///
/// ```
/// use sociallens::duration_from_secs;
/// assert_eq!(duration_from_secs("timeout", 1.5)?.as_millis(), 1_500);
/// assert!(duration_from_secs("timeout", f64::NAN).is_err());
/// assert!(duration_from_secs("timeout", f64::INFINITY).is_err());
/// # Ok::<(), sociallens::Error>(())
/// ```
pub fn duration_from_secs(what: &str, secs: f64) -> Result<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return Err(Error::invalid(format!(
            "{what} must be a finite number of seconds >= 0, got {secs}"
        )));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| {
        Error::invalid(format!(
            "{what} must be a finite number of seconds >= 0 and at most {}, got {secs}",
            u64::MAX
        ))
    })
}

/// The decay for a half-life in days, as the bindings take it: `f64::INFINITY` never
/// decays; a finite number of days above zero is a half-life; anything else (NaN, zero,
/// negative, −infinity, too long for a `Duration`) is [`Error::InvalidInput`].
///
/// ```
/// use sociallens::{half_life_days, Decay};
/// assert_eq!(half_life_days(f64::INFINITY)?, Decay::none());
/// assert!(half_life_days(30.0)?.half_life_duration().is_some());
/// assert!(half_life_days(1e300).is_err());
/// assert!(half_life_days(0.0).is_err());
/// # Ok::<(), sociallens::Error>(())
/// ```
pub fn half_life_days(days: f64) -> Result<Decay> {
    if days == f64::INFINITY {
        return Ok(Decay::none());
    }
    let bad = || {
        Error::invalid(format!(
            "the half-life must be a number of days > 0 and at most 2.1e14 (or infinite for no decay), got {days}"
        ))
    };
    if days.is_nan() || days <= 0.0 {
        return Err(bad());
    }
    let d = try_days("the half-life", days).map_err(|_| bad())?;
    Decay::half_life(d).map_err(|_| bad())
}
