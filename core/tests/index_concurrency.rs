//! The in-memory ads index under concurrency: a storm of likes, unlikes, clicks, forgets and
//! ad changes, with rebuilds (`refresh_index`) running meanwhile, over a store whose reads
//! answer late. Afterwards the index the events kept current must equal one rebuilt from
//! the store.

use async_trait::async_trait;
use sociallens::ads::Ad;
use sociallens::recommend::Embedder;
use sociallens::store::{CachedCaption, CatalogRecord, ForgetReport, ItemCount, PostRecord};
use sociallens::{
    Decay, Engine, Event, EventId, EventKind, InterestRecord, ManualClock, MemoryStore, Post,
    PostId, Recorded, Result, SqliteStore, Store, Timestamp, UserId,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// 2026-01-01T00:00:00Z. The clock stays there: both indexes decay weights to the same `now`.
const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// A step of a fixed pseudo-random sequence (splitmix64).
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A real store whose profile and event reads answer 0–15 ms after they read, by a fixed
/// pattern: writes made while an answer travels are not in it, as with a remote store.
#[derive(Debug)]
struct SlowReads {
    inner: Arc<dyn Store>,
    reads: AtomicU64,
}

impl SlowReads {
    async fn late<T>(&self, answer: T) -> T {
        let r = mix(self.reads.fetch_add(1, Ordering::Relaxed));
        // One read in four is slow: a read that started earlier often answers later.
        let ms = if r.is_multiple_of(4) {
            8 + (r >> 8) % 8
        } else {
            (r >> 8) % 2
        };
        tokio::time::sleep(Duration::from_millis(ms)).await;
        answer
    }
}

#[async_trait]
impl Store for SlowReads {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn record_event(&self, event: Event, decay: Decay) -> Result<Recorded> {
        self.inner.record_event(event, decay).await
    }
    async fn interests(&self, user: &UserId) -> Result<Vec<InterestRecord>> {
        let answer = self.inner.interests(user).await;
        self.late(answer).await
    }
    async fn event(&self, id: &EventId) -> Result<Option<Event>> {
        self.inner.event(id).await
    }
    async fn user_events(&self, user: &UserId, limit: usize) -> Result<Vec<Event>> {
        self.inner.user_events(user, limit).await
    }
    async fn put_post(&self, post: &PostRecord) -> Result<()> {
        self.inner.put_post(post).await
    }
    async fn post(&self, id: &PostId) -> Result<Option<PostRecord>> {
        self.inner.post(id).await
    }
    async fn cached_caption(&self, image_sha256: &str) -> Result<Option<CachedCaption>> {
        self.inner.cached_caption(image_sha256).await
    }
    async fn put_cached_caption(&self, entry: &CachedCaption) -> Result<()> {
        self.inner.put_cached_caption(entry).await
    }
    async fn put_items(&self, items: &[CatalogRecord]) -> Result<()> {
        self.inner.put_items(items).await
    }
    async fn items(&self, kind: sociallens::ItemKind) -> Result<Vec<CatalogRecord>> {
        self.inner.items(kind).await
    }
    async fn remove_item(&self, kind: sociallens::ItemKind, id: &str) -> Result<bool> {
        self.inner.remove_item(kind, id).await
    }
    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>> {
        self.inner.cache_get(key, now).await
    }
    async fn cache_put(
        &self,
        key: &str,
        value: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        self.inner.cache_put(key, value, now, expires_at).await
    }
    async fn forget_user(&self, user: &UserId) -> Result<ForgetReport> {
        self.inner.forget_user(user).await
    }
    async fn scan_interests(
        &self,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, Vec<InterestRecord>)>> {
        let answer = self.inner.scan_interests(after, limit).await;
        self.late(answer).await
    }
    async fn item_events(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        let answer = self.inner.item_events(from, to).await;
        self.late(answer).await
    }
    async fn user_item_counts(
        &self,
        user: &UserId,
        kind: EventKind,
        since: Timestamp,
    ) -> Result<Vec<ItemCount>> {
        self.inner.user_item_counts(user, kind, since).await
    }
    async fn set_opt_out(
        &self,
        user: &UserId,
        category: &str,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<()> {
        self.inner.set_opt_out(user, category, opted_out, at).await
    }
    async fn opt_outs(&self, user: &UserId) -> Result<Vec<String>> {
        self.inner.opt_outs(user).await
    }
    async fn opted_out_users(&self, category: &str) -> Result<Vec<UserId>> {
        self.inner.opted_out_users(category).await
    }
    async fn put_neighbours(&self, lists: &[sociallens::NeighbourList]) -> Result<()> {
        self.inner.put_neighbours(lists).await
    }
    async fn neighbours(&self, users: &[UserId]) -> Result<Vec<sociallens::NeighbourList>> {
        self.inner.neighbours(users).await
    }
    async fn users_with_term(
        &self,
        term: &str,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, InterestRecord)>> {
        self.inner.users_with_term(term, after, limit).await
    }
    async fn scan_captions(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<sociallens::CachedCaption>> {
        self.inner.scan_captions(cursor, limit).await
    }
    async fn scan_posts(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<PostRecord>> {
        self.inner.scan_posts(cursor, limit).await
    }
    async fn scan_events(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<Event>> {
        self.inner.scan_events(cursor, limit).await
    }
    async fn item_events_page(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<Event>> {
        self.inner.item_events_page(from, to, cursor, limit).await
    }
    async fn scan_opt_outs(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<sociallens::store::OptOutRecord>> {
        self.inner.scan_opt_outs(cursor, limit).await
    }
    async fn scan_neighbours(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<sociallens::NeighbourList>> {
        self.inner.scan_neighbours(cursor, limit).await
    }
    async fn put_audience(
        &self,
        ad_id: &str,
        members: &[sociallens::store::AudienceEntry],
        computed_at: Timestamp,
    ) -> Result<()> {
        self.inner.put_audience(ad_id, members, computed_at).await
    }
    async fn audience(
        &self,
        ad_id: &str,
        limit: usize,
    ) -> Result<Option<sociallens::store::StoredAudience>> {
        self.inner.audience(ad_id, limit).await
    }
    async fn scan_audiences(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<sociallens::store::StoredAudience>> {
        self.inner.scan_audiences(cursor, limit).await
    }
}

const WORDS: [&str; 12] = [
    "surfboard",
    "wave",
    "beach",
    "tennis",
    "racket",
    "cat",
    "cat food",
    "pizza",
    "oven",
    "dog",
    "park",
    "guitar",
];
const USERS: u64 = 20;
const POSTS: u64 = 30;
const ADS: u64 = 6;
const EVENTS: u64 = 1_000;

fn post(p: u64) -> Post {
    let terms: Vec<&str> = (0..1 + mix(p * 7 + 1) % 3)
        .map(|j| WORDS[(mix(p * 7 + 2 + j) % WORDS.len() as u64) as usize])
        .collect();
    Post::new(format!("p{p}")).with_interests(terms)
}

/// Ad `a`'s `version`-th targeting.
fn ad(a: u64, version: u64) -> Ad {
    let terms: Vec<&str> = (0..1 + mix(a * 13 + version) % 2)
        .map(|j| WORDS[(mix(a * 13 + version * 3 + j + 5) % WORDS.len() as u64) as usize])
        .collect();
    Ad::new(format!("ad{a}"), "acme", "buy", "misc").interests(terms)
}

/// Event `i` of the storm.
async fn event(engine: &Engine, i: u64) -> Result<()> {
    let r = mix(i.wrapping_mul(31).wrapping_add(17));
    let user = format!("u{:02}", r % USERS);
    let pick = (r >> 8) % 1000;
    let (p, a) = ((r >> 20) % POSTS, (r >> 40) % ADS);
    match pick {
        0..=449 => drop(engine.record_like(&user, post(p)).await?),
        450..=749 => drop(engine.unlike(&user, &format!("p{p}")).await?),
        750..=969 => drop(engine.record_click(&user, &format!("ad{a}")).await?),
        970..=979 => {
            engine.forget_user(&user).await?;
        }
        980..=989 => drop(engine.add_ads(vec![ad(a, 1 + i)]).await?),
        _ if pick.is_multiple_of(2) => engine.pause_ad(&format!("ad{a}")).await?,
        _ => engine.resume_ad(&format!("ad{a}")).await?,
    }
    Ok(())
}

async fn storm(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(T0));
    let slow: Arc<dyn Store> = Arc::new(SlowReads {
        inner: store.clone(),
        reads: AtomicU64::new(0),
    });
    let engine = Engine::builder()
        .shared_store(slow)
        .clock(clock.clone())
        .build()
        .unwrap();
    engine
        .add_ads((0..ADS).map(|a| ad(a, 0)).collect())
        .await
        .unwrap();
    for u in 0..USERS {
        engine
            .record_like(&format!("u{u:02}"), post(u % POSTS))
            .await
            .unwrap();
    }
    engine.refresh_index().await.unwrap();

    // The events start over 300 ms, in flight together; three rebuilds run in the first
    // two thirds (the events after the last one must be kept in order by the engine alone).
    let mut tasks = Vec::new();
    for i in 0..EVENTS {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_micros(i * 300)).await;
            event(&engine, i).await
        }));
    }
    for at in [20, 100, 180] {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(at)).await;
            engine.refresh_index().await.map(drop)
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }

    let live = engine.index_snapshot().await.unwrap();
    let fresh = Engine::builder()
        .shared_store(store)
        .clock(clock)
        .build()
        .unwrap();
    fresh.refresh_index().await.unwrap();
    let want = fresh.index_snapshot().await.unwrap();

    let mut wrong = Vec::new();
    for user in want.users.keys().chain(live.users.keys()) {
        let (a, b) = (live.users.get(user), want.users.get(user));
        let same = match (a, b) {
            (Some(a), Some(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ta, wa), (tb, wb))| ta == tb && (wa - wb).abs() <= 1e-6)
            }
            (None, None) => true,
            _ => false,
        };
        if !same && !wrong.contains(user) {
            wrong.push(user.clone());
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} users' vectors differ from a rebuild, e.g. {}: live {:?}, rebuilt {:?}",
        wrong.len(),
        want.users.len(),
        wrong[0],
        live.users.get(&wrong[0]),
        want.users.get(&wrong[0])
    );
    assert_eq!(live.clicks, want.clicks, "clicks per ad and user");
    assert_eq!(live.ads, want.ads, "ads");
    // The storm left something to compare.
    let clicks: usize = want.clicks.values().flat_map(|c| c.values()).sum();
    assert!(want.users.len() >= 10 && clicks >= 50, "{want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_index_equals_a_rebuild_after_a_concurrent_storm() {
    storm(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_index_equals_a_rebuild_after_a_concurrent_storm() {
    let dir = tempfile::tempdir().unwrap();
    storm(Arc::new(
        SqliteStore::open(dir.path().join("s.db")).unwrap(),
    ))
    .await;
}

/// Letter counts, normalised; embedding "zebra" (once) waits until the test lets it go.
struct GatedLetters {
    entered: Mutex<Option<mpsc::Sender<()>>>,
    go: Mutex<Option<mpsc::Receiver<()>>>,
}

fn letters(text: &str) -> Vec<f32> {
    let mut v = [0f32; 26];
    for b in text.bytes().filter(u8::is_ascii_lowercase) {
        v[(b - b'a') as usize] += 1.0;
    }
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter().map(|x| x / n).collect()
}

impl Embedder for GatedLetters {
    fn model_id(&self) -> String {
        "gated-letters".into()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.contains(&"zebra") {
            let entered = self.entered.lock().unwrap().take();
            if let Some(entered) = entered {
                entered.send(()).unwrap();
                let go = self.go.lock().unwrap().take().unwrap();
                go.recv().unwrap();
            }
        }
        Ok(texts.iter().map(|t| letters(t)).collect())
    }
}

/// Every stored neighbour is an ad term, at its real cosine to the term it is stored under.
fn consistent(semantic: &BTreeMap<String, Vec<(String, f32)>>) {
    for (term, near) in semantic {
        for (ad_term, sim) in near {
            let want: f32 = letters(term)
                .iter()
                .zip(letters(ad_term))
                .map(|(a, b)| a * b)
                .sum();
            assert!(
                ["zebras", "okapi"].contains(&ad_term.as_str()) && (sim - want).abs() < 1e-5,
                "{term} -> {ad_term} at {sim} (their cosine is {want}): {semantic:?}"
            );
        }
    }
}

/// Semantic neighbours are computed from term ids read before the embedder's await; a
/// rebuild in the meantime numbers the terms differently, and the neighbours must not be
/// stored under the new index's ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_neighbours_computed_across_a_rebuild_name_the_right_terms() {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let engine = Engine::builder()
        .store_url("memory://")
        .clock(Arc::new(ManualClock::new(T0)))
        .embedder(GatedLetters {
            entered: Mutex::new(Some(entered_tx)),
            go: Mutex::new(Some(go_rx)),
        })
        .build()
        .unwrap();
    // The live index numbers the user's terms first; a rebuild numbers the ads' first.
    let like = Post::new("p1").with_interests(["zebra", "yak"]);
    engine.record_like("u1", like).await.unwrap();
    engine.refresh_index().await.unwrap();
    let ad = Ad::new("z", "acme", "stripes", "misc").interests(["zebras", "okapi"]);
    engine.add_ads(vec![ad]).await.unwrap();

    let e = engine.clone();
    let first = tokio::spawn(async move { e.ads_for("u1", 5).await });
    // ads_for has read the terms and waits for their vectors: rebuild now.
    tokio::task::spawn_blocking(move || entered_rx.recv())
        .await
        .unwrap()
        .unwrap();
    engine.refresh_index().await.unwrap();
    go_tx.send(()).unwrap();
    first.await.unwrap().unwrap();

    consistent(&engine.index_snapshot().await.unwrap().semantic);
    // Asked again, the neighbours are computed on the new index.
    engine.ads_for("u1", 5).await.unwrap();
    let snap = engine.index_snapshot().await.unwrap();
    consistent(&snap.semantic);
    let near = &snap.semantic["zebra"];
    assert_eq!(near.len(), 1, "{near:?}");
    assert_eq!(near[0].0, "zebras");
}
