//! Storage: the [`Store`] trait, its records, and the backends.
//!
//! Every backend applies an event through the same logic ([`apply_event`]) inside its own
//! atomic unit of work, so idempotency, like/unlike pairing and decay behave identically
//! everywhere; the conformance suite in `tests/` holds every backend to that.

#[cfg(feature = "dynamodb")]
mod dynamo;
mod memory;
mod sqlite;

#[cfg(feature = "dynamodb")]
pub use dynamo::{DynamoStore, DynamoStoreBuilder};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use crate::domain::{Event, EventKind, TermDelta};
use crate::error::{Error, Result};
use crate::ids::{EventId, PostId, UserId};
use crate::profile::{Decay, InterestRecord, WeightPart};
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A post as stored: its caption, the hash of its image and the interests it carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostRecord {
    /// The post.
    pub id: PostId,
    /// Who uploaded it, when known.
    pub author: Option<UserId>,
    /// Its caption, given or generated.
    pub caption: Option<String>,
    /// Lowercase hex SHA-256 of the image bytes, when there was an image.
    pub image_sha256: Option<String>,
    /// The interests the post carries.
    pub interests: Option<Vec<String>>,
    /// When the store first saw it.
    pub created_at: Timestamp,
}

/// A caption computed for an image, shared by every post with the same image bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CachedCaption {
    /// Lowercase hex SHA-256 of the image bytes.
    pub image_sha256: String,
    /// The caption.
    pub caption: String,
    /// The captioner that produced it; another model's caption is not reused.
    pub model: String,
    /// When it was computed.
    pub created_at: Timestamp,
}

/// What a catalog entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A product of the platform's catalog.
    Product,
    /// An ad.
    Ad,
}

impl ItemKind {
    /// The lowercase name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Product => "product",
            ItemKind::Ad => "ad",
        }
    }
}

/// A product or ad as stored. Its body is the item's full JSON; the catalog and ads
/// modules give it a typed shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogRecord {
    /// Product or ad.
    pub kind: ItemKind,
    /// The item's id, unique within its kind.
    pub id: String,
    /// Its category, if any.
    pub category: Option<String>,
    /// The item itself.
    pub body: serde_json::Value,
    /// When it was last written.
    pub updated_at: Timestamp,
}

/// What recording an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// The event changed the profile (or, for impressions, was counted).
    Applied,
    /// An event with this id was recorded before; nothing changed.
    Duplicate,
    /// The user already likes (or uploaded) this post; nothing changed.
    AlreadyActive,
    /// An unlike of a post the user does not like; nothing changed.
    NothingToUndo,
}

impl EventStatus {
    /// The lowercase name used in the bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Applied => "applied",
            EventStatus::Duplicate => "duplicate",
            EventStatus::AlreadyActive => "already_active",
            EventStatus::NothingToUndo => "nothing_to_undo",
        }
    }
}

/// The result of [`Store::record_event`].
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// What happened.
    pub status: EventStatus,
    /// What the event changed, term by term (negative for an unlike); empty unless applied.
    pub deltas: Vec<TermDelta>,
}

/// Rows removed by [`Store::forget_user`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetReport {
    /// Interest rows.
    pub interests: u64,
    /// Events.
    pub events: u64,
    /// Active likes and uploads.
    pub active_signals: u64,
    /// Posts the user authored.
    pub posts: u64,
    /// Cached captions of images no other post uses.
    pub captions: u64,
    /// Ad category opt-outs.
    pub opt_outs: u64,
    /// Cached responses built from the user's data (LLM answers), the entries filed under
    /// [`user_cache_prefix`].
    pub cached_answers: u64,
    /// Precomputed neighbours: 1 for the user's own [`NeighbourList`] (if stored) plus 1 for
    /// every entry naming the user in another user's list.
    #[serde(default)]
    pub neighbours: u64,
    /// Stored audience entries naming the user (one per ad whose audience listed them).
    #[serde(default)]
    pub audiences: u64,
}

impl ForgetReport {
    /// Total rows removed.
    pub fn total(&self) -> u64 {
        self.interests
            + self.events
            + self.active_signals
            + self.posts
            + self.captions
            + self.opt_outs
            + self.cached_answers
            + self.neighbours
            + self.audiences
    }
}

/// One precomputed neighbour: another user, how similar, and through which interests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// The other user.
    pub user: UserId,
    /// Cosine similarity of the two decayed profiles when the list was computed, 0..=1.
    pub score: f64,
    /// The interests both shared then, largest contribution first.
    pub shared_terms: Vec<String>,
}

/// A user's precomputed nearest neighbours, best first, and when they were computed: the
/// rows of the neighbour table behind stateless serving (see `docs/scaling.md`), written by
/// [`Engine::build_neighbours`](crate::Engine::build_neighbours) or a batch job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeighbourList {
    /// Whose neighbours these are.
    pub user: UserId,
    /// The neighbours, best first.
    pub neighbours: Vec<Neighbour>,
    /// When they were computed (the writer's clock).
    pub computed_at: Timestamp,
}

/// One page of a scan: up to the limit asked for, and where to go on.
///
/// A page may hold fewer items than asked (DynamoDB filters after it reads) and still have a
/// `next`; only `next == None` ends the scan. Cursors are opaque strings, valid for the
/// backend that made them.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sociallens::{store::Page, MemoryStore, Store};
/// let store = MemoryStore::new();
/// let page: Page<_> = store.scan_events(None, 100).await?;
/// assert!(page.items.is_empty() && page.next.is_none());
/// # Ok::<(), sociallens::Error>(()) }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The page of `items` read with a limit of `limit`, where `key` gives the cursor after
    /// the last item: a full page may have more after it, a short one is the end.
    pub(crate) fn after_last<K: Serialize>(
        items: Vec<T>,
        limit: usize,
        key: impl Fn(&T) -> K,
    ) -> Result<Self> {
        let next = match items.last() {
            Some(last) if items.len() >= limit => Some(encode_cursor(&key(last))?),
            _ => None,
        };
        Ok(Self { items, next })
    }
}

/// An opaque cursor: the JSON of a backend's resume key, hex-encoded (so that it is a plain
/// token in URLs and logs, and nobody is tempted to build one by hand).
pub(crate) fn encode_cursor<K: Serialize>(key: &K) -> Result<String> {
    Ok(hex::encode(serde_json::to_vec(key)?))
}

/// Reads a cursor made by [`encode_cursor`]; anything else is [`Error::InvalidInput`].
pub(crate) fn decode_cursor<K: serde::de::DeserializeOwned>(cursor: &str) -> Result<K> {
    hex::decode(cursor)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| Error::invalid("not a cursor of this store's scans"))
}

/// An ad-category opt-out as stored, as [`Store::scan_opt_outs`] pages them.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sociallens::{MemoryStore, Store, Timestamp, UserId};
/// let store = MemoryStore::new();
/// let at = Timestamp::from_millis(1_000);
/// store.set_opt_out(&UserId::new("ana")?, "surf", true, at).await?;
/// let page = store.scan_opt_outs(None, 10).await?;
/// assert_eq!((page.items[0].category.as_str(), page.items[0].at), ("surf", at));
/// # Ok::<(), sociallens::Error>(()) }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOutRecord {
    /// Who opted out.
    pub user: UserId,
    /// Of which category.
    pub category: String,
    /// Since when (the engine's clock at the time).
    pub at: Timestamp,
}

/// One member of a stored audience.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudienceEntry {
    /// The user.
    pub user: UserId,
    /// How well they fit the ad (higher is better).
    pub score: f64,
}

/// An ad's precomputed audience, best first, as written by a batch job (see
/// [`Store::put_audience`]).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sociallens::{AudienceEntry, MemoryStore, Store, Timestamp, UserId};
/// let store = MemoryStore::new();
/// let members = [
///     AudienceEntry { user: UserId::new("ana")?, score: 0.9 },
///     AudienceEntry { user: UserId::new("ben")?, score: 0.7 },
/// ];
/// store.put_audience("ad-1", &members, Timestamp::from_millis(0)).await?;
/// let top = store.audience("ad-1", 1).await?.unwrap();
/// assert_eq!(top.members[0].user.as_str(), "ana");
/// assert_eq!(store.forget_user(&UserId::new("ana")?).await?.audiences, 1);
/// # Ok::<(), sociallens::Error>(()) }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAudience {
    /// The ad.
    pub ad_id: String,
    /// Its members, best first (rank 0 first).
    pub members: Vec<AudienceEntry>,
    /// When it was computed.
    pub computed_at: Timestamp,
}

/// Checks an audience before it is stored: finite scores, nobody twice.
pub(crate) fn check_audience(ad_id: &str, members: &[AudienceEntry]) -> Result<()> {
    if ad_id.is_empty() {
        return Err(Error::invalid("an audience needs an ad id"));
    }
    let mut seen = std::collections::HashSet::new();
    for m in members {
        if !m.score.is_finite() {
            return Err(Error::invalid(format!(
                "audience of ad {ad_id}: {} has score {}",
                m.user, m.score
            )));
        }
        if !seen.insert(&m.user) {
            return Err(Error::invalid(format!(
                "audience of ad {ad_id} lists {} twice",
                m.user
            )));
        }
    }
    Ok(())
}

/// Checks lists before a backend writes any of them: every score a finite number in
/// 0..=1 (a cosine) and no user listed as their own neighbour. One bad list rejects the
/// batch and nothing is written.
pub(crate) fn check_neighbour_lists(lists: &[NeighbourList]) -> Result<()> {
    for list in lists {
        for n in &list.neighbours {
            if !(0.0..=1.0 + 1e-6).contains(&n.score) {
                return Err(Error::invalid(format!(
                    "neighbour {} of {} has score {}: expected a cosine in 0..=1",
                    n.user, list.user, n.score
                )));
            }
            if n.user == list.user {
                return Err(Error::invalid(format!(
                    "{} is listed as their own neighbour",
                    list.user
                )));
            }
        }
    }
    Ok(())
}

/// Where sociallens keeps profiles, events, posts, captions and the catalog.
///
/// Implementations must make [`Store::record_event`] atomic and idempotent: concurrent
/// events on one user lose nothing, and an event id seen before changes nothing.
/// Backends are picked in code or by URL with [`open_store`].
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// A short name of the backend ("memory", "sqlite").
    fn backend(&self) -> &'static str;

    /// Records an event and applies its deltas to the user's profile, atomically.
    async fn record_event(&self, event: Event, decay: Decay) -> Result<Recorded>;

    /// Every stored interest row of a user (forward-decayed parts; read them with
    /// [`InterestRecord::weight_at`]).
    async fn interests(&self, user: &UserId) -> Result<Vec<InterestRecord>>;

    /// An event by id.
    async fn event(&self, id: &EventId) -> Result<Option<Event>>;

    /// The user's most recent events, newest first.
    async fn user_events(&self, user: &UserId, limit: usize) -> Result<Vec<Event>>;

    /// Inserts a post, or fills in the fields given for a post already stored.
    async fn put_post(&self, post: &PostRecord) -> Result<()>;

    /// A post by id.
    async fn post(&self, id: &PostId) -> Result<Option<PostRecord>>;

    /// The cached caption of an image, by the SHA-256 of its bytes.
    async fn cached_caption(&self, image_sha256: &str) -> Result<Option<CachedCaption>>;

    /// Stores (or replaces) a cached caption.
    async fn put_cached_caption(&self, entry: &CachedCaption) -> Result<()>;

    /// Inserts or replaces catalog items (products or ads).
    async fn put_items(&self, items: &[CatalogRecord]) -> Result<()>;

    /// All catalog items of one kind, by id.
    async fn items(&self, kind: ItemKind) -> Result<Vec<CatalogRecord>>;

    /// Removes a catalog item; `false` if there was none.
    async fn remove_item(&self, kind: ItemKind, id: &str) -> Result<bool>;

    /// A cached response (for example an LLM answer) by key, unless it expired before `now`.
    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>>;

    /// Caches a response until `expires_at` (replacing any entry with the same key). `now` is
    /// the caller's clock (the engine's, which may be a [`ManualClock`](crate::ManualClock)):
    /// a backend may drop entries that expired before it, never by its own clock.
    async fn cache_put(
        &self,
        key: &str,
        value: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()>;

    /// Erases every record about the user: interests, events, likes, authored posts, the
    /// cached captions of their images that no other post shares, their opt-outs, and the
    /// cached responses whose key starts with [`user_cache_prefix`] of the user.
    async fn forget_user(&self, user: &UserId) -> Result<ForgetReport>;

    /// Up to `limit` users with interests, in id order, starting after `after`, each with
    /// every interest row: how the similarity index is loaded, page by page.
    async fn scan_interests(
        &self,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, Vec<InterestRecord>)>>;

    /// Clicks and impressions with `from <= at < to`, oldest first.
    async fn item_events(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Event>>;

    /// For each item the user has events of `kind` on: how many since `since`, and in all.
    async fn user_item_counts(
        &self,
        user: &UserId,
        kind: EventKind,
        since: Timestamp,
    ) -> Result<Vec<ItemCount>>;

    /// Records (or, with `opted_out == false`, withdraws) a user's opt-out from a category,
    /// as of `at` (the engine's clock).
    async fn set_opt_out(
        &self,
        user: &UserId,
        category: &str,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<()>;

    /// The categories a user opted out of, sorted.
    async fn opt_outs(&self, user: &UserId) -> Result<Vec<String>>;

    /// Every user who opted out of a category.
    async fn opted_out_users(&self, category: &str) -> Result<Vec<UserId>>;

    /// Replaces the stored neighbour list of each user given (an empty list clears it).
    /// Lists are checked first (scores are cosines in 0..=1, nobody is their own
    /// neighbour): a bad one rejects the call with [`Error::InvalidInput`] and writes
    /// nothing. When a user appears twice, the last list wins.
    async fn put_neighbours(&self, lists: &[NeighbourList]) -> Result<()>;

    /// The stored lists of those of `users` that have one, in the order asked.
    async fn neighbours(&self, users: &[UserId]) -> Result<Vec<NeighbourList>>;

    /// Up to `limit` users with a stored interest in `term`, in user-id order after `after`,
    /// each with that interest row: the term -> users lookup behind audiences without a scan.
    async fn users_with_term(
        &self,
        term: &str,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, InterestRecord)>>;

    /// A page of cached captions, in a stable order.
    async fn scan_captions(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<CachedCaption>>;

    /// A page of posts, in a stable order.
    async fn scan_posts(&self, cursor: Option<&str>, limit: usize) -> Result<Page<PostRecord>>;

    /// A page of every stored event (all kinds, all users), in a stable order.
    async fn scan_events(&self, cursor: Option<&str>, limit: usize) -> Result<Page<Event>>;

    /// A page of the clicks and impressions with `from <= at < to`, in a stable order (not
    /// necessarily by time): how reports stream over history.
    async fn item_events_page(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Event>>;

    /// A page of ad-category opt-outs, in a stable order.
    async fn scan_opt_outs(&self, cursor: Option<&str>, limit: usize)
        -> Result<Page<OptOutRecord>>;

    /// A page of stored neighbour lists (each whole), in a stable order.
    async fn scan_neighbours(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<NeighbourList>>;

    /// Replaces the stored audience of an ad (an empty list removes it). Members are checked
    /// first (finite scores, nobody twice): a bad list is [`Error::InvalidInput`] and writes
    /// nothing.
    async fn put_audience(
        &self,
        ad_id: &str,
        members: &[AudienceEntry],
        computed_at: Timestamp,
    ) -> Result<()>;

    /// The stored audience of an ad, its best `limit` members, if one is stored.
    async fn audience(&self, ad_id: &str, limit: usize) -> Result<Option<StoredAudience>>;

    /// A page of stored audiences (each whole), in a stable order.
    async fn scan_audiences(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<StoredAudience>>;
}

/// The prefix of every cache key that holds data of `user` (an LLM answer to a prompt built
/// from their interests and captions): [`Store::forget_user`] removes those entries. The
/// user id itself is hashed, so cache keys never carry it.
///
/// ```
/// use sociallens::{store::user_cache_prefix, UserId};
/// let p = user_cache_prefix(&UserId::new("ana")?);
/// assert!(p.starts_with("u:") && p.ends_with(':') && !p.contains("ana"));
/// # Ok::<(), sociallens::Error>(())
/// ```
pub fn user_cache_prefix(user: &UserId) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(user.as_str().as_bytes());
    format!("u:{}:", hex::encode(&digest[..16]))
}

/// How often a user did something to one item (see [`Store::user_item_counts`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemCount {
    /// The item, as events name it (`ad:<id>`).
    pub item: String,
    /// Events since the time asked for.
    pub recent: u64,
    /// Events in all.
    pub total: u64,
}

/// Opens a store from a URL: `memory://`, `sqlite:///absolute/path.db`,
/// `sqlite://relative/path.db`, or (with the cargo feature `dynamodb`)
/// `dynamodb://TABLE?region=..&endpoint=..&create=true` (see `DynamoStore::from_url`; the
/// client is made on the store's first call, so opening does no I/O).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("sqlite://{}/app.db", dir.path().display());
/// let store = sociallens::open_store(&url)?;
/// assert_eq!(store.backend(), "sqlite");
/// assert_eq!(sociallens::open_store("memory://")?.backend(), "memory");
/// assert!(sociallens::open_store("postgres://x").is_err());
/// // Credentials in a URL never reach the error (or logs).
/// let err = sociallens::open_store("postgres://me:s3cret@db/x").unwrap_err();
/// assert!(!err.to_string().contains("s3cret"));
/// # Ok::<(), sociallens::Error>(()) }).unwrap();
/// ```
pub fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    if url == "memory://" || url == "memory" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(Error::invalid(
                "sqlite URL has no path: use sqlite:///path/to.db",
            ));
        }
        return Ok(Arc::new(SqliteStore::open(path)?));
    }
    if url.starts_with("dynamodb://") {
        #[cfg(feature = "dynamodb")]
        return Ok(Arc::new(DynamoStore::from_url(url)?));
        #[cfg(not(feature = "dynamodb"))]
        return Err(Error::Unsupported(
            "the DynamoDB backend is not part of this build (cargo feature `dynamodb`)".into(),
        ));
    }
    Err(Error::invalid(format!(
        "unknown store URL {:?}: expected memory:// or sqlite:///path",
        crate::redact::redact_url(url)
    )))
}

/// Row operations a backend offers inside one atomic unit of work.
pub(crate) trait EventTxn {
    fn event(&mut self, id: &EventId) -> Result<Option<Event>>;
    fn insert_event(&mut self, event: &Event) -> Result<()>;
    fn active(&mut self, user: &UserId, kind: EventKind, post: &PostId) -> Result<Option<EventId>>;
    fn set_active(
        &mut self,
        user: &UserId,
        kind: EventKind,
        post: &PostId,
        event: Option<&EventId>,
    ) -> Result<()>;
    /// Adds `part` to the (user, term) row without reading it: `count_change` to its count,
    /// `last_seen` moved forward to `seen` when given, parts anchored before `drop_before` removed.
    fn add_interest(&mut self, user: &UserId, term: &str, add: &InterestAdd) -> Result<()>;
    /// After removals: deletes the row if no signal counts any more, else returns it.
    fn settle_interest(&mut self, user: &UserId, term: &str) -> Result<Option<InterestRecord>>;
    fn set_last_seen(&mut self, user: &UserId, term: &str, at: Timestamp) -> Result<()>;
    /// Events of the user that still count: active likes/uploads, clicks, impressions.
    fn counting_events(&mut self, user: &UserId) -> Result<Vec<Event>>;
}

/// One blind addition to an interest row (see [`EventTxn::add_interest`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct InterestAdd {
    pub part: WeightPart,
    pub count_change: i64,
    pub seen: Option<Timestamp>,
    pub drop_before: Timestamp,
}

impl InterestAdd {
    /// What a signal of `weight` at `at` adds (a negative weight and −1 for a removal).
    pub(crate) fn new(weight: f64, at: Timestamp, count_change: i64, decay: Decay) -> Self {
        let part = decay.scale(weight, at);
        Self {
            part,
            count_change,
            seen: (count_change > 0).then_some(at),
            drop_before: decay.stale_before(part.anchor),
        }
    }
}

/// Whether two events with one id describe the same thing (a replay, not a reuse).
pub(crate) fn same_event(a: &Event, b: &Event) -> bool {
    a.user == b.user && a.kind == b.kind && a.post == b.post && a.item == b.item
}

/// The one implementation of event semantics, run by every transactional backend inside its
/// transaction (DynamoDB, without multi-statement transactions, follows the same rules in its
/// own code and the conformance suite holds both to them). Adding a signal never reads the
/// interest rows: each term is one blind addition of a forward-decayed part.
pub(crate) fn apply_event(
    txn: &mut dyn EventTxn,
    mut event: Event,
    decay: Decay,
) -> Result<Recorded> {
    if let Some(seen) = txn.event(&event.id)? {
        if !same_event(&seen, &event) {
            return Err(Error::Conflict(format!(
                "event id {} was already used for a {} by {} ",
                event.id, seen.kind, seen.user
            )));
        }
        return Ok(Recorded {
            status: EventStatus::Duplicate,
            deltas: Vec::new(),
        });
    }
    let noop = |txn: &mut dyn EventTxn, mut event: Event, status| {
        event.deltas.clear();
        txn.insert_event(&event)?;
        Ok(Recorded {
            status,
            deltas: Vec::new(),
        })
    };
    event.deltas.retain(|d| d.weight != 0.0);
    match event.kind {
        EventKind::Like | EventKind::Upload => {
            let post = event
                .post
                .clone()
                .ok_or_else(|| Error::invalid(format!("a {} needs a post", event.kind)))?;
            if txn.active(&event.user, event.kind, &post)?.is_some() {
                return noop(txn, event, EventStatus::AlreadyActive);
            }
            for d in &event.deltas {
                let add = InterestAdd::new(d.weight, event.at, 1, decay);
                txn.add_interest(&event.user, &d.term, &add)?;
            }
            txn.set_active(&event.user, event.kind, &post, Some(&event.id))?;
            txn.insert_event(&event)?;
        }
        EventKind::Unlike => {
            let post = event
                .post
                .clone()
                .ok_or_else(|| Error::invalid("an unlike needs a post"))?;
            let Some(like_id) = txn.active(&event.user, EventKind::Like, &post)? else {
                return noop(txn, event, EventStatus::NothingToUndo);
            };
            let like = txn.event(&like_id)?.ok_or_else(|| Error::Storage {
                message: format!("active like {like_id} has no event record"),
                source: None,
            })?;
            txn.set_active(&event.user, EventKind::Like, &post, None)?;
            let mut stale_last_seen = Vec::new();
            for d in &like.deltas {
                let add = InterestAdd::new(-d.weight, like.at, -1, decay);
                txn.add_interest(&event.user, &d.term, &add)?;
                if let Some(rec) = txn.settle_interest(&event.user, &d.term)? {
                    if rec.last_seen == like.at {
                        stale_last_seen.push(rec.term);
                    }
                }
            }
            if !stale_last_seen.is_empty() {
                // The removed like may have been the latest signal of a term: take
                // last_seen from the signals that still count.
                let counting = txn.counting_events(&event.user)?;
                for term in stale_last_seen {
                    let latest = counting
                        .iter()
                        .filter(|e| e.id != like.id && e.deltas.iter().any(|d| d.term == term))
                        .map(|e| e.at)
                        .max();
                    if let Some(latest) = latest {
                        txn.set_last_seen(&event.user, &term, latest)?;
                    }
                }
            }
            event.deltas = like
                .deltas
                .iter()
                .map(|d| TermDelta {
                    term: d.term.clone(),
                    weight: -d.weight,
                })
                .collect();
            txn.insert_event(&event)?;
        }
        EventKind::Click | EventKind::Impression => {
            for d in &event.deltas {
                let add = InterestAdd::new(d.weight, event.at, 1, decay);
                txn.add_interest(&event.user, &d.term, &add)?;
            }
            txn.insert_event(&event)?;
        }
    }
    Ok(Recorded {
        status: EventStatus::Applied,
        deltas: event.deltas,
    })
}

/// Merges a post being written into the stored one: given fields win, missing ones are kept.
pub(crate) fn merge_post(stored: Option<PostRecord>, new: &PostRecord) -> PostRecord {
    match stored {
        None => new.clone(),
        Some(old) => PostRecord {
            id: old.id,
            author: new.author.clone().or(old.author),
            caption: new.caption.clone().or(old.caption),
            image_sha256: new.image_sha256.clone().or(old.image_sha256),
            interests: new.interests.clone().or(old.interests),
            created_at: old.created_at,
        },
    }
}
