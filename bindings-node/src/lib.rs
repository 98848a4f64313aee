//! Node bindings of sociallens: thin wrappers that convert types, run core futures on the
//! addon's runtime (every method returns a Promise) and map core errors to JS errors with a
//! stable `code`.

#![deny(clippy::all)]

mod ads;

use chrono::{DateTime, TimeZone, Utc};
use futures::FutureExt;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use sociallens as core;
use sociallens::interests::NounExtractor;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// Builds the JS error for a core error: an `Error` whose `code` is the core's stable code
/// (`INVALID_INPUT`, `CONFLICT`, `NOT_FOUND`, `CONFIG`, `STORAGE`, `MODEL`, `PRIVACY`,
/// `UNSUPPORTED`, `INTERNAL`) and whose message carries the cause chain. Must run on the JS thread.
fn js_error(env: &Env, e: core::Error) -> napi::Error {
    let coded = napi::Error::new(e.code(), e.full_message());
    // SAFETY: `env` is the live environment of the JS thread this runs on, and the value
    // is a freshly created error object.
    let value = unsafe { JsError::from(coded).into_value(env.raw()) };
    // Details a caller acts on: how long to wait, which status and request.
    if let Ok(mut obj) = unsafe { Object::from_napi_value(env.raw(), value) } {
        let _ = match &e {
            core::Error::RateLimited { retry_after, .. } => {
                obj.set("retryAfter", retry_after.map(|d| d.as_secs_f64()))
            }
            core::Error::Http {
                status, request_id, ..
            } => obj
                .set("status", *status as u32)
                .and_then(|_| obj.set("requestId", request_id.clone())),
            _ => Ok(()),
        };
    }
    napi::Error::from(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
}

/// Runs the body of a synchronous entry point (a constructor, a factory, a getter, the set-up
/// of a task); a panic inside it becomes an `INTERNAL` error instead of aborting Node.
pub(crate) fn sync<T>(env: &Env, body: impl FnOnce() -> core::Result<T>) -> Result<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r.map_err(|e| js_error(env, e)),
        Err(payload) => Err(js_error(env, core::Error::from_panic(&*payload))),
    }
}

/// A size from JS (`k`, `limit`, a budget, a count), `default` when absent: a whole,
/// non-negative number. Numbers beyond what a `usize` holds (all of 2^53 and up are whole)
/// mean "as many as there are": the core clamps every size to what exists. NaN, infinities,
/// negative and fractional numbers are `INVALID_INPUT` (napi's own `u32` would wrap -1 to
/// 4294967295 and read NaN as 0).
pub(crate) fn size(what: &str, n: Option<f64>, default: usize) -> core::Result<usize> {
    let Some(n) = n else { return Ok(default) };
    if !(n.is_finite() && n >= 0.0 && n.fract() == 0.0) {
        return Err(core::Error::InvalidInput(format!(
            "{what} must be a whole number >= 0, got {n}"
        )));
    }
    // `as` saturates: 1e300 becomes usize::MAX.
    Ok(n as usize)
}

/// An optional count that must fit in 32 bits (frequency caps).
pub(crate) fn count32(what: &str, n: Option<f64>) -> core::Result<Option<u32>> {
    n.map(|n| {
        let v = size(what, Some(n), 0)?;
        u32::try_from(v).map_err(|_| {
            core::Error::InvalidInput(format!("{what} must be at most {}, got {n}", u32::MAX))
        })
    })
    .transpose()
}

/// Runs a core future; a panic inside it becomes an `INTERNAL` error.
async fn guarded<T, F>(fut: F) -> core::Result<T>
where
    F: Future<Output = core::Result<T>>,
{
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(payload) => Err(core::Error::from_panic(&*payload)),
    }
}

/// Runs a core future on the addon's runtime and returns a Promise of its result.
fn promise<T, F>(env: &Env, fut: F) -> Result<PromiseRaw<'_, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = core::Result<T>> + Send + 'static,
{
    env.spawn_future_with_callback(async move { Ok(guarded(fut).await) }, |env, r| {
        r.map_err(|e| js_error(env, e))
    })
}

fn to_date(t: core::Timestamp) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t.as_millis())
        .single()
        .unwrap_or_default()
}

fn from_date(d: Option<DateTime<Utc>>) -> Option<core::Timestamp> {
    d.map(|d| core::Timestamp::from_millis(d.timestamp_millis()))
}

/// How to open an engine.
#[napi(object)]
pub struct EngineOptions {
    /// Store URL: `sqlite:///path/to.db` (embedded, persistent) or `memory://`.
    pub store: String,
    /// How captions become interests: `interests` (default: lemmas, compounds, no filler),
    /// `textblob` (the prototype's nouns) or `none` (every post must bring its interests).
    #[napi(ts_type = "'interests' | 'textblob' | 'none'")]
    pub extractor: Option<String>,
    /// Half-life of interest weights in days (default 30; `Infinity` for no decay).
    pub half_life_days: Option<f64>,
    /// Weight a like adds (default 1).
    pub like_weight: Option<f64>,
    /// Weight an upload adds (default 2).
    pub upload_weight: Option<f64>,
    /// Weight a click adds (default 0.5).
    pub click_weight: Option<f64>,
    /// Weight an impression adds (default 0).
    pub impression_weight: Option<f64>,
    /// Weight of the interest match in an ad's score (default 1, at most 1e6).
    pub interest_weight: Option<f64>,
    /// Weight of the lookalike signal (similar users who clicked) in an ad's score (default 0.5).
    pub lookalike_weight: Option<f64>,
    /// How many similar users the lookalike signal asks (default 30, at most 100000).
    pub lookalike_neighbors: Option<f64>,
    /// Smallest audience `audienceSize` reports (default 50); smaller ones reject with `PRIVACY`.
    pub min_audience_size: Option<f64>,
    /// Least embedder similarity that counts as a semantic match (default 0.6, 0 to 1).
    pub semantic_threshold: Option<f64>,
    /// Postings scanned for similar-user candidates (default 20000, 1 to 1e9): recall against latency.
    pub candidate_budget: Option<f64>,
    /// Least cosine a user needs to belong to an audience (default 0.05, 0 to 1).
    pub audience_min_score: Option<f64>,
    /// `index` (default: the whole similarity index in memory, built on first use) or
    /// `stateless` (ads inventory in memory; the user's rows, the precomputed neighbour table
    /// and the term -> users lookup read per request: see docs/scaling.md).
    #[napi(ts_type = "'index' | 'stateless'")]
    pub serving: Option<String>,
    /// With `serving: 'stateless'`: seconds the ads inventory is served before it is read
    /// again (default 60).
    pub inventory_ttl: Option<f64>,
}

/// The post and event details of a like or an upload.
#[napi(object)]
pub struct PostOptions {
    /// Encoded image bytes, captioned by the configured captioner.
    pub image: Option<Buffer>,
    /// The caption, if the platform has one.
    pub caption: Option<String>,
    /// The post's interests; when absent they come from the store (a post seen before) or are extracted from the caption.
    pub interests: Option<Vec<String>>,
    /// The event id: a retry with the same id changes nothing.
    pub event_id: Option<String>,
    /// The post's author (likes only; an upload's author is the uploader).
    pub author: Option<String>,
    /// When it happened (default: now).
    pub at: Option<DateTime<Utc>>,
}

/// Event details of an unlike.
#[napi(object)]
pub struct EventOptions {
    /// The event id: a retry with the same id changes nothing.
    pub event_id: Option<String>,
    /// When it happened (default: now).
    pub at: Option<DateTime<Utc>>,
}

/// The weight one event added to one term (negative for an unlike).
#[napi(object)]
pub struct TermDelta {
    /// The interest term.
    pub term: String,
    /// The weight added.
    pub weight: f64,
}

/// What recording an event did.
#[napi(object)]
pub struct EventOutcome {
    /// The event's id (generated when none was given).
    pub event_id: String,
    /// `applied`, `duplicate` (id seen before), `already_active` (already liked) or `nothing_to_undo`.
    #[napi(ts_type = "'applied' | 'duplicate' | 'already_active' | 'nothing_to_undo'")]
    pub status: String,
    /// The post's caption, when it has one.
    pub caption: Option<String>,
    /// The post's interests.
    pub interests: Vec<String>,
    /// What changed in the profile.
    pub deltas: Vec<TermDelta>,
}

impl From<core::EventOutcome> for EventOutcome {
    fn from(o: core::EventOutcome) -> Self {
        Self {
            event_id: o.event_id.to_string(),
            status: o.status.as_str().to_string(),
            caption: o.caption,
            interests: o.interests,
            deltas: o
                .deltas
                .into_iter()
                .map(|d| TermDelta {
                    term: d.term,
                    weight: d.weight,
                })
                .collect(),
        }
    }
}

/// One interest of a user, weight decayed to when it was read.
#[napi(object)]
pub struct Interest {
    /// The interest term.
    pub term: String,
    /// Decayed weight.
    pub weight: f64,
    /// Signals that still count.
    pub count: i64,
    /// The latest signal that still counts.
    pub last_seen: DateTime<Utc>,
}

/// Rows `forgetUser` removed.
#[napi(object)]
pub struct ForgetReport {
    /// Interest rows.
    pub interests: i64,
    /// Events.
    pub events: i64,
    /// Active likes and uploads.
    pub active_signals: i64,
    /// Posts the user authored.
    pub posts: i64,
    /// Cached captions of the user's images no other post uses.
    pub captions: i64,
    /// Ad category opt-outs.
    pub opt_outs: i64,
    /// LLM answers cached from the user's data.
    pub cached_answers: i64,
    /// The user's precomputed neighbour list and the entries naming them in other lists.
    pub neighbours: i64,
    /// Entries naming the user in stored audiences.
    pub audiences: i64,
    /// All rows removed.
    pub total: i64,
}

/// Turns likes and uploads into decaying interest profiles kept in a store.
#[napi]
pub struct Engine {
    inner: core::Engine,
}

/// How to reach an OpenAI-compatible chat-completions server.
#[napi(object)]
pub struct LlmOptions {
    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// The model name.
    pub model: String,
    /// Sent as `Authorization: Bearer ...`; never shown in errors or logs.
    pub api_key: Option<String>,
    /// Extra headers (values treated as secrets).
    pub headers: Option<std::collections::HashMap<String, String>>,
    /// Longest wait for one request, in ms (default 60000; above 0, at most 86400000).
    pub request_timeout_ms: Option<f64>,
    /// Longest wait for a whole call with retries, in ms (default 180000; above 0, at most 86400000).
    pub deadline_ms: Option<f64>,
    /// Retries after the first attempt (default 4, at most 100).
    pub max_retries: Option<f64>,
    /// Client-side limit on requests per minute (at least 1).
    pub requests_per_minute: Option<f64>,
}

/// A client for any OpenAI-compatible chat-completions server (OpenAI, Azure OpenAI, Ollama,
/// vLLM, llama.cpp, LM Studio), with retries, rate-limit handling, timeouts and a budget.
#[napi]
pub struct OpenAiCompatible {
    inner: std::sync::Arc<core::recommend::OpenAiCompatible>,
}

#[napi]
impl OpenAiCompatible {
    /// A client from options.
    #[napi(catch_unwind, constructor)]
    pub fn new(env: &Env, options: LlmOptions) -> Result<Self> {
        sync(env, || {
            let counts = |what: &str, n: Option<f64>| {
                n.map(|n| size(what, Some(n), 0).map(|v| v as u64))
                    .transpose()
            };
            let mut c = core::recommend::OpenAiCompatible::new(&options.base_url, &options.model)?
                .limits(
                    options.request_timeout_ms.map(|ms| ms / 1000.0),
                    options.deadline_ms.map(|ms| ms / 1000.0),
                    counts("maxRetries", options.max_retries)?,
                    counts("requestsPerMinute", options.requests_per_minute)?,
                )?;
            if let Some(k) = &options.api_key {
                c = c.api_key(k);
            }
            for (k, v) in options.headers.iter().flatten() {
                c = c.header(k, v);
            }
            Ok(Self {
                inner: std::sync::Arc::new(c),
            })
        })
    }

    /// From `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `SOCIALLENS_LLM_MODEL`.
    #[napi(catch_unwind, factory)]
    pub fn from_env(env: &Env) -> Result<Self> {
        sync(env, || {
            core::recommend::OpenAiCompatible::from_env().map(|c| Self {
                inner: std::sync::Arc::new(c),
            })
        })
    }
}

/// The ViT-GPT2 image captioner, token-identical to Hugging Face's pipeline.
#[napi]
pub struct Captioner {
    inner: std::sync::Arc<core::VitGpt2>,
}

/// Captioning of a batch of images on the libuv thread pool.
pub struct CaptionTask {
    model: std::sync::Arc<core::VitGpt2>,
    images: Vec<Vec<u8>>,
}

impl Task for CaptionTask {
    type Output = core::Result<Vec<String>>;
    type JsValue = Vec<String>;

    fn compute(&mut self) -> Result<Self::Output> {
        let refs: Vec<&[u8]> = self.images.iter().map(Vec::as_slice).collect();
        Ok(std::panic::catch_unwind(AssertUnwindSafe(|| {
            core::Captioner::caption(self.model.as_ref(), &refs)
        }))
        .unwrap_or_else(|p| Err(core::Error::from_panic(&*p))))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map_err(|e| js_error(&env, e))
    }
}

#[napi]
impl Captioner {
    /// Loads a model folder (`config.json`, `model.safetensors` or `pytorch_model.bin`,
    /// `preprocessor_config.json`, tokenizer files).
    ///
    /// `kernels`: `"auto"` (default: the token-exact CPU path on the CPU), `"cpu"`,
    /// `"candle"`, or `"cpu-f16"` (f16 decoder weights: faster decoding, not guaranteed
    /// token-exact).
    #[napi(catch_unwind, factory)]
    pub fn from_dir(env: &Env, path: String, kernels: Option<String>) -> Result<Self> {
        sync(env, || {
            kernels
                .as_deref()
                .unwrap_or("auto")
                .parse::<core::caption::Kernels>()
                .and_then(|k| core::VitGpt2::from_dir_with_kernels(&path, k))
                .map(|m| Self {
                    inner: std::sync::Arc::new(m),
                })
        })
    }

    /// Downloads (once, into the Hugging Face cache) and loads a model repository (default
    /// `nlpconnect/vit-gpt2-image-captioning`); honours `HF_ENDPOINT`, `HF_HOME` and
    /// `HF_HUB_OFFLINE=1`. Blocks while it downloads: call it at start-up.
    /// `kernels` as in `fromDir`.
    #[napi(catch_unwind, factory)]
    pub fn from_hub(env: &Env, repo: Option<String>, kernels: Option<String>) -> Result<Self> {
        let repo = repo.unwrap_or_else(|| "nlpconnect/vit-gpt2-image-captioning".into());
        sync(env, || {
            kernels
                .as_deref()
                .unwrap_or("auto")
                .parse::<core::caption::Kernels>()
                .and_then(|k| {
                    let options = core::caption::HubOptions {
                        kernels: k,
                        ..Default::default()
                    };
                    core::VitGpt2::from_hub_with(&repo, &options)
                })
                .map(|m| Self {
                    inner: std::sync::Arc::new(m),
                })
        })
    }

    /// How the model runs: `"cpu"`, `"cpu-f16"` or `"candle"`.
    #[napi(catch_unwind, getter)]
    pub fn kernels(&self, env: &Env) -> Result<String> {
        sync(env, || {
            Ok(self.inner.model().decoder().kernels().as_str().into())
        })
    }

    /// One caption per image (encoded bytes), computed off the main thread.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<string>>")]
    pub fn caption(&self, env: &Env, images: Vec<Buffer>) -> Result<AsyncTask<CaptionTask>> {
        sync(env, || {
            Ok(AsyncTask::new(CaptionTask {
                model: self.inner.clone(),
                images: images.iter().map(|b| b.to_vec()).collect(),
            }))
        })
    }
}

/// The all-MiniLM-L6-v2 sentence-embedding model (384-d unit vectors).
#[napi]
pub struct MiniLmEmbedder {
    inner: std::sync::Arc<core::recommend::MiniLmEmbedder>,
}

/// Embedding of a batch of texts on the libuv thread pool.
pub struct EmbedTask {
    model: std::sync::Arc<core::recommend::MiniLmEmbedder>,
    texts: Vec<String>,
}

impl Task for EmbedTask {
    type Output = core::Result<Vec<Vec<f64>>>;
    type JsValue = Vec<Vec<f64>>;

    fn compute(&mut self) -> Result<Self::Output> {
        let texts: Vec<&str> = self.texts.iter().map(String::as_str).collect();
        Ok(std::panic::catch_unwind(AssertUnwindSafe(|| {
            core::recommend::Embedder::embed(self.model.as_ref(), &texts).map(|vs| {
                vs.into_iter()
                    .map(|v| v.into_iter().map(f64::from).collect())
                    .collect()
            })
        }))
        .unwrap_or_else(|p| Err(core::Error::from_panic(&*p))))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map_err(|e| js_error(&env, e))
    }
}

#[napi]
impl MiniLmEmbedder {
    /// Loads a sentence-transformers model folder (`config.json`, `model.safetensors`,
    /// `tokenizer.json`).
    #[napi(catch_unwind, factory)]
    pub fn from_dir(env: &Env, path: String) -> Result<Self> {
        sync(env, || {
            core::recommend::MiniLmEmbedder::from_dir(&path).map(|m| Self {
                inner: std::sync::Arc::new(m),
            })
        })
    }

    /// Downloads (once, into the Hugging Face cache) and loads a sentence-transformers
    /// repository (default `sentence-transformers/all-MiniLM-L6-v2`). Blocks while it
    /// downloads: call it at start-up.
    #[napi(catch_unwind, factory)]
    pub fn from_hub(env: &Env, repo: Option<String>) -> Result<Self> {
        let repo = repo.unwrap_or_else(|| "sentence-transformers/all-MiniLM-L6-v2".into());
        sync(env, || {
            core::recommend::MiniLmEmbedder::from_hub(&repo).map(|m| Self {
                inner: std::sync::Arc::new(m),
            })
        })
    }

    /// One unit vector per text, computed off the main thread.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<Array<number>>>")]
    pub fn embed(&self, env: &Env, texts: Vec<String>) -> Result<AsyncTask<EmbedTask>> {
        sync(env, || {
            Ok(AsyncTask::new(EmbedTask {
                model: self.inner.clone(),
                texts,
            }))
        })
    }
}

/// A product of the catalog.
#[napi(object)]
pub struct Product {
    /// Unique id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Keywords.
    pub keywords: Option<Vec<String>>,
    /// Price.
    pub price: Option<f64>,
    /// Product page.
    pub url: Option<String>,
    /// Picture.
    pub image_url: Option<String>,
}

impl From<core::recommend::CatalogItem> for Product {
    fn from(i: core::recommend::CatalogItem) -> Self {
        Self {
            id: i.id,
            title: i.title,
            description: Some(i.description),
            category: i.category,
            keywords: Some(i.keywords),
            price: i.price,
            url: i.url,
            image_url: i.image_url,
        }
    }
}

impl From<Product> for core::recommend::CatalogItem {
    fn from(p: Product) -> Self {
        Self {
            id: p.id,
            title: p.title,
            description: p.description.unwrap_or_default(),
            category: p.category,
            keywords: p.keywords.unwrap_or_default(),
            price: p.price,
            url: p.url,
            image_url: p.image_url,
        }
    }
}

/// One recommended product, with why.
#[napi(object)]
pub struct Recommendation {
    /// The catalog product; absent for an LLM idea no product is close to.
    pub product: Option<Product>,
    /// The product's title, or the idea's name.
    pub name: String,
    /// How well it fits, 0..1.
    pub score: f64,
    /// The user's interests it answers.
    pub matched_interests: Vec<String>,
    /// The LLM's reason, for LLM ideas.
    pub reason: Option<String>,
    /// Where it came from.
    #[napi(ts_type = "'catalog' | 'llm'")]
    pub source: String,
    /// Whether it is a product of the catalog.
    pub in_catalog: bool,
}

fn post_from(post_id: String, o: Option<PostOptions>) -> (core::Post, core::EventOptions) {
    let mut post = core::Post::new(post_id);
    let mut opts = core::EventOptions::default();
    if let Some(o) = o {
        post.image = o.image.map(|b| b.to_vec());
        post.caption = o.caption;
        post.interests = o.interests;
        post.author = o.author;
        opts = event_opts(o.event_id, o.at);
    }
    (post, opts)
}

/// The core's event options from a call's optional `{eventId, at}`.
fn options_of(options: Option<EventOptions>) -> core::EventOptions {
    options
        .map(|o| event_opts(o.event_id, o.at))
        .unwrap_or_default()
}

fn event_opts(id: Option<String>, at: Option<DateTime<Utc>>) -> core::EventOptions {
    core::EventOptions {
        id,
        at: from_date(at),
    }
}

#[napi]
impl Engine {
    /// Opens an engine over the store named by `options.store`, with optional models: an
    /// LLM for product ideas, a captioner for posts that come as images, an embedder for
    /// semantic matching.
    #[napi(catch_unwind, constructor)]
    pub fn new(
        env: &Env,
        options: EngineOptions,
        llm: Option<&OpenAiCompatible>,
        captioner: Option<&Captioner>,
        embedder: Option<&MiniLmEmbedder>,
    ) -> Result<Self> {
        let models = Models {
            llm: llm.map(|l| l.inner.clone()),
            captioner: captioner.map(|c| c.inner.clone()),
            embedder: embedder.map(|e| e.inner.clone()),
        };
        sync(env, || Self::open(options, models))
    }

    /// Adds (or replaces) catalog products: an array of products, or the path of a `.jsonl`
    /// or `.csv` file. The whole batch is checked first; one bad item changes nothing.
    #[napi(catch_unwind, ts_return_type = "Promise<number>")]
    pub fn add_products<'env>(
        &self,
        env: &'env Env,
        items: Either<Vec<Product>, String>,
    ) -> Result<PromiseRaw<'env, u32>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let n = match items {
                Either::A(list) => {
                    engine
                        .add_products(list.into_iter().map(Into::into).collect())
                        .await?
                }
                Either::B(path) => engine.add_products_from_path(path).await?,
            };
            Ok(n as u32)
        })
    }

    /// Every product of the catalog.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<Product>>")]
    pub fn products<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Vec<Product>>> {
        let engine = self.inner.clone();
        promise(env, async move {
            Ok(engine
                .products()
                .await?
                .into_iter()
                .map(Product::from)
                .collect())
        })
    }

    /// Removes a product; false if there was none.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn remove_product<'env>(
        &self,
        env: &'env Env,
        id: String,
    ) -> Result<PromiseRaw<'env, bool>> {
        let engine = self.inner.clone();
        promise(env, async move { engine.remove_product(&id).await })
    }

    /// Up to `k` products for the user (default 5), best first, each saying which interests it
    /// matched. A user with no interests gets an empty array.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<Recommendation>>")]
    pub fn recommend_products<'env>(
        &self,
        env: &'env Env,
        user: String,
        k: Option<f64>,
    ) -> Result<PromiseRaw<'env, Vec<Recommendation>>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let k = size("k", k, 5)?;
            Ok(engine
                .recommend_products(&user, k)
                .await?
                .into_iter()
                .map(|r| Recommendation {
                    product: r.item.map(Product::from),
                    name: r.name,
                    score: r.score,
                    matched_interests: r.matched_interests,
                    reason: r.reason,
                    source: r.source.as_str().to_string(),
                    in_catalog: r.in_catalog,
                })
                .collect())
        })
    }

    /// Records that `user` liked a post.
    #[napi(catch_unwind, ts_return_type = "Promise<EventOutcome>")]
    pub fn record_like<'env>(
        &self,
        env: &'env Env,
        user: String,
        post_id: String,
        options: Option<PostOptions>,
    ) -> Result<PromiseRaw<'env, EventOutcome>> {
        let (post, opts) = post_from(post_id, options);
        let engine = self.inner.clone();
        promise(env, async move {
            engine
                .record_like_with(&user, post, opts)
                .await
                .map(Into::into)
        })
    }

    /// Records that `user` uploaded a post (and is its author).
    #[napi(catch_unwind, ts_return_type = "Promise<EventOutcome>")]
    pub fn record_upload<'env>(
        &self,
        env: &'env Env,
        user: String,
        post_id: String,
        options: Option<PostOptions>,
    ) -> Result<PromiseRaw<'env, EventOutcome>> {
        let (post, opts) = post_from(post_id, options);
        let engine = self.inner.clone();
        promise(env, async move {
            engine
                .record_upload_with(&user, post, opts)
                .await
                .map(Into::into)
        })
    }

    /// Takes back `user`'s like of `postId`, removing exactly what that like added.
    #[napi(catch_unwind, ts_return_type = "Promise<EventOutcome>")]
    pub fn unlike<'env>(
        &self,
        env: &'env Env,
        user: String,
        post_id: String,
        options: Option<EventOptions>,
    ) -> Result<PromiseRaw<'env, EventOutcome>> {
        let opts = options_of(options);
        let engine = self.inner.clone();
        promise(env, async move {
            engine
                .unlike_with(&user, &post_id, opts)
                .await
                .map(Into::into)
        })
    }

    /// The user's `k` strongest interests (default 10), weights decayed to now.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<Interest>>")]
    pub fn interests<'env>(
        &self,
        env: &'env Env,
        user: String,
        k: Option<f64>,
    ) -> Result<PromiseRaw<'env, Vec<Interest>>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let k = size("k", k, 10)?;
            let list = engine.interests(&user, k).await?;
            Ok(list
                .into_iter()
                .map(|i| Interest {
                    term: i.term,
                    weight: i.weight,
                    count: i.count.min(i64::MAX as u64) as i64,
                    last_seen: to_date(i.last_seen),
                })
                .collect())
        })
    }

    /// Erases every record of the user from the store.
    #[napi(catch_unwind, ts_return_type = "Promise<ForgetReport>")]
    pub fn forget_user<'env>(
        &self,
        env: &'env Env,
        user: String,
    ) -> Result<PromiseRaw<'env, ForgetReport>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let r = engine.forget_user(&user).await?;
            Ok(ForgetReport {
                total: r.total() as i64,
                interests: r.interests as i64,
                events: r.events as i64,
                active_signals: r.active_signals as i64,
                posts: r.posts as i64,
                captions: r.captions as i64,
                opt_outs: r.opt_outs as i64,
                cached_answers: r.cached_answers as i64,
                neighbours: r.neighbours as i64,
                audiences: r.audiences as i64,
            })
        })
    }

    /// Writes the store's records to `dir` (format v1: one file per dataset, `manifest.json`
    /// written last), reading the store page by page. `datasets`: any of captions, posts,
    /// interests, events, ad_events, catalog, opt_outs, neighbours, audiences (default all);
    /// `format`: "parquet" (default, SNAPPY) or "ndjson". Resolves to each dataset's file.
    #[napi(catch_unwind, ts_return_type = "Promise<Record<string, string>>")]
    pub fn export<'env>(
        &self,
        env: &'env Env,
        options: ExportOptions,
    ) -> Result<PromiseRaw<'env, std::collections::HashMap<String, String>>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let format =
                core::export::Format::parse(options.format.as_deref().unwrap_or("parquet"))?;
            let mut opts = core::export::ExportOptions::new(options.dir).format(format);
            if let Some(names) = options.datasets {
                let list = names
                    .iter()
                    .map(|n| core::export::Dataset::parse(n))
                    .collect::<core::Result<Vec<_>>>()?;
                opts = opts.datasets(list);
            }
            let summary = engine.export(&opts).await?;
            Ok(summary
                .datasets
                .iter()
                .map(|d| {
                    let path = d.files.first().map(|p| p.display().to_string());
                    (d.dataset.as_str().to_string(), path.unwrap_or_default())
                })
                .collect())
        })
    }

    /// Reads export files back into the store: a directory with `manifest.json`, one dataset
    /// file, or a directory of part files (Spark's `part-*.parquet`; `_SUCCESS` and `.crc`
    /// ignored). Every file is checked before any row is applied: a bad one rejects with an
    /// `INVALID_INPUT` error naming the file and column, and changes nothing.
    #[napi(catch_unwind, ts_return_type = "Promise<ImportReport[]>")]
    pub fn import_files<'env>(
        &self,
        env: &'env Env,
        options: ImportOptions,
    ) -> Result<PromiseRaw<'env, Vec<ImportReport>>> {
        let engine = self.inner.clone();
        promise(env, async move {
            let mut opts = core::export::ImportOptions::new(options.path);
            if let Some(d) = options.dataset {
                opts = opts.dataset(core::export::Dataset::parse(&d)?);
            }
            let reports = engine.import(&opts).await?;
            Ok(reports
                .into_iter()
                .map(|r| ImportReport {
                    dataset: r.dataset.as_str().to_string(),
                    rows: r.rows as i64,
                    applied: r.applied as i64,
                    unchanged: r.unchanged as i64,
                    conflicts: r.conflicts as i64,
                })
                .collect())
        })
    }
}

/// What `export` writes.
#[napi(object)]
pub struct ExportOptions {
    /// The export directory (created if missing).
    pub dir: String,
    /// The datasets to write (default: all).
    pub datasets: Option<Vec<String>>,
    /// "parquet" (default) or "ndjson".
    pub format: Option<String>,
}

/// What `importFiles` reads.
#[napi(object)]
pub struct ImportOptions {
    /// A directory with manifest.json, a dataset file, or a directory of part files.
    pub path: String,
    /// The dataset of a file or part directory (default: from its metadata or name).
    pub dataset: Option<String>,
}

/// What `importFiles` did for one dataset.
#[napi(object)]
pub struct ImportReport {
    /// The dataset.
    pub dataset: String,
    /// Rows read.
    pub rows: i64,
    /// Rows that changed the store.
    pub applied: i64,
    /// Rows the store already held as they are (a re-import: all of them).
    pub unchanged: i64,
    /// Events whose id the store holds for another event: counted, not applied.
    pub conflicts: i64,
}

/// The optional models an engine is opened with.
struct Models {
    llm: Option<std::sync::Arc<core::recommend::OpenAiCompatible>>,
    captioner: Option<std::sync::Arc<core::VitGpt2>>,
    embedder: Option<std::sync::Arc<core::recommend::MiniLmEmbedder>>,
}

impl Engine {
    fn open(options: EngineOptions, models: Models) -> core::Result<Self> {
        let decay = match options.half_life_days {
            None => core::Decay::default(),
            Some(d) => core::half_life_days(d)?,
        };
        let defaults = core::SignalWeights::default();
        let weights = core::SignalWeights {
            like: options.like_weight.unwrap_or(defaults.like),
            upload: options.upload_weight.unwrap_or(defaults.upload),
            click: options.click_weight.unwrap_or(defaults.click),
            impression: options.impression_weight.unwrap_or(defaults.impression),
        };
        let ads_defaults = core::ads::AdsConfig::default();
        let ads_config = core::ads::AdsConfig {
            interest_weight: options
                .interest_weight
                .unwrap_or(ads_defaults.interest_weight),
            lookalike_weight: options
                .lookalike_weight
                .unwrap_or(ads_defaults.lookalike_weight),
            lookalike_neighbors: size(
                "lookalikeNeighbors",
                options.lookalike_neighbors,
                ads_defaults.lookalike_neighbors,
            )?,
            min_audience_size: size(
                "minAudienceSize",
                options.min_audience_size,
                ads_defaults.min_audience_size,
            )?,
            semantic_threshold: options
                .semantic_threshold
                .map_or(ads_defaults.semantic_threshold, |t| t as f32),
            candidate_budget: size(
                "candidateBudget",
                options.candidate_budget,
                ads_defaults.candidate_budget,
            )?,
            audience_min_score: options
                .audience_min_score
                .unwrap_or(ads_defaults.audience_min_score),
        };
        let serving = match options.serving.as_deref().unwrap_or("index") {
            "index" => core::Serving::InMemoryIndex,
            "stateless" => core::Serving::Stateless {
                inventory_ttl: core::duration_from_secs(
                    "inventoryTtl",
                    options
                        .inventory_ttl
                        .unwrap_or(core::Serving::DEFAULT_INVENTORY_TTL.as_secs_f64()),
                )?,
            },
            other => {
                return Err(core::Error::InvalidInput(format!(
                    "serving must be 'index' or 'stateless', got {other:?}"
                )))
            }
        };
        let mut builder = core::Engine::builder()
            .store_url(&options.store)
            .signal_weights(weights)
            .ads_config(ads_config)
            .decay(decay)
            .serving(serving);
        if let Some(llm) = models.llm {
            builder = builder.shared_llm(llm);
        }
        if let Some(c) = models.captioner {
            builder = builder.shared_captioner(c);
        }
        if let Some(e) = models.embedder {
            builder = builder.shared_embedder(e);
        }
        builder = match options.extractor.as_deref().unwrap_or("interests") {
            "none" => builder.no_extractor(),
            mode => builder.extractor(NounExtractor::for_mode(mode, None)?),
        };
        Ok(Self {
            inner: builder.build()?,
        })
    }
}

/// Extraction of a batch of captions on the libuv thread pool.
pub struct ExtractTask {
    extractor: NounExtractor,
    captions: Vec<String>,
}

impl Task for ExtractTask {
    type Output = Vec<Vec<String>>;
    type JsValue = Vec<Vec<String>>;

    fn compute(&mut self) -> Result<Self::Output> {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.extractor.extract_batch(&self.captions)
        }))
        .map_err(|p| napi::Error::from_reason(core::Error::from_panic(&*p).to_string()))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }

    /// `compute` only fails by a caught panic: reject with the `INTERNAL` code.
    fn reject(&mut self, env: Env, err: napi::Error) -> Result<Self::JsValue> {
        Err(js_error(&env, core::Error::Internal(err.reason.clone())))
    }
}

/// The interests of each caption, computed off the main thread.
///
/// `mode` is `interests` (default: lowercase lemmas, whole compounds, no filler) or
/// `textblob` (the prototype's TextBlob nouns; exact when `nltkModelDir` points at NLTK's
/// averaged-perceptron model exported as JSON).
#[napi(catch_unwind, ts_return_type = "Promise<Array<Array<string>>>")]
pub fn extract_interests(
    env: &Env,
    captions: Vec<String>,
    #[napi(ts_arg_type = "'interests' | 'textblob'")] mode: Option<String>,
    nltk_model_dir: Option<String>,
) -> Result<AsyncTask<ExtractTask>> {
    sync(env, || {
        let extractor = NounExtractor::for_mode(
            mode.as_deref().unwrap_or("interests"),
            nltk_model_dir.as_deref().map(std::path::Path::new),
        )?;
        Ok(AsyncTask::new(ExtractTask {
            extractor,
            captions,
        }))
    })
}

/// Panics inside the addon; the tests use it to prove a panic rejects with an `INTERNAL`
/// error and the process survives.
#[napi(
    catch_unwind,
    js_name = "__panicForTests",
    ts_return_type = "Promise<void>"
)]
pub fn panic_for_tests(env: &Env, message: String) -> Result<PromiseRaw<'_, ()>> {
    promise(env, async move {
        if !message.is_empty() {
            panic!("{message}");
        }
        Ok(())
    })
}
