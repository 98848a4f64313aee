//! What stateless serving reads: a store that counts every call shows that `ads_for`,
//! `similar_users` and audiences never scan the users (`scan_interests`), and that a
//! request makes the point reads `docs/scaling.md` lists, whatever the number of users.

use async_trait::async_trait;
use sociallens::ads::{Ad, AudienceQuery};
use sociallens::store::{CachedCaption, CatalogRecord, ForgetReport, ItemCount, PostRecord};
use sociallens::{
    Decay, Engine, Event, EventId, EventKind, InterestRecord, ManualClock, MemoryStore,
    NeighbourList, Post, PostId, Recorded, Result, Serving, Store, Timestamp, UserId,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A [`MemoryStore`] that counts the calls of each method.
#[derive(Debug, Default)]
struct Counting {
    inner: MemoryStore,
    calls: Mutex<BTreeMap<&'static str, usize>>,
}

impl Counting {
    fn hit(&self, method: &'static str) {
        *self.calls.lock().unwrap().entry(method).or_default() += 1;
    }
    /// The counts since the last call, and starts counting afresh.
    fn take(&self) -> BTreeMap<&'static str, usize> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl Store for Counting {
    fn backend(&self) -> &'static str {
        "counting"
    }
    async fn record_event(&self, event: Event, decay: Decay) -> Result<Recorded> {
        self.hit("record_event");
        self.inner.record_event(event, decay).await
    }
    async fn interests(&self, user: &UserId) -> Result<Vec<InterestRecord>> {
        self.hit("interests");
        self.inner.interests(user).await
    }
    async fn event(&self, id: &EventId) -> Result<Option<Event>> {
        self.hit("event");
        self.inner.event(id).await
    }
    async fn user_events(&self, user: &UserId, limit: usize) -> Result<Vec<Event>> {
        self.hit("user_events");
        self.inner.user_events(user, limit).await
    }
    async fn put_post(&self, post: &PostRecord) -> Result<()> {
        self.hit("put_post");
        self.inner.put_post(post).await
    }
    async fn post(&self, id: &PostId) -> Result<Option<PostRecord>> {
        self.hit("post");
        self.inner.post(id).await
    }
    async fn cached_caption(&self, image_sha256: &str) -> Result<Option<CachedCaption>> {
        self.hit("cached_caption");
        self.inner.cached_caption(image_sha256).await
    }
    async fn put_cached_caption(&self, entry: &CachedCaption) -> Result<()> {
        self.hit("put_cached_caption");
        self.inner.put_cached_caption(entry).await
    }
    async fn put_items(&self, items: &[CatalogRecord]) -> Result<()> {
        self.hit("put_items");
        self.inner.put_items(items).await
    }
    async fn items(&self, kind: sociallens::ItemKind) -> Result<Vec<CatalogRecord>> {
        self.hit("items");
        self.inner.items(kind).await
    }
    async fn remove_item(&self, kind: sociallens::ItemKind, id: &str) -> Result<bool> {
        self.hit("remove_item");
        self.inner.remove_item(kind, id).await
    }
    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>> {
        self.hit("cache_get");
        self.inner.cache_get(key, now).await
    }
    async fn cache_put(
        &self,
        key: &str,
        value: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        self.hit("cache_put");
        self.inner.cache_put(key, value, now, expires_at).await
    }
    async fn forget_user(&self, user: &UserId) -> Result<ForgetReport> {
        self.hit("forget_user");
        self.inner.forget_user(user).await
    }
    async fn scan_interests(
        &self,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, Vec<InterestRecord>)>> {
        self.hit("scan_interests");
        self.inner.scan_interests(after, limit).await
    }
    async fn item_events(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        self.hit("item_events");
        self.inner.item_events(from, to).await
    }
    async fn user_item_counts(
        &self,
        user: &UserId,
        kind: EventKind,
        since: Timestamp,
    ) -> Result<Vec<ItemCount>> {
        self.hit("user_item_counts");
        self.inner.user_item_counts(user, kind, since).await
    }
    async fn set_opt_out(
        &self,
        user: &UserId,
        category: &str,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<()> {
        self.hit("set_opt_out");
        self.inner.set_opt_out(user, category, opted_out, at).await
    }
    async fn opt_outs(&self, user: &UserId) -> Result<Vec<String>> {
        self.hit("opt_outs");
        self.inner.opt_outs(user).await
    }
    async fn opted_out_users(&self, category: &str) -> Result<Vec<UserId>> {
        self.hit("opted_out_users");
        self.inner.opted_out_users(category).await
    }
    async fn put_neighbours(&self, lists: &[NeighbourList]) -> Result<()> {
        self.hit("put_neighbours");
        self.inner.put_neighbours(lists).await
    }
    async fn neighbours(&self, users: &[UserId]) -> Result<Vec<NeighbourList>> {
        self.hit("neighbours");
        self.inner.neighbours(users).await
    }
    async fn users_with_term(
        &self,
        term: &str,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, InterestRecord)>> {
        self.hit("users_with_term");
        self.inner.users_with_term(term, after, limit).await
    }
    async fn scan_captions(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<sociallens::CachedCaption>> {
        self.hit("scan_captions");
        self.inner.scan_captions(cursor, limit).await
    }
    async fn scan_posts(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<PostRecord>> {
        self.hit("scan_posts");
        self.inner.scan_posts(cursor, limit).await
    }
    async fn scan_events(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<Event>> {
        self.hit("scan_events");
        self.inner.scan_events(cursor, limit).await
    }
    async fn item_events_page(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<Event>> {
        self.hit("item_events_page");
        self.inner.item_events_page(from, to, cursor, limit).await
    }
    async fn scan_opt_outs(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<sociallens::store::OptOutRecord>> {
        self.hit("scan_opt_outs");
        self.inner.scan_opt_outs(cursor, limit).await
    }
    async fn scan_neighbours(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<NeighbourList>> {
        self.hit("scan_neighbours");
        self.inner.scan_neighbours(cursor, limit).await
    }
    async fn put_audience(
        &self,
        ad_id: &str,
        members: &[sociallens::store::AudienceEntry],
        computed_at: Timestamp,
    ) -> Result<()> {
        self.hit("put_audience");
        self.inner.put_audience(ad_id, members, computed_at).await
    }
    async fn audience(
        &self,
        ad_id: &str,
        limit: usize,
    ) -> Result<Option<sociallens::store::StoredAudience>> {
        self.hit("audience");
        self.inner.audience(ad_id, limit).await
    }
    async fn scan_audiences(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<sociallens::store::Page<sociallens::store::StoredAudience>> {
        self.hit("scan_audiences");
        self.inner.scan_audiences(cursor, limit).await
    }
}

const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

fn calls(list: &[(&'static str, usize)]) -> BTreeMap<&'static str, usize> {
    list.iter().copied().collect()
}

#[tokio::test]
async fn stateless_requests_read_their_own_rows_and_never_scan() {
    let store = Arc::new(Counting::default());
    let clock = Arc::new(ManualClock::new(T0));
    let writer = Engine::builder()
        .shared_store(store.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    writer
        .add_ads(vec![
            Ad::new("surf-1", "WaveCo", "Boards", "surf").interests(["surfboard", "wave"]),
            Ad::new("beach-1", "Towels", "Towels", "beach").interests(["towel"]),
        ])
        .await
        .unwrap();
    // 300 surfers, a third of whom clicked the towel ad.
    for i in 0..300 {
        let u = format!("s{i:03}");
        writer
            .record_like(
                &u,
                Post::new(format!("p{i}")).with_interests(["surfboard", "wave"]),
            )
            .await
            .unwrap();
        if i % 3 == 0 {
            writer.record_click(&u, "beach-1").await.unwrap();
        }
    }
    writer.build_neighbours(40).await.unwrap();
    store.take();

    let server = Engine::builder()
        .shared_store(store.clone())
        .clock(clock)
        .serving(Serving::stateless())
        .build()
        .unwrap();
    // s000 clicked the towel ad, as did the 30 users closest to them.
    let ads = server.ads_for("s000", 5).await.unwrap();
    assert_eq!(ads.len(), 2, "{ads:?}");
    assert_eq!(ads[1].similar_users_engaged, 30);
    // The inventory once, then the user's rows, opt-outs, impressions, own clicks, list,
    // and the clicks of the first 30 neighbours (AdsConfig::lookalike_neighbors).
    assert_eq!(
        store.take(),
        calls(&[
            ("items", 1),
            ("interests", 1),
            ("opt_outs", 1),
            ("user_item_counts", 2 + 30),
            ("neighbours", 1),
        ])
    );
    // Later requests: the same reads without the inventory.
    server.ads_for("s003", 5).await.unwrap();
    assert_eq!(
        store.take(),
        calls(&[
            ("interests", 1),
            ("opt_outs", 1),
            ("user_item_counts", 32),
            ("neighbours", 1),
        ])
    );
    // A user without interests costs one read.
    assert!(server.ads_for("nobody", 5).await.unwrap().is_empty());
    assert_eq!(store.take(), calls(&[("interests", 1)]));
    // Similar users: the stored list.
    assert_eq!(server.similar_users("s001", 10).await.unwrap().len(), 10);
    assert_eq!(store.take(), calls(&[("neighbours", 1)]));
    // An interest audience: the users of each query term (one page each), then one
    // profile read per candidate; never a scan.
    let who = server
        .audience(AudienceQuery::interests(["wave"]), 10)
        .await
        .unwrap();
    assert_eq!(who.len(), 10);
    let c = store.take();
    assert_eq!(c.get("users_with_term"), Some(&1));
    assert_eq!(c.get("interests"), Some(&300));
    assert_eq!(c.get("scan_interests"), None);

    // The in-memory index, for contrast, scans every user on first use.
    let index = Engine::builder()
        .shared_store(store.clone())
        .build()
        .unwrap();
    index.ads_for("s001", 5).await.unwrap();
    assert!(store.take().contains_key("scan_interests"));
}
