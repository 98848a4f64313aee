//! The engine's ads, similar users, audiences, impressions, clicks and reports.

use super::{Engine, EventOptions, EventOutcome};
use crate::ads::index::{user_vector, AdFilter, Index, IndexSnapshot};
use crate::ads::{
    normalize_category, Ad, AdMatch, AdStatus, AudienceMember, AudienceQuery, SimilarUser,
};
use crate::analytics::{Report, ReportQuery};
use crate::domain::{EventKind, TermDelta};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::interests::normalize_terms;
use crate::store::{EventStatus, ItemKind};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

mod stateless;

/// Users read from the store per page while loading the index.
const LOAD_PAGE: usize = 10_000;

/// Users whose neighbours one blocking task computes, and one `put_neighbours` writes.
const NEIGHBOUR_BATCH: usize = 500;

/// Most neighbours [`Engine::build_neighbours`] keeps per user.
pub const MAX_NEIGHBOURS: usize = 10_000;

/// Store reads in flight at once for one stateless request (neighbours' clicks, audience
/// candidates' profiles).
const READ_CONCURRENCY: usize = 16;

/// The least age of the ads inventory at which an unknown ad id makes stateless serving read
/// the ads again (see [`Engine::ad`]).
const INVENTORY_MISS_RELOAD: Duration = Duration::from_secs(1);

/// Users read per `users_with_term` page by stateless audiences.
const TERM_PAGE: usize = 1_000;

/// How an engine serves [`ads_for`](Engine::ads_for),
/// [`similar_users`](Engine::similar_users) and audiences (see `docs/scaling.md`).
///
/// ```
/// use sociallens::Serving;
/// use std::time::Duration;
/// assert_eq!(Serving::default(), Serving::InMemoryIndex);
/// let s = Serving::Stateless { inventory_ttl: Duration::from_secs(10) };
/// assert!(s.is_stateless() && !Serving::InMemoryIndex.is_stateless());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Serving {
    /// One process holds every user's vector: the whole similarity index is built from the
    /// store on first use (a scan of every user) and kept current by the engine's own
    /// events. Similar users and lookalikes are live.
    #[default]
    InMemoryIndex,
    /// Nothing is scanned at start, for many processes (or Lambda) over one store. In
    /// memory: only the ads inventory (ads, their terms, semantic matches). Per request:
    /// the user's own interest rows (so a like changes their ads at once), opt-outs,
    /// impressions and clicks from the store; similar users and the lookalike signal from
    /// the precomputed neighbour table ([`Engine::build_neighbours`] or a batch job), whose
    /// time the results carry; interest audiences from [`Store::users_with_term`](crate::Store::users_with_term).
    Stateless {
        /// How long the ads inventory is served before it is read again: ads written by
        /// other processes appear within it (this engine's own ad writes at once).
        inventory_ttl: Duration,
    },
}

impl Serving {
    /// The default [`Serving::Stateless::inventory_ttl`]: one minute.
    pub const DEFAULT_INVENTORY_TTL: Duration = Duration::from_secs(60);

    /// Stateless serving with the default inventory TTL.
    pub fn stateless() -> Self {
        Serving::Stateless {
            inventory_ttl: Self::DEFAULT_INVENTORY_TTL,
        }
    }

    /// Whether this is [`Serving::Stateless`].
    pub fn is_stateless(&self) -> bool {
        matches!(self, Serving::Stateless { .. })
    }
}

/// Events [`Engine::click_report`] reads from the store per page.
pub(crate) const REPORT_PAGE: usize = 5000;

/// What [`Engine::build_neighbours`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NeighbourStats {
    /// Users whose list was written (an empty list, for a user without similar users,
    /// clears theirs).
    pub users: usize,
    /// Neighbour entries written, over all lists.
    pub neighbours: usize,
    /// The time every list was stamped with (the engine's clock when the build started).
    pub computed_at: Timestamp,
}

/// Stripes of the per-user lock ([`AdsState::user_lock`]): users sharing one only queue their
/// index updates behind each other.
const USER_LOCK_STRIPES: usize = 256;

/// The in-memory index and its loading state.
///
/// The index mirrors the store, and every update runs after the store write it mirrors, so
/// updates race unless ordered:
/// - A profile is re-read from the store and written to the index under its user's lock
///   ([`user_lock`](Self::user_lock)): two refreshes of one user cannot cross, and the one
///   that writes last read last, after every event whose refresh it follows.
/// - Clicks and forgets change the index incrementally instead: their user's lock is held
///   from the store write on, so the index applies them in the store's order. Ad writes are
///   ordered the same way by `ad_writes`.
/// - A rebuild reads the store while events keep coming. Each incremental change made
///   meanwhile is logged in `pending` (under that lock, which the swap takes too, so a change
///   reaches either the log or the new index) and replayed onto the new index at the swap;
///   the replays are idempotent, as the new index may have read them already. Users whose
///   profile changed meanwhile are re-read after the swap.
///
/// Queries (`ads_for`, `similar_users`, audiences) only take the index's read lock.
pub(crate) struct AdsState {
    index: RwLock<Index>,
    loaded: AtomicBool,
    loading: tokio::sync::Mutex<()>,
    /// What changed while the index was loading (`Some` only then).
    pending: Mutex<Option<Pending>>,
    /// Orders each user's index updates (striped by `user_hasher`).
    user_locks: Box<[tokio::sync::Mutex<()>]>,
    user_hasher: RandomState,
    /// Orders ad writes: held from the store write to the index update.
    ad_writes: tokio::sync::Mutex<()>,
    /// When the index was last (re)built: stateless serving reloads its inventory by age.
    built_at: Mutex<Option<std::time::Instant>>,
}

impl Default for AdsState {
    fn default() -> Self {
        Self {
            index: RwLock::default(),
            loaded: AtomicBool::new(false),
            loading: tokio::sync::Mutex::new(()),
            pending: Mutex::new(None),
            user_locks: (0..USER_LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            user_hasher: RandomState::new(),
            ad_writes: tokio::sync::Mutex::new(()),
            built_at: Mutex::new(None),
        }
    }
}

/// Index changes made while a rebuild reads the store.
#[derive(Default)]
struct Pending {
    /// Users whose profile changed: re-read once the new index is in.
    users: HashSet<UserId>,
    /// Incremental changes, in the order they were made.
    log: Vec<IndexOp>,
}

/// An incremental change to the index (idempotent: applying it twice equals once).
enum IndexOp {
    /// Ads added or replaced.
    Ads(Vec<Ad>),
    Click {
        user: UserId,
        ad: String,
        at: Timestamp,
        event: String,
    },
    Forget(UserId),
}

impl IndexOp {
    fn apply(&self, ix: &mut Index) {
        match self {
            IndexOp::Ads(ads) => {
                let new_terms = ads
                    .iter()
                    .any(|a| ix.ad(&a.id).is_none_or(|old| old.interests != a.interests));
                for ad in ads {
                    ix.put_ad(ad.clone());
                }
                if new_terms {
                    ix.clear_semantic();
                }
            }
            IndexOp::Click {
                user,
                ad,
                at,
                event,
            } => ix.add_click(user, ad, *at, event),
            IndexOp::Forget(user) => ix.remove_user(user),
        }
    }
}

/// What the in-memory index holds (see [`Engine::refresh_index`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IndexStats {
    /// Users with at least one interest.
    pub users: usize,
    /// Ads, in any status.
    pub ads: usize,
    /// Distinct terms of profiles and targeting.
    pub terms: usize,
}

fn ad_item(id: &str) -> String {
    format!("ad:{id}")
}

impl AdsState {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        // Index updates never leave half-written state behind a panic.
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Option<Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock that orders `user`'s index updates (see [`AdsState`]).
    fn user_lock(&self, user: &UserId) -> &tokio::sync::Mutex<()> {
        let stripe = self.user_hasher.hash_one(user) as usize % self.user_locks.len();
        &self.user_locks[stripe]
    }

    /// Makes an incremental change to the index and, while a rebuild runs, logs it for the
    /// new index (both under `pending`, which the swap holds).
    fn change(&self, op: IndexOp) {
        let mut pending = self.pending();
        op.apply(&mut self.write());
        if let Some(p) = pending.as_mut() {
            if let IndexOp::Forget(user) = &op {
                p.users.insert(user.clone());
            }
            p.log.push(op);
        }
    }
}

impl Engine {
    fn stateless(&self) -> bool {
        self.inner.serving.is_stateless()
    }

    /// Whether the index must be (re)built: on first use, and in stateless serving when
    /// the inventory is older than its TTL.
    fn index_due(&self) -> bool {
        let st = &self.inner.ads;
        if !st.loaded.load(Ordering::Acquire) {
            return true;
        }
        match self.inner.serving {
            Serving::InMemoryIndex => false,
            Serving::Stateless { inventory_ttl } => st
                .built_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_none_or(|t| t.elapsed() >= inventory_ttl),
        }
    }

    /// Builds the index from the store on first use (in stateless serving: the ads
    /// inventory only, again once its TTL has passed).
    async fn ads_index(&self) -> Result<RwLockReadGuard<'_, Index>> {
        let st = &self.inner.ads;
        if self.index_due() {
            let _guard = st.loading.lock().await;
            if self.index_due() {
                self.load_index().await?;
            }
        }
        Ok(st.read())
    }

    /// Builds a fresh index while the old one (if any) keeps serving, then swaps it in with
    /// the changes made meanwhile (see [`AdsState`]). Callers hold `loading`.
    async fn load_index(&self) -> Result<()> {
        let st = &self.inner.ads;
        *st.pending() = Some(Pending::default());
        let built = self.build_index().await;
        let (users, old) = {
            let mut p = st.pending();
            let pending = p.take().unwrap_or_default();
            let mut built = built?;
            for op in &pending.log {
                op.apply(&mut built);
            }
            let mut ix = st.write();
            built.succeed(&ix);
            let old = std::mem::replace(&mut *ix, built);
            *st.built_at.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(std::time::Instant::now());
            st.loaded.store(true, Ordering::Release);
            (pending.users, old)
        };
        drop(old);
        // The rebuild may have read these profiles before they changed. Every user is tried:
        // one failed read must not leave the others stale.
        let mut first_error = None;
        for user in users {
            if let Err(e) = self.refresh_user(&user).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn build_index(&self) -> Result<Index> {
        let store = &self.inner.store;
        let mut ix = Index::default();
        for r in store.items(ItemKind::Ad).await? {
            ix.put_ad(Ad::from_record(&r)?);
        }
        if self.stateless() {
            // The inventory only: users are read per request.
            return Ok(ix);
        }
        self.load_users(&mut ix, self.now()).await?;
        let far = Timestamp::from_millis(i64::MAX);
        for e in store
            .item_events(Timestamp::from_millis(i64::MIN), far)
            .await?
        {
            if e.kind == EventKind::Click {
                if let Some(ad) = e.item.as_deref().and_then(|i| i.strip_prefix("ad:")) {
                    ix.add_click(&e.user, ad, e.at, e.id.as_str());
                }
            }
        }
        Ok(ix)
    }

    /// Adds every user's vector, decayed to `now`, to `ix`, page by page.
    async fn load_users(&self, ix: &mut Index, now: Timestamp) -> Result<()> {
        let store = &self.inner.store;
        let mut after: Option<UserId> = None;
        loop {
            let page = store.scan_interests(after.as_ref(), LOAD_PAGE).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (user, records) in &page {
                let (v, norm) = user_vector(&mut ix.vocab, records, now, self.inner.decay);
                ix.set_user_bulk(user, v, norm, now);
            }
            if page.len() < LOAD_PAGE {
                break;
            }
        }
        ix.compact_all();
        Ok(())
    }

    /// Takes the lock that orders `user`'s index updates (see [`AdsState`]). Hold it from a
    /// store write on when the index update that follows is incremental (clicks, forgets).
    pub(super) async fn lock_user(&self, user: &UserId) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.ads.user_lock(user).lock().await
    }

    /// Re-reads one user's profile into the index.
    async fn refresh_user(&self, user: &UserId) -> Result<()> {
        let _order = self.lock_user(user).await;
        self.refresh_user_locked(user).await
    }

    /// [`refresh_user`](Self::refresh_user) for a caller holding the user's lock, which must
    /// cover both the read and the write: a refresh that read older rows must not write last.
    async fn refresh_user_locked(&self, user: &UserId) -> Result<()> {
        if self.stateless() {
            // No user vectors are kept: requests read them from the store.
            return Ok(());
        }
        let records = self.inner.store.interests(user).await?;
        let now = self.now();
        let mut ix = self.inner.ads.write();
        let (v, norm) = user_vector(&mut ix.vocab, &records, now, self.inner.decay);
        ix.set_user(user, v, norm, now);
        Ok(())
    }

    /// Keeps the index current after an event changed a user's profile.
    pub(super) async fn profile_changed(&self, user: &UserId) {
        let _order = self.lock_user(user).await;
        self.profile_changed_locked(user).await;
    }

    /// [`profile_changed`](Self::profile_changed) for a caller holding the user's lock.
    async fn profile_changed_locked(&self, user: &UserId) {
        if self.stateless() {
            return;
        }
        let st = &self.inner.ads;
        let loaded = {
            let mut p = st.pending();
            if let Some(p) = p.as_mut() {
                p.users.insert(user.clone());
            }
            st.loaded.load(Ordering::Acquire)
        };
        if loaded {
            if let Err(e) = self.refresh_user_locked(user).await {
                // The event is stored; only the index lags. refresh_index catches up.
                tracing::warn!(user = %user, error = %e, "could not update the similarity index");
            }
        }
    }

    /// Drops a forgotten user's vector and clicks from the index. The caller holds the
    /// user's lock ([`lock_user`](Self::lock_user)) from the store's `forget_user` on, so a
    /// click recorded meanwhile is applied to the index on the same side of the forget as in
    /// the store.
    pub(super) fn user_forgotten(&self, user: &UserId) {
        self.inner.ads.change(IndexOp::Forget(user.clone()));
    }

    /// What the in-memory index holds, by user, term and ad id (loading it first if needed):
    /// for tests that compare the index events keep current with a fresh rebuild. Not part
    /// of the stable API.
    #[doc(hidden)]
    pub async fn index_snapshot(&self) -> Result<IndexSnapshot> {
        Ok(self.ads_index().await?.snapshot())
    }

    /// Rebuilds the in-memory index from the store, picking up what other processes wrote.
    /// The engine builds it on first use and keeps it current with the events it records
    /// itself, so a single-process deployment never needs this.
    ///
    /// ```
    /// use sociallens::{Engine, Post};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let engine = Engine::builder().store_url("memory://").build()?;
    /// engine.record_like("u1", Post::new("p1").with_interests(["dog", "park"])).await?;
    /// let stats = engine.refresh_index().await?;
    /// assert_eq!((stats.users, stats.terms > 0), (1, true));
    /// # Ok::<(), sociallens::Error>(()) }).unwrap();
    /// ```
    pub async fn refresh_index(&self) -> Result<IndexStats> {
        let st = &self.inner.ads;
        {
            let _guard = st.loading.lock().await;
            self.load_index().await?;
        }
        let ix = st.read();
        Ok(IndexStats {
            users: ix.user_count(),
            ads: ix.ad_count(),
            terms: ix.vocab.len(),
        })
    }

    /// After an import wrote to the store behind the engine's back: the in-memory index, if
    /// it was loaded, is rebuilt so that it shows what was imported.
    pub(crate) async fn imported(&self) -> Result<()> {
        if self.stateless() || !self.inner.ads.loaded.load(Ordering::Acquire) {
            return Ok(());
        }
        self.refresh_index().await.map(|_| ())
    }

    /// Adds or replaces ads. Every ad is checked before anything is written: one bad ad
    /// rejects the batch and changes nothing. Returns how many were written.
    ///
    /// ```
    /// use sociallens::{ads::Ad, Engine};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let engine = Engine::builder().store_url("memory://").build()?;
    /// let ad = Ad::new("ad-1", "WaveCo", "Boards for every wave", "surf").interests(["surfboard"]);
    /// assert_eq!(engine.add_ads(vec![ad]).await?, 1);
    /// assert!(engine.add_ads(vec![Ad::new("", "x", "y", "z")]).await.is_err());
    /// assert_eq!(engine.ads().await?.len(), 1);
    /// # Ok::<(), sociallens::Error>(()) }).unwrap();
    /// ```
    pub async fn add_ads(&self, ads: Vec<Ad>) -> Result<usize> {
        let ads: Vec<Ad> = ads.into_iter().map(Ad::validate).collect::<Result<_>>()?;
        let mut seen = HashSet::new();
        if let Some(dup) = ads.iter().find(|a| !seen.insert(a.id.as_str())) {
            return Err(Error::invalid(format!(
                "ad {} appears twice in the batch",
                dup.id
            )));
        }
        let now = self.now();
        let records = ads
            .iter()
            .map(|a| a.to_record(now))
            .collect::<Result<Vec<_>>>()?;
        {
            // Concurrent writes of one ad reach the index in the store's order.
            let _order = self.inner.ads.ad_writes.lock().await;
            self.inner.store.put_items(&records).await?;
            self.inner.ads.change(IndexOp::Ads(ads.clone()));
        }
        if self.inner.embedder.is_some() {
            let terms: Vec<String> = ads
                .iter()
                .flat_map(|a| a.interests.iter().cloned())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            self.vectors_for(&terms).await?;
        }
        Ok(ads.len())
    }

    /// [`add_ads`](Self::add_ads) from a `.jsonl` or `.csv` file (see [`Ad::from_path`]).
    pub async fn add_ads_from_path(&self, path: impl AsRef<std::path::Path>) -> Result<usize> {
        let path = path.as_ref().to_path_buf();
        let ads = tokio::task::spawn_blocking(move || Ad::from_path(path)).await??;
        self.add_ads(ads).await
    }

    /// Every ad that is not removed, by id.
    pub async fn ads(&self) -> Result<Vec<Ad>> {
        let mut out = Vec::new();
        for r in self.inner.store.items(ItemKind::Ad).await? {
            let ad = Ad::from_record(&r)?;
            if ad.status != AdStatus::Removed {
                out.push(ad);
            }
        }
        Ok(out)
    }

    /// An ad by id (removed ones included, with their status). In stateless serving an id
    /// the inventory does not know makes it read the ads again (at most once a second), so
    /// that clicks on an ad another process just added are not refused.
    pub async fn ad(&self, id: &str) -> Result<Option<Ad>> {
        let found = self.ads_index().await?.ad(id).map(|a| (**a).clone());
        if found.is_some() || !self.stateless() {
            return Ok(found);
        }
        let st = &self.inner.ads;
        {
            let _guard = st.loading.lock().await;
            let age = st
                .built_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .map(|t| t.elapsed());
            if age.is_none_or(|a| a >= INVENTORY_MISS_RELOAD) {
                self.load_index().await?;
            }
        }
        Ok(st.read().ad(id).map(|a| (**a).clone()))
    }

    async fn set_ad_status(&self, id: &str, status: AdStatus) -> Result<bool> {
        // Read, write and index update in one step: a concurrent pause and resume (or a
        // replacement by add_ads) must not undo each other in the index only.
        let _order = self.inner.ads.ad_writes.lock().await;
        let Some(mut ad) = self.ad(id).await? else {
            return Err(Error::NotFound {
                what: "ad",
                id: id.to_string(),
            });
        };
        if ad.status == status {
            return Ok(false);
        }
        if ad.status == AdStatus::Removed {
            return Err(Error::Conflict(format!(
                "ad {id} was removed; add it again to serve it"
            )));
        }
        ad.status = status;
        self.inner
            .store
            .put_items(&[ad.to_record(self.now())?])
            .await?;
        self.inner.ads.change(IndexOp::Ads(vec![ad]));
        Ok(true)
    }

    /// Stops serving an ad until [`resume_ad`](Self::resume_ad).
    pub async fn pause_ad(&self, id: &str) -> Result<()> {
        self.set_ad_status(id, AdStatus::Paused).await.map(|_| ())
    }

    /// Serves a paused ad again.
    pub async fn resume_ad(&self, id: &str) -> Result<()> {
        self.set_ad_status(id, AdStatus::Active).await.map(|_| ())
    }

    /// Withdraws an ad for good; `false` if it was already removed. Its record stays (as
    /// removed) so that reports still know its category.
    pub async fn remove_ad(&self, id: &str) -> Result<bool> {
        match self.ad(id).await? {
            None => Ok(false),
            Some(a) if a.status == AdStatus::Removed => Ok(false),
            Some(_) => self.set_ad_status(id, AdStatus::Removed).await,
        }
    }

    /// The `k` users whose decayed interest profiles are closest (cosine) to the user's,
    /// best first, each with the interests they share. Candidates come from the inverted
    /// index walked from the user's strongest interests; the best are rescored exactly.
    /// A user without interests has no similar users.
    ///
    /// ```
    /// use sociallens::{Engine, Post};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let engine = Engine::builder().store_url("memory://").build()?;
    /// engine.record_like("ana", Post::new("p1").with_interests(["surfboard", "wave"])).await?;
    /// engine.record_like("ben", Post::new("p2").with_interests(["surfboard", "beach"])).await?;
    /// engine.record_like("cleo", Post::new("p3").with_interests(["cat"])).await?;
    /// let peers = engine.similar_users("ana", 5).await?;
    /// assert_eq!(peers.len(), 1);
    /// assert_eq!((peers[0].user.as_str(), peers[0].shared.as_slice()), ("ben", &["surfboard".to_string()][..]));
    /// # Ok::<(), sociallens::Error>(()) }).unwrap();
    /// ```
    pub async fn similar_users(&self, user: &str, k: usize) -> Result<Vec<SimilarUser>> {
        let user = UserId::new(user)?;
        if self.stateless() {
            return self.stored_similar_users(&user, k).await;
        }
        let ix = self.ads_index().await?;
        // Posting lists grow with the users: walk at least one posting per 16 users
        // so recall holds at millions of users (measured in benches/src/bin/ads_scale.rs).
        let budget = self.inner.ads_config.candidate_budget.max(ix.slots() / 16);
        let Some(slot) = ix.user_slot(&user) else {
            return Ok(Vec::new());
        };
        Ok(ix
            .similar(slot, k, budget)
            .into_iter()
            .map(|(s, score)| SimilarUser {
                user: ix.user_id(s).clone(),
                score: f64::from(score),
                shared: ix.shared_terms(slot, s, 5),
                computed_at: None,
            })
            .collect())
    }

    /// Up to `k` ads for the user, best first. An ad qualifies by matching the user's
    /// interests (exactly, by lemma, as part of a compound, or, with an embedder, by
    /// meaning) or by having been clicked by the user's similar users; it is left out when
    /// paused, removed, outside its dates, over its frequency cap, in a category the user
    /// opted out of, or excluded by a category the user clicked. Every result explains
    /// itself. A user without interests or similar users gets no ads.
    ///
    /// Show the ads, then call [`record_impression`](Self::record_impression) for each one
    /// shown: that is what frequency caps count.
    ///
    /// ```
    /// use sociallens::{ads::Ad, Engine, Post};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let engine = Engine::builder().store_url("memory://").build()?;
    /// engine.add_ads(vec![
    ///     Ad::new("ad-1", "WaveCo", "Boards for every wave", "surf").interests(["surfboards", "wetsuit"]),
    ///     Ad::new("ad-2", "Chefs", "Knives", "kitchen").interests(["kitchen knife"]),
    /// ]).await?;
    /// engine.record_like("ana", Post::new("p1").with_interests(["surfboard", "beach"])).await?;
    /// let ads = engine.ads_for("ana", 3).await?;
    /// assert_eq!(ads.len(), 1);
    /// assert_eq!(ads[0].ad.id, "ad-1");
    /// assert_eq!(ads[0].matched[0].interest, "surfboard");
    /// assert_eq!(ads[0].matched[0].ad_term, "surfboards");
    /// # Ok::<(), sociallens::Error>(()) }).unwrap();
    /// ```
    pub async fn ads_for(&self, user: &str, k: usize) -> Result<Vec<AdMatch>> {
        let user = UserId::new(user)?;
        if self.stateless() {
            return self.stateless_ads_for(&user, k).await;
        }
        drop(self.ads_index().await?);
        if self.inner.embedder.is_some() {
            self.ensure_semantic(&user).await?;
        }
        let now = self.now();
        let (opted_out, impressions) = self.ad_filter_inputs(&user, now).await?;
        let ix = self.inner.ads.read();
        let Some(slot) = ix.user_slot(&user) else {
            return Ok(Vec::new());
        };
        let filter = AdFilter {
            now,
            opted_out: &opted_out,
            impressions: &impressions,
        };
        Ok(ix.ads_for(slot, k, &filter, &self.inner.ads_config))
    }

    /// What an [`AdFilter`] needs from the store: the user's opted-out categories, and
    /// their impressions per ad id (last 24 hours, ever).
    async fn ad_filter_inputs(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<(HashSet<String>, HashMap<String, (u64, u64)>)> {
        let opted_out: HashSet<String> =
            self.inner.store.opt_outs(user).await?.into_iter().collect();
        let impressions: HashMap<String, (u64, u64)> = self
            .inner
            .store
            .user_item_counts(
                user,
                EventKind::Impression,
                now.minus(Duration::from_secs(24 * 3600)),
            )
            .await?
            .into_iter()
            .filter_map(|c| {
                c.item
                    .strip_prefix("ad:")
                    .map(|id| (id.to_string(), (c.recent, c.total)))
            })
            .collect();
        Ok((opted_out, impressions))
    }

    /// Computes, once per term, which ad targeting terms are close in meaning.
    async fn ensure_semantic(&self, user: &UserId) -> Result<()> {
        self.ensure_semantic_of(|ix| ix.missing_semantic(user))
            .await
    }

    /// [`ensure_semantic`](Self::ensure_semantic) for the terms `missing` picks.
    async fn ensure_semantic_of(&self, missing: impl Fn(&Index) -> Vec<u32>) -> Result<()> {
        let (missing, ad_terms, epoch) = {
            let ix = self.inner.ads.read();
            let missing: Vec<(u32, String)> = missing(&ix)
                .into_iter()
                .map(|t| (t, ix.vocab.term(t).to_string()))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            let ad_terms: Vec<(u32, String)> = ix
                .ad_terms()
                .into_iter()
                .map(|t| (t, ix.vocab.term(t).to_string()))
                .collect();
            (missing, ad_terms, ix.semantic_epoch())
        };
        let threshold = self.inner.ads_config.semantic_threshold;
        let ad_texts: Vec<String> = ad_terms.iter().map(|t| t.1.clone()).collect();
        let ad_vecs = if ad_texts.is_empty() {
            Vec::new()
        } else {
            self.vectors_for(&ad_texts).await?
        };
        let texts: Vec<String> = missing.iter().map(|t| t.1.clone()).collect();
        let vecs = self.vectors_for(&texts).await?;
        let mut ix = self.inner.ads.write();
        if ix.semantic_epoch() != epoch {
            // The ads' terms changed, or a rebuild renumbered the terms, during the awaits:
            // these ids may name other terms now. The next call computes them afresh.
            return Ok(());
        }
        for ((term, _), v) in missing.iter().zip(&vecs) {
            let near: Vec<(u32, f32)> = ad_terms
                .iter()
                .zip(&ad_vecs)
                .map(|((t, _), a)| (*t, crate::recommend::cosine(v, a)))
                .filter(|(t, sim)| *t != *term && *sim >= threshold)
                .collect();
            ix.set_semantic(*term, near);
        }
        Ok(())
    }

    /// The opt-out category of an audience query (its ad's), checking the query.
    fn audience_category(ix: &Index, query: &AudienceQuery) -> Result<Option<String>> {
        match query {
            AudienceQuery::Interests(terms) if terms.is_empty() => {
                Err(Error::invalid("an audience needs at least one interest"))
            }
            AudienceQuery::Interests(_) => Ok(None),
            AudienceQuery::Ad(id) => Ok(Some(Self::audience_ad(ix, id)?.category.clone())),
        }
    }

    fn audience_ad<'a>(ix: &'a Index, id: &str) -> Result<&'a Arc<Ad>> {
        ix.ad(id).ok_or_else(|| Error::NotFound {
            what: "ad",
            id: id.to_string(),
        })
    }

    /// The query terms and the seed users (an ad's clickers) in `ix`'s slots.
    fn audience_parts(ix: &Index, query: &AudienceQuery) -> Result<(Vec<String>, Vec<u32>)> {
        match query {
            AudienceQuery::Interests(terms) => Ok((normalize_terms(terms)?, Vec::new())),
            AudienceQuery::Ad(id) => Ok((
                Self::audience_ad(ix, id)?.interests.clone(),
                ix.clickers(id),
            )),
        }
    }

    async fn audience_scored(
        &self,
        query: &AudienceQuery,
        limit: usize,
    ) -> Result<(Vec<AudienceMember>, usize)> {
        if self.stateless() {
            return self.stateless_audience(query, limit).await;
        }
        let category = {
            let ix = self.ads_index().await?;
            Self::audience_category(&ix, query)?
        };
        let opted_out: HashSet<UserId> = match &category {
            Some(c) => self
                .inner
                .store
                .opted_out_users(c)
                .await?
                .into_iter()
                .collect(),
            None => HashSet::new(),
        };
        // Slots are read under the same lock as the scores: a refresh_index during the
        // await above may have renumbered them.
        let ix = self.inner.ads.read();
        let (terms, seeds) = Self::audience_parts(&ix, query)?;
        let Some(q) = ix.audience_query(&terms, &seeds, 0.5) else {
            return Ok((Vec::new(), 0));
        };
        let seed_set: HashSet<u32> = seeds.iter().copied().collect();
        let min_score = self.inner.ads_config.audience_min_score as f32;
        let mut all = ix.audience(&q, |u| {
            seed_set.contains(&u) || opted_out.contains(ix.user_id(u))
        });
        all.retain(|s| s.1 >= min_score);
        let total = all.len();
        let members = all
            .into_iter()
            .take(limit)
            .map(|(u, score)| AudienceMember {
                user: ix.user_id(u).clone(),
                score: f64::from(score.min(1.0)),
                matched: ix.matched_terms(u, &q, 5),
            })
            .collect();
        Ok((members, total))
    }

    /// The users to target, best first (cosine between their profile and the query): for
    /// interests, users with those interests (or their lemmas and compounds); for an ad,
    /// users matching its targeting plus a lookalike of those who clicked it (who are
    /// themselves left out). Users who opted out of the ad's category are never included.
    ///
    /// An audience of fewer than [`AdsConfig::min_audience_size`](crate::ads::AdsConfig)
    /// users (default 50) is refused with [`Error::Privacy`], as
    /// [`audience_size`](Self::audience_size) refuses to count it: no small group can be
    /// singled out. Platform-internal jobs that must see every member call
    /// [`audience_bypassing_privacy_minimum`](Self::audience_bypassing_privacy_minimum).
    ///
    /// ```
    /// use sociallens::{ads::{AdsConfig, AudienceQuery}, Engine, Error, Post};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let config = AdsConfig { min_audience_size: 2, ..AdsConfig::default() };
    /// let engine = Engine::builder().store_url("memory://").ads_config(config).build()?;
    /// engine.record_like("ana", Post::new("p1").with_interests(["surfboard", "wave"])).await?;
    /// engine.record_like("ben", Post::new("p2").with_interests(["cat"])).await?;
    /// let surfers = AudienceQuery::interests(["surfboards"]);
    /// // One surfer: too few to hand out.
    /// assert!(matches!(engine.audience(surfers.clone(), 10).await, Err(Error::Privacy(_))));
    /// engine.record_like("cleo", Post::new("p3").with_interests(["surfboard"])).await?;
    /// let who = engine.audience(surfers, 10).await?;
    /// assert_eq!(who.len(), 2);
    /// # Ok::<(), sociallens::Error>(()) }).unwrap();
    /// ```
    pub async fn audience(
        &self,
        query: AudienceQuery,
        limit: usize,
    ) -> Result<Vec<AudienceMember>> {
        let (members, total) = self.audience_scored(&query, limit).await?;
        self.check_audience_size(total)?;
        Ok(members)
    }

    /// [`audience`](Self::audience) WITHOUT the privacy minimum: every member, however few.
    /// For the platform's own trusted jobs only (for example precomputing audiences into its
    /// own stores), never for anything an advertiser or another user can read. The loud
    /// name is on purpose: grep for it in review.
    pub async fn audience_bypassing_privacy_minimum(
        &self,
        query: AudienceQuery,
        limit: usize,
    ) -> Result<Vec<AudienceMember>> {
        Ok(self.audience_scored(&query, limit).await?.0)
    }

    /// How many users [`audience`](Self::audience) would return, for advertisers. Counts
    /// under [`AdsConfig::min_audience_size`](crate::ads::AdsConfig) (default 50) are
    /// refused with [`Error::Privacy`], so that no small group can be singled out.
    pub async fn audience_size(&self, query: AudienceQuery) -> Result<usize> {
        let (_, total) = self.audience_scored(&query, 0).await?;
        self.check_audience_size(total)?;
        Ok(total)
    }

    fn check_audience_size(&self, total: usize) -> Result<()> {
        let min = self.inner.ads_config.min_audience_size;
        if total < min {
            return Err(Error::Privacy(format!(
                "audience has fewer than {min} users; audiences below the minimum are neither \
                 listed nor counted"
            )));
        }
        Ok(())
    }

    async fn ad_event(
        &self,
        kind: EventKind,
        user: &str,
        ad_id: &str,
        opts: EventOptions,
    ) -> Result<EventOutcome> {
        let user = UserId::new(user)?;
        let ad = self.ad(ad_id).await?.ok_or_else(|| Error::NotFound {
            what: "ad",
            id: ad_id.to_string(),
        })?;
        let weight = self.inner.weights.for_kind(kind);
        let deltas = if weight > 0.0 {
            ad.interests
                .iter()
                .map(|t| TermDelta {
                    term: t.clone(),
                    weight,
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut event = self.event(kind, user.clone(), None, deltas, &opts)?;
        event.item = Some(ad_item(&ad.id));
        // A click is added to the index, not re-read: hold the user's lock from the store
        // write on so that it lands on the same side of a concurrent forget as in the store.
        let order = match kind {
            EventKind::Click => Some(self.lock_user(&user).await),
            _ => None,
        };
        let recorded = self
            .inner
            .store
            .record_event(event.clone(), self.inner.decay)
            .await?;
        if recorded.status == EventStatus::Applied {
            if kind == EventKind::Click && !self.stateless() {
                self.inner.ads.change(IndexOp::Click {
                    user: user.clone(),
                    ad: ad.id.clone(),
                    at: event.at,
                    event: event.id.as_str().to_string(),
                });
            }
            if !recorded.deltas.is_empty() {
                match order {
                    Some(_) => self.profile_changed_locked(&user).await,
                    None => self.profile_changed(&user).await,
                }
            }
        }
        Ok(EventOutcome {
            event_id: event.id,
            status: recorded.status,
            caption: None,
            interests: ad.interests,
            deltas: recorded.deltas,
        })
    }

    /// Records that the user was shown an ad (what frequency caps count). Replaying an
    /// event id changes nothing.
    pub async fn record_impression(&self, user: &str, ad: &str) -> Result<EventOutcome> {
        self.record_impression_with(user, ad, EventOptions::default())
            .await
    }

    /// [`record_impression`](Self::record_impression) with an event id and/or time.
    pub async fn record_impression_with(
        &self,
        user: &str,
        ad: &str,
        opts: EventOptions,
    ) -> Result<EventOutcome> {
        self.ad_event(EventKind::Impression, user, ad, opts).await
    }

    /// Records that the user clicked an ad: counted in reports, a lookalike signal for
    /// similar users, and the ad's targeting interests gain the click's signal weight
    /// ([`SignalWeights::click`](crate::SignalWeights)) in the user's profile. Replaying an
    /// event id changes nothing.
    ///
    /// ```
    /// use sociallens::{ads::Ad, analytics::ReportQuery, Engine, EventOptions, EventStatus};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let engine = Engine::builder().store_url("memory://").build()?;
    /// engine.add_ads(vec![Ad::new("ad-9", "WaveCo", "Boards", "surf").interests(["surfboard"])]).await?;
    /// let first = engine.record_click_with("u1", "ad-9", EventOptions::id("click-1")).await?;
    /// let again = engine.record_click_with("u1", "ad-9", EventOptions::id("click-1")).await?;
    /// assert_eq!((first.status, again.status), (EventStatus::Applied, EventStatus::Duplicate));
    /// assert_eq!(engine.interests("u1", 1).await?[0].term, "surfboard");
    /// assert_eq!(engine.click_report(ReportQuery::default()).await?.clicks, 1);
    /// # Ok::<(), sociallens::Error>(()) }).unwrap();
    /// ```
    pub async fn record_click(&self, user: &str, ad: &str) -> Result<EventOutcome> {
        self.record_click_with(user, ad, EventOptions::default())
            .await
    }

    /// [`record_click`](Self::record_click) with an event id and/or time.
    pub async fn record_click_with(
        &self,
        user: &str,
        ad: &str,
        opts: EventOptions,
    ) -> Result<EventOutcome> {
        self.ad_event(EventKind::Click, user, ad, opts).await
    }

    /// Opts a user out of (or, with `opted_out == false`, back into) ads of a category.
    pub async fn set_opt_out(&self, user: &str, category: &str, opted_out: bool) -> Result<()> {
        let user = UserId::new(user)?;
        let category = normalize_category(category)?;
        self.inner
            .store
            .set_opt_out(&user, &category, opted_out, self.now())
            .await
    }

    /// The categories a user opted out of.
    pub async fn opt_outs(&self, user: &str) -> Result<Vec<String>> {
        self.inner.store.opt_outs(&UserId::new(user)?).await
    }

    /// Impressions, clicks and CTR of ads, grouped as the query says (see
    /// [`ReportQuery`]), computed from the recorded events.
    ///
    /// The events are read page by page ([`Store::item_events_page`](crate::Store::item_events_page),
    /// 5,000 at a time) and aggregated as they come, so memory grows with the
    /// report's rows, not with the number of events: a report over 10M events runs in the
    /// same memory as one over a thousand.
    pub async fn click_report(&self, query: ReportQuery) -> Result<Report> {
        let mut agg = crate::analytics::Aggregator::new(&query)?;
        let categories: HashMap<String, String> = self
            .inner
            .store
            .items(ItemKind::Ad)
            .await?
            .into_iter()
            .filter_map(|r| Some((r.id, r.category?)))
            .collect();
        let from = query.from.unwrap_or(Timestamp::from_millis(i64::MIN));
        let to = query.to.unwrap_or(Timestamp::from_millis(i64::MAX));
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .inner
                .store
                .item_events_page(from, to, cursor.as_deref(), REPORT_PAGE)
                .await?;
            agg.add(&page.items, |ad| categories.get(ad).cloned());
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(agg.finish()),
            }
        }
    }
}
