//! Storage conformance suite: one set of behaviours every [`Store`] backend must show.
//!
//! A backend joins by implementing [`Harness`] and invoking [`conformance_suite!`] in a test
//! file (see `tests/memory.rs`, `tests/sqlite.rs`).

use sociallens::ads::{Ad, AudienceQuery, FrequencyCap};
use sociallens::analytics::{Dimension, ReportQuery};
use sociallens::{
    Captioner, Engine, EventKind, EventOptions, EventStatus, Interest, ManualClock, Post, Result,
    Store, Timestamp, UserId,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the suite needs from a backend.
pub trait Harness: Send + Sync {
    /// Opens the store; for persistent backends, opening again reaches the same data.
    fn open(&self) -> Arc<dyn Store>;
    /// Whether data survives dropping every handle and opening again.
    fn persistent(&self) -> bool;
    /// Rows, in any table, that mention `user` in any field, counted by the backend itself
    /// (not through the `Store` API).
    fn rows_mentioning(&self, user: &str) -> u64;
    /// Why this backend cannot be tested here (a server that is not configured), if so:
    /// every test of the suite then says so on stderr and returns.
    fn skip_reason(&self) -> Option<String> {
        None
    }
}

/// A fixed starting time, 2026-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// An engine over `store` whose clock the test moves.
pub fn engine_at(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Engine {
    Engine::builder()
        .shared_store(store)
        .clock(clock)
        .build()
        .expect("engine")
}

/// A test double for the captioner trait (a model cannot run in the storage suite): maps
/// each image's bytes to a caption and counts how often it is called.
#[derive(Default)]
pub struct CountingCaptioner {
    /// Calls so far.
    pub calls: AtomicUsize,
}

impl Captioner for CountingCaptioner {
    fn model_id(&self) -> String {
        "counting-test-captioner".into()
    }
    fn caption(&self, images: &[&[u8]]) -> Result<Vec<String>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // Slow enough that concurrent callers really overlap.
        std::thread::sleep(Duration::from_millis(20));
        Ok(images
            .iter()
            .map(|b| format!("an image of {} bytes", b.len()))
            .collect())
    }
}

fn assert_same_profile(a: &[Interest], b: &[Interest]) {
    assert_eq!(a.len(), b.len(), "{a:#?}\nvs\n{b:#?}");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.term, y.term);
        assert_eq!(x.count, y.count, "count of {}", x.term);
        assert_eq!(x.last_seen, y.last_seen, "last_seen of {}", x.term);
        assert!(
            (x.weight - y.weight).abs() <= 1e-9 * x.weight.abs().max(1.0),
            "weight of {}: {} vs {}",
            x.term,
            x.weight,
            y.weight
        );
    }
}

/// 1,000 likes of one user from many tasks at once end with exact weights and counts.
pub async fn concurrent_likes_lose_nothing(h: &dyn Harness) {
    let clock = Arc::new(ManualClock::new(T0));
    let engine = engine_at(h.open(), clock);
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let post = Post::new(format!("post-{i}"))
                    .with_interests(["dog".to_string(), format!("topic-{}", i % 10)]);
                engine.record_like("crowd", post).await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().status, EventStatus::Applied);
    }
    let profile = engine.profile("crowd").await.unwrap();
    assert_eq!(profile.interests.len(), 11);
    let dog = profile.get("dog").unwrap();
    assert_eq!((dog.weight, dog.count), (1000.0, 1000));
    for j in 0..10 {
        let t = profile.get(&format!("topic-{j}")).unwrap();
        assert_eq!((t.weight, t.count), (100.0, 100));
    }
}

/// Likes and unlikes from many tasks at once, timed on both sides of a forward-decay era
/// boundary (the landmark "rebase"), end with the closed-form decayed weight and exact counts.
pub async fn concurrent_likes_across_an_era_boundary(h: &dyn Harness) {
    const N: i64 = 400;
    let decay = sociallens::Decay::half_life(Duration::from_secs(3600)).unwrap();
    let boundary = Timestamp::from_millis(decay.landmark(T0).as_millis() + decay.era_len_ms());
    let clock = Arc::new(ManualClock::new(boundary));
    let engine = Engine::builder()
        .shared_store(h.open())
        .clock(clock.clone())
        .decay(decay)
        .build()
        .unwrap();
    // From 30 minutes before the boundary to 30 minutes after it.
    let time_of =
        |i: i64| Timestamp::from_millis(boundary.as_millis() - 1_800_000 + i * 3_600_000 / N);
    let like_all = |ids: Vec<i64>| {
        ids.into_iter()
            .map(|i| {
                let engine = engine.clone();
                let opts = EventOptions::id(format!("like-{i}")).at(time_of(i));
                tokio::spawn(async move {
                    let post = Post::new(format!("p{i}")).with_interests(["surf"]);
                    engine.record_like_with("era", post, opts).await
                })
            })
            .collect::<Vec<_>>()
    };
    // Shuffled order: the two eras' writers interleave.
    let order: Vec<i64> = (0..N).map(|i| (i * 7919) % N).collect();
    for t in like_all(order) {
        assert_eq!(t.await.unwrap().unwrap().status, EventStatus::Applied);
    }
    let rows = engine
        .store()
        .interests(&UserId::new("era").unwrap())
        .await
        .unwrap();
    let anchors: Vec<_> = rows[0].parts.iter().map(|p| p.anchor).collect();
    assert_eq!(
        anchors.len(),
        2,
        "the likes straddle one era boundary: {anchors:?}"
    );
    assert!(anchors.contains(&boundary), "{anchors:?}");
    let read = boundary.plus(Duration::from_secs(3600));
    clock.set(read);
    let expected = |ids: &mut dyn Iterator<Item = i64>| -> f64 {
        ids.map(|i| (-(read.millis_since(time_of(i)) as f64) / 3_600_000.0).exp2())
            .sum()
    };
    let got = engine.profile("era").await.unwrap();
    let surf = got.get("surf").unwrap();
    let want = expected(&mut (0..N));
    assert_eq!(surf.count, N as u64);
    assert!(
        (surf.weight - want).abs() <= 1e-9 * want,
        "{} vs {want}",
        surf.weight
    );
    // Unlike every other like at once, on both sides of the boundary.
    let tasks: Vec<_> = (0..N)
        .filter(|i| i % 2 == 0)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.unlike("era", &format!("p{i}")).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().status, EventStatus::Applied);
    }
    let got = engine.profile("era").await.unwrap();
    let surf = got.get("surf").unwrap();
    let want = expected(&mut (0..N).filter(|i| i % 2 == 1));
    assert_eq!(surf.count, N as u64 / 2);
    assert!(
        (surf.weight - want).abs() <= 1e-9 * want,
        "{} vs {want}",
        surf.weight
    );
    assert_eq!(surf.last_seen, time_of(N - 1));
}

/// Replaying an event id changes nothing, even after an unlike; reusing it for another
/// event is a typed conflict that loses nothing.
pub async fn replayed_events_change_nothing(h: &dyn Harness) {
    let clock = Arc::new(ManualClock::new(T0));
    let engine = engine_at(h.open(), clock.clone());
    let like = || Post::new("p1").with_interests(["surfboard", "beach"]);
    let first = engine
        .record_like_with("u1", like(), EventOptions::id("e1"))
        .await
        .unwrap();
    assert_eq!(first.status, EventStatus::Applied);
    let before = engine.interests("u1", 10).await.unwrap();
    for _ in 0..3 {
        clock.advance(Duration::from_secs(1));
        let again = engine
            .record_like_with("u1", like(), EventOptions::id("e1"))
            .await
            .unwrap();
        assert_eq!(again.status, EventStatus::Duplicate);
    }
    clock.set(T0);
    assert_same_profile(&before, &engine.interests("u1", 10).await.unwrap());

    // Liking again under a new id is not a second like.
    let twice = engine
        .record_like_with("u1", like(), EventOptions::id("e2"))
        .await
        .unwrap();
    assert_eq!(twice.status, EventStatus::AlreadyActive);

    // Same id, different event: refused, nothing changes.
    let err = engine
        .record_like_with(
            "u2",
            Post::new("p9").with_interests(["x"]),
            EventOptions::id("e1"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CONFLICT", "{err}");
    assert!(engine.interests("u2", 10).await.unwrap().is_empty());

    // After an unlike, replaying the old like id still changes nothing.
    let un = engine
        .unlike_with("u1", "p1", EventOptions::id("e3"))
        .await
        .unwrap();
    assert_eq!(un.status, EventStatus::Applied);
    let replay = engine
        .record_like_with("u1", like(), EventOptions::id("e1"))
        .await
        .unwrap();
    assert_eq!(replay.status, EventStatus::Duplicate);
    assert!(engine.interests("u1", 10).await.unwrap().is_empty());
    let unlike_replay = engine
        .unlike_with("u1", "p1", EventOptions::id("e3"))
        .await
        .unwrap();
    assert_eq!(unlike_replay.status, EventStatus::Duplicate);
}

/// Like then unlike returns the profile to what it would have been without the like,
/// decay, counts and last-seen times included.
pub async fn unlike_restores_prior_profile(h: &dyn Harness) {
    let clock = Arc::new(ManualClock::new(T0));
    let engine = engine_at(h.open(), clock.clone());
    let day = Duration::from_secs(86_400);
    let p1 = || Post::new("p1").with_interests(["dog", "frisbee", "park"]);
    let p2 = || Post::new("p2").with_interests(["dog", "beach"]);
    for user in ["with", "without"] {
        clock.set(T0);
        engine.record_like(user, p1()).await.unwrap();
        clock.advance(day * 3);
        engine.record_upload(user, p2().by(user)).await.unwrap();
    }
    // Only "with" likes p3, later takes it back.
    clock.set(T0.plus(day * 5));
    let liked = engine
        .record_like(
            "with",
            Post::new("p3").with_interests(["dog", "kite", "park"]),
        )
        .await
        .unwrap();
    assert_eq!(liked.status, EventStatus::Applied);
    clock.set(T0.plus(day * 9));
    let mid = engine.profile("with").await.unwrap();
    assert_eq!(mid.get("kite").unwrap().count, 1);
    assert_eq!(mid.get("dog").unwrap().count, 3);
    clock.set(T0.plus(day * 20));
    let un = engine.unlike("with", "p3").await.unwrap();
    assert_eq!(un.status, EventStatus::Applied);
    assert_eq!(un.deltas.len(), 3);
    assert!(un.deltas.iter().all(|d| d.weight == -1.0));
    assert_same_profile(
        &engine.interests("with", 100).await.unwrap(),
        &engine.interests("without", 100).await.unwrap(),
    );
    // Nothing left to undo.
    let again = engine.unlike("with", "p3").await.unwrap();
    assert_eq!(again.status, EventStatus::NothingToUndo);
    // Liking again after the unlike counts again.
    let relike = engine.record_like("with", Post::new("p3")).await.unwrap();
    assert_eq!(relike.status, EventStatus::Applied);
    assert_eq!(relike.interests, ["dog", "kite", "park"]);
}

/// `forget_user` leaves no row that mentions the user, in any table, and touches nobody else.
pub async fn forget_user_leaves_nothing(h: &dyn Harness) {
    let clock = Arc::new(ManualClock::new(T0));
    let captioner = Arc::new(CountingCaptioner::default());
    let engine = Engine::builder()
        .shared_store(h.open())
        .clock(clock.clone())
        .shared_captioner(captioner.clone())
        .build()
        .unwrap();
    let doomed = "doomed-user";
    engine
        .record_upload(
            doomed,
            Post::new("doomed-post")
                .with_image(b"private picture".to_vec())
                .with_interests(["cat"]),
        )
        .await
        .unwrap();
    engine
        .record_like(
            doomed,
            Post::new("other-post")
                .with_caption("a bike")
                .with_interests(["bike"]),
        )
        .await
        .unwrap();
    engine.unlike(doomed, "other-post").await.unwrap();
    engine
        .record_like(doomed, Post::new("other-post"))
        .await
        .unwrap();
    engine
        .record_like_with(
            doomed,
            Post::new("p-x").with_interests(["x"]),
            EventOptions::id("doomed-event-1"),
        )
        .await
        .unwrap();
    // Someone else likes the doomed user's post and the same post as them.
    engine
        .record_like("bystander", Post::new("doomed-post"))
        .await
        .unwrap();
    engine
        .record_like("bystander", Post::new("other-post"))
        .await
        .unwrap();
    // Ads: an impression, a click and an opt-out of the doomed user.
    engine
        .add_ads(vec![
            Ad::new("ad-x", "Acme", "Bikes", "bikes").interests(["bike"])
        ])
        .await
        .unwrap();
    engine.record_impression(doomed, "ad-x").await.unwrap();
    engine.record_click(doomed, "ad-x").await.unwrap();
    engine.set_opt_out(doomed, "Gambling", true).await.unwrap();
    // A cached LLM answer built from the doomed user's data, and one of the bystander's.
    let store = engine.store().clone();
    let doomed_key = format!(
        "{}llm:answer",
        sociallens::store::user_cache_prefix(&UserId::new(doomed).unwrap())
    );
    let bystander_key = format!(
        "{}llm:answer",
        sociallens::store::user_cache_prefix(&UserId::new("bystander").unwrap())
    );
    let later = T0.plus(Duration::from_secs(86_400));
    for key in [&doomed_key, &bystander_key] {
        store.cache_put(key, "ideas", T0, later).await.unwrap();
    }
    assert_eq!(engine.similar_users("bystander", 5).await.unwrap().len(), 1);
    // Precomputed neighbours: the doomed user's own list, and the bystander's naming them.
    let built = engine.build_neighbours(10).await.unwrap();
    assert_eq!(built.neighbours, 2);
    assert!(h.rows_mentioning(doomed) > 5);
    let bystander_before = engine.interests("bystander", 10).await.unwrap();

    let report = engine.forget_user(doomed).await.unwrap();
    assert!(report.total() >= 5, "{report:?}");
    assert_eq!(h.rows_mentioning(doomed), 0);
    assert_eq!(report.opt_outs, 1);
    assert_eq!(report.cached_answers, 1);
    assert_eq!(report.neighbours, 2);
    let bystander = UserId::new("bystander").unwrap();
    assert!(store.neighbours(&[bystander]).await.unwrap().is_empty());
    assert_eq!(store.cache_get(&doomed_key, T0).await.unwrap(), None);
    assert!(store.cache_get(&bystander_key, T0).await.unwrap().is_some());
    assert!(engine.interests(doomed, 10).await.unwrap().is_empty());
    assert!(engine
        .similar_users("bystander", 5)
        .await
        .unwrap()
        .is_empty());
    assert!(engine.opt_outs(doomed).await.unwrap().is_empty());
    assert_same_profile(
        &bystander_before,
        &engine.interests("bystander", 10).await.unwrap(),
    );
    assert_eq!(captioner.calls.load(Ordering::SeqCst), 1);
    // Forgetting twice is fine and removes nothing more.
    assert_eq!(engine.forget_user(doomed).await.unwrap().total(), 0);
}

/// Data written, every handle dropped, store opened again: everything is still there.
pub async fn data_survives_reopen(h: &dyn Harness) {
    if !h.persistent() {
        return;
    }
    let clock = Arc::new(ManualClock::new(T0));
    let engine = engine_at(h.open(), clock.clone());
    engine
        .record_like(
            "u",
            Post::new("p")
                .with_caption("a red bus")
                .with_interests(["bus"]),
        )
        .await
        .unwrap();
    engine
        .record_upload("u", Post::new("q").with_interests(["bus", "city"]))
        .await
        .unwrap();
    let before = engine.interests("u", 10).await.unwrap();
    drop(engine);
    let engine = engine_at(h.open(), clock);
    assert_same_profile(&before, &engine.interests("u", 10).await.unwrap());
    let post = engine.post("p").await.unwrap().unwrap();
    assert_eq!(post.caption.as_deref(), Some("a red bus"));
    assert_eq!(post.author, None);
    assert_eq!(
        engine
            .post("q")
            .await
            .unwrap()
            .unwrap()
            .author
            .unwrap()
            .as_str(),
        "u"
    );
}

/// The same image liked by many users at once is captioned once.
pub async fn same_image_is_captioned_once(h: &dyn Harness) {
    struct FirstWord;
    impl sociallens::InterestExtractor for FirstWord {
        fn extract(&self, caption: &str) -> Result<Vec<String>> {
            Ok(caption
                .split_whitespace()
                .take(2)
                .map(String::from)
                .collect())
        }
    }
    let captioner = Arc::new(CountingCaptioner::default());
    let engine = Engine::builder()
        .shared_store(h.open())
        .shared_captioner(captioner.clone())
        .extractor(FirstWord)
        .build()
        .unwrap();
    let image = vec![7u8; 1234];
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let engine = engine.clone();
            let image = image.clone();
            tokio::spawn(async move {
                engine
                    .record_like(
                        &format!("fan-{i}"),
                        Post::new(format!("repost-{i}")).with_image(image),
                    )
                    .await
            })
        })
        .collect();
    for t in tasks {
        let out = t.await.unwrap().unwrap();
        assert_eq!(out.caption.as_deref(), Some("an image of 1234 bytes"));
        assert_eq!(out.interests, ["an", "image"]);
    }
    assert_eq!(captioner.calls.load(Ordering::SeqCst), 1);
}

/// Bad input gets a typed error and nothing stored is lost.
pub async fn bad_input_is_refused_and_loses_nothing(h: &dyn Harness) {
    let clock = Arc::new(ManualClock::new(T0));
    let engine = engine_at(h.open(), clock);
    engine
        .record_like("u", Post::new("p").with_interests(["tree"]))
        .await
        .unwrap();
    let before = engine.interests("u", 10).await.unwrap();
    let cases = [
        engine
            .record_like("", Post::new("p").with_interests(["a"]))
            .await,
        engine
            .record_like("u", Post::new("").with_interests(["a"]))
            .await,
        engine
            .record_like("u", Post::new("p2").with_interests([" "]))
            .await,
        engine.record_like("u", Post::new("unknown-post")).await,
        engine
            .record_like("u", Post::new("p3").with_image(b"no captioner".to_vec()))
            .await,
    ];
    let codes: Vec<_> = cases
        .iter()
        .map(|r| r.as_ref().unwrap_err().code())
        .collect();
    assert_eq!(
        codes,
        [
            "INVALID_INPUT",
            "INVALID_INPUT",
            "INVALID_INPUT",
            "INVALID_INPUT",
            "CONFIG"
        ]
    );
    assert_same_profile(&before, &engine.interests("u", 10).await.unwrap());
}

/// Cache entries expire by the clock the caller passes (an engine's manual clock may be far
/// from the wall clock): writing one entry never purges another that is still fresh then.
pub async fn the_cache_expires_by_the_callers_clock(h: &dyn Harness) {
    let store = h.open();
    // Years before the wall clock, as a simulation or backfill runs.
    let now = Timestamp::from_millis(1_000_000_000_000);
    let day = now.plus(Duration::from_secs(86_400));
    store.cache_put("a", "1", now, day).await.unwrap();
    store.cache_put("b", "2", now, day).await.unwrap();
    assert_eq!(
        store.cache_get("a", now).await.unwrap().as_deref(),
        Some("1")
    );
    assert_eq!(
        store.cache_get("b", now).await.unwrap().as_deref(),
        Some("2")
    );
    let after = day.plus(Duration::from_secs(1));
    assert_eq!(store.cache_get("a", after).await.unwrap(), None);
}

/// Generates one `#[tokio::test]` per behaviour for a backend: `conformance_suite!(make_harness)`
/// where `make_harness()` returns a fresh [`Harness`].
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@tests $make;
            concurrent_likes_lose_nothing,
            concurrent_likes_across_an_era_boundary,
            replayed_events_change_nothing,
            unlike_restores_prior_profile,
            forget_user_leaves_nothing,
            data_survives_reopen,
            same_image_is_captioned_once,
            bad_input_is_refused_and_loses_nothing,
            captions_are_read_by_the_default_extractor,
            scan_interests_pages_through_every_user,
            ads_respect_status_dates_caps_and_opt_outs,
            ads_explain_matches_and_lookalikes,
            clicks_are_idempotent_and_reports_recount,
            audiences_respect_opt_outs_and_the_minimum,
            similar_users_follow_profile_changes,
            the_cache_expires_by_the_callers_clock,
            neighbour_table_round_trips,
            stateless_serving_matches_the_index,
            stateless_serving_reads_own_rows_per_request,
            scans_page_through_every_record_once,
            item_events_pages_cover_the_range_once,
            bad_cursors_are_invalid_input,
            stored_audiences_round_trip_and_forget
        );
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn $name() {
                let harness = $make;
                if let Some(why) = $crate::Harness::skip_reason(&harness) {
                    eprintln!("\n*** SKIPPED {}: {why} ***\n", stringify!($name));
                    return;
                }
                $crate::$name(&harness).await;
            }
        )*
    };
}

/// Captions without interests go through the default noun extractor, and the extracted
/// interests are stored with the post for later likes.
pub async fn captions_are_read_by_the_default_extractor(h: &dyn Harness) {
    let engine = engine_at(h.open(), Arc::new(ManualClock::new(T0)));
    let out = engine
        .record_like(
            "reader",
            Post::new("caption-only")
                .with_caption("two giraffes standing next to a red fire hydrant"),
        )
        .await
        .unwrap();
    assert_eq!(out.interests, ["giraffe", "fire hydrant"]);
    let again = engine
        .record_like("other", Post::new("caption-only"))
        .await
        .unwrap();
    assert_eq!(again.interests, out.interests);
    let strict = Engine::builder()
        .shared_store(h.open())
        .no_extractor()
        .build()
        .unwrap();
    let err = strict
        .record_like("u", Post::new("fresh").with_caption("a cat"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CONFIG");
}

/// `scan_interests` returns every user with interests exactly once, in id order, page by page.
pub async fn scan_interests_pages_through_every_user(h: &dyn Harness) {
    let store = h.open();
    let engine = engine_at(store.clone(), Arc::new(ManualClock::new(T0)));
    for i in 0..23 {
        let terms: Vec<String> = (0..=(i % 3)).map(|j| format!("term{j}")).collect();
        engine
            .record_like(
                &format!("user-{i:02}"),
                Post::new(format!("p{i}")).with_interests(terms),
            )
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after: Option<UserId> = None;
    loop {
        let page = store.scan_interests(after.as_ref(), 7).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        for (u, recs) in &page {
            let i: usize = u.as_str()[5..].parse().unwrap();
            assert_eq!(recs.len(), i % 3 + 1, "{u}");
            seen.push(u.as_str().to_string());
        }
        after = Some(page.last().unwrap().0.clone());
    }
    let expected: Vec<String> = (0..23).map(|i| format!("user-{i:02}")).collect();
    assert_eq!(seen, expected);
}

fn surf_ads() -> Vec<Ad> {
    vec![
        Ad::new("surf-1", "WaveCo", "Boards for every wave", "Surf")
            .interests(["surfboards", "wave"]),
        Ad::new("surf-2", "WaveCo", "Wetsuits", "surf").interests(["wetsuit", "surfboard"]),
        Ad::new("kitchen-1", "Chefs", "Knives", "kitchen").interests(["kitchen knife"]),
    ]
}

async fn ad_ids(engine: &Engine, user: &str) -> Vec<String> {
    engine
        .ads_for(user, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.ad.id)
        .collect()
}

/// Paused, removed, not-yet-started and ended ads are not served; frequency caps count
/// impressions over a rolling day and a lifetime; opted-out categories are never shown;
/// an excluded category keeps an ad from users who clicked that category.
pub async fn ads_respect_status_dates_caps_and_opt_outs(h: &dyn Harness) {
    let clock = Arc::new(ManualClock::new(T0));
    let engine = engine_at(h.open(), clock.clone());
    let day = Duration::from_secs(86_400);
    let mut ads = surf_ads();
    ads[0] = ads[0]
        .clone()
        .frequency_cap(FrequencyCap::per_day(2).with_lifetime(3));
    ads[1] = ads[1]
        .clone()
        .between(Some(T0.plus(day)), Some(T0.plus(day * 3)));
    engine.add_ads(ads).await.unwrap();
    engine
        .record_like(
            "ana",
            Post::new("p1").with_interests(["surfboard", "beach"]),
        )
        .await
        .unwrap();
    assert_eq!(ad_ids(&engine, "ana").await, ["surf-1"]);

    // Dates: surf-2 runs from day 1 to day 3.
    clock.set(T0.plus(day));
    assert_eq!(ad_ids(&engine, "ana").await.len(), 2);
    clock.set(T0.plus(day * 3));
    assert_eq!(ad_ids(&engine, "ana").await, ["surf-1"]);

    // Caps: two impressions in 24 hours hide it until the first is a day old; three ever
    // hide it for good.
    clock.set(T0.plus(day * 4));
    engine.record_impression("ana", "surf-1").await.unwrap();
    clock.advance(Duration::from_secs(3600));
    engine.record_impression("ana", "surf-1").await.unwrap();
    assert!(ad_ids(&engine, "ana").await.is_empty());
    clock.advance(Duration::from_secs(23 * 3600 + 1));
    assert_eq!(ad_ids(&engine, "ana").await, ["surf-1"]);
    engine.record_impression("ana", "surf-1").await.unwrap();
    clock.advance(day * 10);
    assert!(ad_ids(&engine, "ana").await.is_empty());
    // Another user is not affected by ana's impressions.
    engine
        .record_like("ben", Post::new("p2").with_interests(["surfboard"]))
        .await
        .unwrap();
    assert_eq!(ad_ids(&engine, "ben").await, ["surf-1"]);

    // Pause, resume, remove.
    engine.pause_ad("surf-1").await.unwrap();
    assert!(ad_ids(&engine, "ben").await.is_empty());
    engine.resume_ad("surf-1").await.unwrap();
    assert_eq!(ad_ids(&engine, "ben").await, ["surf-1"]);
    assert!(engine.remove_ad("surf-1").await.unwrap());
    assert!(!engine.remove_ad("surf-1").await.unwrap());
    assert!(ad_ids(&engine, "ben").await.is_empty());
    assert_eq!(
        engine.resume_ad("surf-1").await.unwrap_err().code(),
        "CONFLICT"
    );
    assert_eq!(
        engine.pause_ad("nope").await.unwrap_err().code(),
        "NOT_FOUND"
    );
    assert!(engine.ads().await.unwrap().iter().all(|a| a.id != "surf-1"));

    // Opt-outs (category names are matched case-insensitively).
    engine
        .add_ads(vec![
            Ad::new("surf-3", "Boards", "Boards", "surf").interests(["surfboard"])
        ])
        .await
        .unwrap();
    assert_eq!(ad_ids(&engine, "ben").await, ["surf-3"]);
    engine.set_opt_out("ben", " SURF ", true).await.unwrap();
    assert_eq!(engine.opt_outs("ben").await.unwrap(), ["surf"]);
    assert!(ad_ids(&engine, "ben").await.is_empty());
    engine.set_opt_out("ben", "surf", false).await.unwrap();
    assert_eq!(ad_ids(&engine, "ben").await, ["surf-3"]);

    // Excluded categories: a user who clicked a kitchen ad does not see surf-4.
    engine
        .add_ads(vec![Ad::new("surf-4", "Boards", "No cooks", "surf")
            .interests(["surfboard"])
            .excluded_categories(["Kitchen"])])
        .await
        .unwrap();
    assert!(ad_ids(&engine, "ben").await.contains(&"surf-4".to_string()));
    engine.record_click("ben", "kitchen-1").await.unwrap();
    assert!(!ad_ids(&engine, "ben").await.contains(&"surf-4".to_string()));
}

/// Results name the interests that matched and how; ads clicked by similar users come up
/// with the number of those users.
pub async fn ads_explain_matches_and_lookalikes(h: &dyn Harness) {
    let engine = engine_at(h.open(), Arc::new(ManualClock::new(T0)));
    engine.add_ads(surf_ads()).await.unwrap();
    engine
        .add_ads(vec![
            Ad::new("tennis-1", "Rackets", "Rackets", "tennis").interests(["tennis"]),
            Ad::new("beach-1", "Towels", "Beach towels", "beach").interests(["towel"]),
        ])
        .await
        .unwrap();
    engine
        .record_like(
            "ana",
            Post::new("p1").with_interests(["surfboard", "wave", "tennis racket"]),
        )
        .await
        .unwrap();
    let ads = engine.ads_for("ana", 10).await.unwrap();
    let by_id: BTreeMap<&str, _> = ads.iter().map(|m| (m.ad.id.as_str(), m)).collect();
    let surf1 = by_id["surf-1"];
    let kinds: Vec<(&str, &str, &str)> = surf1
        .matched
        .iter()
        .map(|m| (m.interest.as_str(), m.ad_term.as_str(), m.kind.as_str()))
        .collect();
    assert!(
        kinds.contains(&("surfboard", "surfboards", "lemma")),
        "{kinds:?}"
    );
    assert!(kinds.contains(&("wave", "wave", "exact")), "{kinds:?}");
    assert_eq!(by_id["tennis-1"].matched[0].kind.as_str(), "compound");
    assert!(!by_id.contains_key("beach-1") && !by_id.contains_key("kitchen-1"));
    assert!(surf1.score > by_id["tennis-1"].score);
    assert_eq!(surf1.similar_users_engaged, 0);

    // Three surfers like ana click the towel ad: it reaches ana through them alone.
    for u in ["s1", "s2", "s3"] {
        engine
            .record_like(
                u,
                Post::new(format!("{u}-p")).with_interests(["surfboard", "wave"]),
            )
            .await
            .unwrap();
        engine.record_click(u, "beach-1").await.unwrap();
    }
    let ads = engine.ads_for("ana", 10).await.unwrap();
    let beach = ads
        .iter()
        .find(|m| m.ad.id == "beach-1")
        .expect("lookalike ad");
    assert_eq!(beach.similar_users_engaged, 3);
    assert!(beach.matched.is_empty());
    assert!(beach.lookalike_score > 0.99 && beach.interest_score == 0.0);
    // A user without interests gets nothing; a bad user id is refused.
    assert!(engine.ads_for("nobody", 5).await.unwrap().is_empty());
    assert_eq!(
        engine.ads_for("", 5).await.unwrap_err().code(),
        "INVALID_INPUT"
    );
}

/// Replayed click and impression ids count once (in the report and the profile); a click
/// adds the ad's interests at the click weight; the report equals a recount of the
/// recorded events, in a time zone with an offset.
pub async fn clicks_are_idempotent_and_reports_recount(h: &dyn Harness) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = h.open();
    let engine = engine_at(store.clone(), clock.clone());
    engine.add_ads(surf_ads()).await.unwrap();
    let first = engine
        .record_click_with("u1", "surf-1", EventOptions::id("c-1"))
        .await
        .unwrap();
    assert_eq!(first.status, EventStatus::Applied);
    let weight_after_one = engine.interests("u1", 5).await.unwrap();
    assert_eq!(weight_after_one[0].weight, 0.5);
    let again = engine
        .record_click_with("u1", "surf-1", EventOptions::id("c-1"))
        .await
        .unwrap();
    assert_eq!(again.status, EventStatus::Duplicate);
    assert_same_profile(&weight_after_one, &engine.interests("u1", 5).await.unwrap());
    let reused = engine
        .record_click_with("u1", "surf-2", EventOptions::id("c-1"))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), "CONFLICT");
    assert_eq!(
        engine
            .record_click("u1", "no-such-ad")
            .await
            .unwrap_err()
            .code(),
        "NOT_FOUND"
    );

    // A day of events at known times, some replayed. The clock moves to the day's end:
    // event times may lie at most the allowed skew (a day) ahead of it.
    clock.set(T0.plus(Duration::from_secs(2 * 86_400)));
    let ads = ["surf-1", "surf-2", "kitchen-1"];
    let mut expected: BTreeMap<(String, u8), (u64, u64)> = BTreeMap::new();
    for i in 0..60u32 {
        let at = T0.plus(Duration::from_secs(u64::from(i) * 1500));
        let ad = ads[(i % 3) as usize];
        let category = if ad.starts_with("surf") {
            "surf"
        } else {
            "kitchen"
        };
        // New York is UTC-5 in January.
        let hour = ((at.as_millis() / 3_600_000 - 5).rem_euclid(24)) as u8;
        let user = format!("u{}", i % 7);
        engine
            .record_impression_with(&user, ad, EventOptions::id(format!("i-{i}")).at(at))
            .await
            .unwrap();
        expected.entry((category.into(), hour)).or_default().0 += 1;
        if i % 4 == 0 {
            for _ in 0..2 {
                engine
                    .record_click_with(&user, ad, EventOptions::id(format!("k-{i}")).at(at))
                    .await
                    .unwrap();
            }
            expected.entry((category.into(), hour)).or_default().1 += 1;
        }
    }
    // c-1 was recorded at T0 (19:00 the day before in New York).
    expected.entry(("surf".into(), 19)).or_default().1 += 1;
    let report = engine
        .click_report(ReportQuery::by_category_and_hour().time_zone("America/New_York"))
        .await
        .unwrap();
    let got: BTreeMap<(String, u8), (u64, u64)> = report
        .rows
        .iter()
        .map(|r| {
            (
                (r.category.clone().unwrap(), r.hour.unwrap()),
                (r.impressions, r.clicks),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!((report.impressions, report.clicks), (60, 16));
    // The same recount straight from the store's events.
    let events = store
        .item_events(
            Timestamp::from_millis(i64::MIN),
            Timestamp::from_millis(i64::MAX),
        )
        .await
        .unwrap();
    assert_eq!(
        events.iter().filter(|e| e.kind == EventKind::Click).count(),
        16
    );
    // A range and other dimensions.
    let ranged = engine
        .click_report(ReportQuery::by([Dimension::Ad, Dimension::Date]).between(
            Some(T0.plus(Duration::from_secs(1500))),
            Some(T0.plus(Duration::from_secs(3000))),
        ))
        .await
        .unwrap();
    assert_eq!(ranged.rows.len(), 1);
    assert_eq!(ranged.rows[0].ad.as_deref(), Some("surf-2"));
    assert_eq!(ranged.rows[0].date.as_deref(), Some("2026-01-01"));
    assert_eq!(
        engine
            .click_report(ReportQuery::default().time_zone("Nowhere/City"))
            .await
            .unwrap_err()
            .code(),
        "INVALID_INPUT"
    );
    // Caps count impressions per user and ad.
    let counts = store
        .user_item_counts(&UserId::new("u0").unwrap(), EventKind::Impression, T0)
        .await
        .unwrap();
    assert_eq!(counts.iter().map(|c| c.total).sum::<u64>(), 9);
}

/// Audiences rank users by fit, leave out opted-out users and an ad's own clickers, and
/// sizes under the minimum are refused.
pub async fn audiences_respect_opt_outs_and_the_minimum(h: &dyn Harness) {
    let engine = Engine::builder()
        .shared_store(h.open())
        .clock(Arc::new(ManualClock::new(T0)))
        .ads_config(sociallens::ads::AdsConfig {
            min_audience_size: 5,
            ..Default::default()
        })
        .build()
        .unwrap();
    engine.add_ads(surf_ads()).await.unwrap();
    for i in 0..6 {
        engine
            .record_like(
                &format!("surfer-{i}"),
                Post::new(format!("s{i}")).with_interests(["surfboard", "wave"]),
            )
            .await
            .unwrap();
    }
    engine
        .record_like(
            "half",
            Post::new("h").with_interests(["surfboard", "cat", "dog"]),
        )
        .await
        .unwrap();
    engine
        .record_like("cook", Post::new("c").with_interests(["kitchen", "pan"]))
        .await
        .unwrap();
    // A surfer of long ago: the wave has decayed to nothing against today's cats, and
    // `audience_min_score` keeps them out.
    engine
        .record_like_with(
            "faded",
            Post::new("old").with_interests(["wave"]),
            EventOptions::id("faded-1").at(T0.minus(Duration::from_secs(400 * 86_400))),
        )
        .await
        .unwrap();
    engine
        .record_upload("faded", Post::new("cats").with_interests(["cat"]))
        .await
        .unwrap();
    let who = engine
        .audience(AudienceQuery::interests(["surfboards", "wave"]), 100)
        .await
        .unwrap();
    assert_eq!(who.len(), 7);
    assert_eq!(who.last().unwrap().user.as_str(), "half");
    assert_eq!(who.last().unwrap().matched, ["surfboard"]);
    assert_eq!(
        engine
            .audience_size(AudienceQuery::interests(["surfboard"]))
            .await
            .unwrap(),
        7
    );
    // Opted-out users leave ad audiences; the ad's clickers are its seed, not its audience.
    engine.set_opt_out("surfer-0", "surf", true).await.unwrap();
    engine.record_click("surfer-1", "surf-1").await.unwrap();
    let ad_audience = engine
        .audience(AudienceQuery::ad("surf-1"), 100)
        .await
        .unwrap();
    let names: Vec<&str> = ad_audience.iter().map(|m| m.user.as_str()).collect();
    assert!(
        !names.contains(&"surfer-0") && !names.contains(&"surfer-1"),
        "{names:?}"
    );
    assert_eq!(names.len(), 5);
    let err = engine
        .audience_size(AudienceQuery::interests(["pan"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PRIVACY");
    assert!(!err.to_string().contains("cook"));
    // The members of a small audience are refused as its size is.
    let err = engine
        .audience(AudienceQuery::interests(["pan"]), 10)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PRIVACY");
    assert!(!err.to_string().contains("cook"));
    let internal = engine
        .audience_bypassing_privacy_minimum(AudienceQuery::interests(["pan"]), 10)
        .await
        .unwrap();
    assert_eq!(internal.len(), 1);
    assert_eq!(internal[0].user.as_str(), "cook");
    assert_eq!(
        engine
            .audience(AudienceQuery::ad("nope"), 5)
            .await
            .unwrap_err()
            .code(),
        "NOT_FOUND"
    );
    assert_eq!(
        engine
            .audience(AudienceQuery::interests(Vec::<String>::new()), 5)
            .await
            .unwrap_err()
            .code(),
        "INVALID_INPUT"
    );
}

/// Similar users follow likes, unlikes and decay as they happen, and an index rebuilt from
/// the store agrees with the one kept current.
pub async fn similar_users_follow_profile_changes(h: &dyn Harness) {
    let clock = Arc::new(ManualClock::new(T0));
    let engine = engine_at(h.open(), clock.clone());
    engine
        .record_like("me", Post::new("m").with_interests(["dog", "park"]))
        .await
        .unwrap();
    engine
        .record_like("twin", Post::new("t").with_interests(["dog", "park"]))
        .await
        .unwrap();
    engine
        .record_like("cousin", Post::new("c").with_interests(["dog", "frisbee"]))
        .await
        .unwrap();
    let peers = engine.similar_users("me", 5).await.unwrap();
    assert_eq!(peers[0].user.as_str(), "twin");
    assert!((peers[0].score - 1.0).abs() < 1e-6);
    assert!((peers[1].score - 0.5).abs() < 1e-6);
    // The twin takes back the like and moves on to cats.
    engine.unlike("twin", "t").await.unwrap();
    engine
        .record_like("twin", Post::new("t2").with_interests(["cat"]))
        .await
        .unwrap();
    let peers = engine.similar_users("me", 5).await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].user.as_str(), "cousin");
    assert_eq!(peers[0].shared, ["dog"]);
    // Another engine on the same store (another process) writes; a refresh sees it.
    let other = engine_at(h.open(), clock.clone());
    if h.persistent() {
        other
            .record_like("late", Post::new("l").with_interests(["dog", "park"]))
            .await
            .unwrap();
        let stats = engine.refresh_index().await.unwrap();
        assert_eq!(stats.users, 4);
        assert_eq!(
            engine.similar_users("me", 1).await.unwrap()[0]
                .user
                .as_str(),
            "late"
        );
    }
    // A month later me's old "park" has decayed against a fresh "dog": the cousin
    // (dog, frisbee) and me (dog ≫ park) grow closer, and a rebuild agrees exactly.
    clock.advance(Duration::from_secs(60 * 86_400));
    engine
        .record_like("me", Post::new("m2").with_interests(["dog"]))
        .await
        .unwrap();
    let live = engine.similar_users("me", 5).await.unwrap();
    engine.refresh_index().await.unwrap();
    let rebuilt = engine.similar_users("me", 5).await.unwrap();
    assert_eq!(live.len(), rebuilt.len());
    for (a, b) in live.iter().zip(&rebuilt) {
        assert_eq!(a.user, b.user);
        assert!((a.score - b.score).abs() < 1e-5, "{a:?} {b:?}");
    }
    assert_eq!(engine.similar_users("ghost", 5).await.unwrap().len(), 0);
}

fn neighbour(user: &str, score: f64, shared: &[&str]) -> sociallens::Neighbour {
    sociallens::Neighbour {
        user: UserId::new(user).unwrap(),
        score,
        shared_terms: shared.iter().map(|s| s.to_string()).collect(),
    }
}

/// The neighbour table: lists come back in the order asked, best first, with their time;
/// a put replaces (an empty list clears); a bad list is refused and writes nothing;
/// `users_with_term` pages through a term's users in id order with their rows.
pub async fn neighbour_table_round_trips(h: &dyn Harness) {
    use sociallens::NeighbourList;
    let store = h.open();
    let id = |s: &str| UserId::new(s).unwrap();
    let t1 = T0.plus(Duration::from_secs(60));
    let ana = NeighbourList {
        user: id("ana"),
        neighbours: vec![
            neighbour("ben", 0.9, &["surfboard", "wave"]),
            neighbour("cleo", 0.4, &["wave"]),
        ],
        computed_at: t1,
    };
    let ben = NeighbourList {
        user: id("ben"),
        neighbours: vec![neighbour("ana", 0.9, &["surfboard"])],
        computed_at: T0,
    };
    store
        .put_neighbours(&[ana.clone(), ben.clone()])
        .await
        .unwrap();
    let got = store
        .neighbours(&[id("ben"), id("nobody"), id("ana")])
        .await
        .unwrap();
    assert_eq!(got, vec![ben.clone(), ana.clone()]);
    // Replacing a list drops its old entries; an empty list clears it.
    let ana2 = NeighbourList {
        user: id("ana"),
        neighbours: vec![neighbour("dan", 0.7, &[])],
        computed_at: t1.plus(Duration::from_secs(1)),
    };
    let ben_cleared = NeighbourList {
        neighbours: Vec::new(),
        ..ben.clone()
    };
    store
        .put_neighbours(&[ana2.clone(), ben_cleared])
        .await
        .unwrap();
    assert_eq!(
        store.neighbours(&[id("ana"), id("ben")]).await.unwrap(),
        vec![ana2.clone()]
    );
    // Not a cosine, or oneself as a neighbour: refused, and the good list of the same
    // batch is not written either.
    for bad in [
        neighbour("x", f64::NAN, &[]),
        neighbour("x", 2.0, &[]),
        neighbour("eve", 0.5, &[]),
    ] {
        let lists = [
            NeighbourList {
                user: id("fred"),
                neighbours: vec![neighbour("ana", 0.5, &[])],
                computed_at: T0,
            },
            NeighbourList {
                user: id("eve"),
                neighbours: vec![bad],
                computed_at: T0,
            },
        ];
        let err = store.put_neighbours(&lists).await.unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT");
        assert!(store
            .neighbours(&[id("fred"), id("eve")])
            .await
            .unwrap()
            .is_empty());
    }
    assert_eq!(store.neighbours(&[id("ana")]).await.unwrap(), vec![ana2]);

    // users_with_term: 25 users with "kite" (and others without), paged by 10.
    let engine = engine_at(store.clone(), Arc::new(ManualClock::new(T0)));
    for i in 0..25 {
        let terms: &[&str] = if i % 2 == 0 {
            &["kite", "beach"]
        } else {
            &["kite"]
        };
        engine
            .record_like(
                &format!("k{i:02}"),
                Post::new(format!("kp{i}")).with_interests(terms.iter().copied()),
            )
            .await
            .unwrap();
    }
    engine
        .record_like("other", Post::new("o").with_interests(["cat"]))
        .await
        .unwrap();
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<UserId> = None;
    loop {
        let page = store
            .users_with_term("kite", after.as_ref(), 10)
            .await
            .unwrap();
        assert!(page.len() <= 10);
        for (u, rec) in &page {
            assert_eq!(rec.term, "kite");
            assert_eq!(rec.count, 1);
            assert!((rec.weight_at(T0, sociallens::Decay::default()) - 1.0).abs() < 1e-9);
            seen.push(u.as_str().to_string());
        }
        match page.last() {
            Some((u, _)) if page.len() == 10 => after = Some(u.clone()),
            _ => break,
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
    assert_eq!(seen, want);
    let beach = store.users_with_term("beach", None, 100).await.unwrap();
    assert_eq!(beach.len(), 13);
    assert!(store
        .users_with_term("nothing", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .users_with_term("kite", None, 0)
        .await
        .unwrap()
        .is_empty());
}

/// Ads for the comparison of stateless serving with the index: interest matches of every
/// kind, a lookalike-only ad, a frequency cap, an excluded category, a paused ad.
fn comparison_ads() -> Vec<Ad> {
    let mut ads = surf_ads();
    ads.extend([
        Ad::new("tennis-1", "Rackets", "Rackets", "tennis")
            .interests(["tennis racket"])
            .frequency_cap(FrequencyCap::per_day(1)),
        Ad::new("beach-1", "Towels", "Beach towels", "beach").interests(["towel"]),
        Ad::new("pets-1", "Pets", "Food for pets", "pets")
            .interests(["cat food", "dog"])
            .excluded_categories(["kitchen"]),
        Ad::new("pizza-1", "Ovens", "Pizza ovens", "kitchen")
            .interests(["pizza oven", "pizza"])
            .status(sociallens::ads::AdStatus::Paused),
        Ad::new("kite-1", "Kites", "Kites", "kite").interests(["kite", "beach"]),
    ]);
    ads
}

/// A small world for the comparison: 40 users with 1-4 interests each (weights spread over
/// two months), clicks, impressions and opt-outs, written through `engine`.
async fn comparison_world(engine: &Engine, clock: &ManualClock) -> Vec<String> {
    const WORDS: [&str; 10] = [
        "surfboard",
        "wave",
        "beach",
        "tennis",
        "tennis racket",
        "cat",
        "dog",
        "pizza",
        "oven",
        "kite",
    ];
    let mut seed = 0x51a7_e1e5_u64;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % n as u64) as usize
    };
    engine.add_ads(comparison_ads()).await.unwrap();
    let users: Vec<String> = (0..40).map(|i| format!("cmp-{i:02}")).collect();
    for (i, u) in users.iter().enumerate() {
        for p in 0..1 + next(3) {
            let terms: Vec<&str> = (0..1 + next(3)).map(|_| WORDS[next(WORDS.len())]).collect();
            let at = T0.minus(Duration::from_secs(next(60) as u64 * 86_400));
            engine
                .record_like_with(
                    u,
                    Post::new(format!("{u}-p{p}")).with_interests(terms),
                    EventOptions::default().at(at),
                )
                .await
                .unwrap();
        }
        match i % 7 {
            0 => {
                engine.record_click(u, "beach-1").await.unwrap();
            }
            1 => {
                engine.record_click(u, "surf-1").await.unwrap();
            }
            2 => {
                engine.record_click(u, "kitchen-1").await.unwrap();
            }
            3 => {
                engine.record_impression(u, "tennis-1").await.unwrap();
            }
            4 => engine.set_opt_out(u, "surf", true).await.unwrap(),
            _ => {}
        }
    }
    clock.advance(Duration::from_secs(3600));
    users
}

/// Letter counts, normalised: a deterministic stand-in for a sentence-embedding model.
struct Letters;

impl sociallens::recommend::Embedder for Letters {
    fn model_id(&self) -> String {
        "letters".into()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = [0f32; 26];
                for b in t.bytes().filter(u8::is_ascii_lowercase) {
                    v[(b - b'a') as usize] += 1.0;
                }
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
                v.iter().map(|x| x / n).collect()
            })
            .collect())
    }
}

/// `live.ads_for(u)` and `cold.ads_for(u)` agree: ids in order, scores, lookalike counts,
/// explanations; the stateless one says its neighbours were computed at `at`. Returns
/// (ads compared, lookalike ads among them).
async fn compare_ads_for(
    live: &Engine,
    cold: &Engine,
    u: &str,
    at: Option<Timestamp>,
) -> (usize, usize) {
    let mut lookalikes = 0;
    let want = live.ads_for(u, 10).await.unwrap();
    let got = cold.ads_for(u, 10).await.unwrap();
    let ids =
        |v: &[sociallens::ads::AdMatch]| v.iter().map(|m| m.ad.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&want), ids(&got), "ads for {u}");
    for (w, g) in want.iter().zip(&got) {
        assert!(
            close(w.score, g.score),
            "{u} {}: {} vs {}",
            w.ad.id,
            w.score,
            g.score
        );
        assert!(close(w.interest_score, g.interest_score));
        assert!(close(w.lookalike_score, g.lookalike_score));
        assert_eq!(w.similar_users_engaged, g.similar_users_engaged);
        let why = |m: &sociallens::ads::AdMatch| {
            let mut v: Vec<(String, String, &'static str)> = m
                .matched
                .iter()
                .map(|x| (x.interest.clone(), x.ad_term.clone(), x.kind.as_str()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(why(w), why(g), "{u} {}", w.ad.id);
        assert_eq!(w.neighbours_computed_at, None);
        assert_eq!(g.neighbours_computed_at, at);
        lookalikes += usize::from(g.similar_users_engaged > 0);
    }
    (want.len(), lookalikes)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5
}

/// Stateless serving gives the index's answers on the same data after a neighbour build:
/// ads (scores, lookalikes, explanations, caps, opt-outs, exclusions), similar users and
/// audiences (members, scores, sizes, the privacy minimum); and says how old its
/// neighbours are.
pub async fn stateless_serving_matches_the_index(h: &dyn Harness) {
    let clock = Arc::new(ManualClock::new(T0));
    let config = sociallens::ads::AdsConfig {
        min_audience_size: 3,
        ..Default::default()
    };
    let live = Engine::builder()
        .shared_store(h.open())
        .clock(clock.clone())
        .ads_config(config)
        .build()
        .unwrap();
    let users = comparison_world(&live, &clock).await;
    let built = live.build_neighbours(100).await.unwrap();
    assert_eq!(built.computed_at, live.now());
    assert_eq!(built.users, users.len());
    let cold = Engine::builder()
        .shared_store(h.open())
        .clock(clock.clone())
        .ads_config(config)
        .serving(sociallens::Serving::stateless())
        .build()
        .unwrap();
    let (mut compared_ads, mut lookalikes, mut peers) = (0, 0, 0);
    for u in &users {
        let want = live.similar_users(u, 100).await.unwrap();
        let got = cold.similar_users(u, 100).await.unwrap();
        assert_eq!(want.len(), got.len(), "similar users of {u}");
        let by_user: BTreeMap<&str, &sociallens::ads::SimilarUser> =
            got.iter().map(|s| (s.user.as_str(), s)).collect();
        for w in &want {
            let g = by_user[w.user.as_str()];
            assert!(close(w.score, g.score), "{u}: {w:?} vs {g:?}");
            let mut a = w.shared.clone();
            let mut b = g.shared.clone();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{u}: shared with {}", w.user);
            assert_eq!(
                (w.computed_at, g.computed_at),
                (None, Some(built.computed_at))
            );
        }
        peers += want.len();

        let (n, l) = compare_ads_for(&live, &cold, u, Some(built.computed_at)).await;
        compared_ads += n;
        lookalikes += l;
    }
    assert!(
        compared_ads > 40 && lookalikes > 5 && peers > 100,
        "{compared_ads} {lookalikes} {peers}"
    );

    let queries = [
        AudienceQuery::interests(["surfboard", "wave"]),
        AudienceQuery::interests(["cat"]),
        AudienceQuery::interests(["tennis"]),
        AudienceQuery::interests(["kite", "beach"]),
        AudienceQuery::ad("surf-1"),
        AudienceQuery::ad("beach-1"),
        AudienceQuery::ad("pets-1"),
    ];
    for q in &queries {
        let want = live
            .audience_bypassing_privacy_minimum(q.clone(), 1000)
            .await
            .unwrap();
        let got = cold
            .audience_bypassing_privacy_minimum(q.clone(), 1000)
            .await
            .unwrap();
        assert_eq!(want.len(), got.len(), "{q:?}");
        assert!(!want.is_empty(), "{q:?}");
        let by_user: BTreeMap<&str, &sociallens::ads::AudienceMember> =
            got.iter().map(|m| (m.user.as_str(), m)).collect();
        for w in &want {
            let g = by_user
                .get(w.user.as_str())
                .unwrap_or_else(|| panic!("{q:?}: {} missing", w.user));
            assert!(close(w.score, g.score), "{q:?}: {w:?} vs {g:?}");
            let (mut a, mut b) = (w.matched.clone(), g.matched.clone());
            a.sort();
            b.sort();
            assert_eq!(a, b, "{q:?} {}", w.user);
        }
        for (a, b) in got.iter().zip(got.iter().skip(1)) {
            assert!(a.score >= b.score, "{q:?}: not best first");
        }
        let size = |r: Result<usize>| r.map_err(|e| e.code());
        assert_eq!(
            size(live.audience_size(q.clone()).await),
            size(cold.audience_size(q.clone()).await),
            "{q:?}"
        );
    }
    // The privacy minimum holds the same way.
    let small = AudienceQuery::interests(["wetsuit"]);
    assert_eq!(
        cold.audience(small.clone(), 10).await.unwrap_err().code(),
        "PRIVACY"
    );
    assert_eq!(
        live.audience(small, 10).await.unwrap_err().code(),
        "PRIVACY"
    );
    assert_eq!(
        cold.audience(AudienceQuery::ad("nope"), 5)
            .await
            .unwrap_err()
            .code(),
        "NOT_FOUND"
    );
    // Nothing of any user was loaded into memory.
    assert_eq!(cold.refresh_index().await.unwrap().users, 0);

    // With an embedder, semantic matches (computed per term, cached) agree too.
    let with_embedder = |serving| {
        Engine::builder()
            .shared_store(h.open())
            .clock(clock.clone())
            .ads_config(config)
            .embedder(Letters)
            .serving(serving)
            .build()
            .unwrap()
    };
    let live = with_embedder(sociallens::Serving::InMemoryIndex);
    let cold = with_embedder(sociallens::Serving::stateless());
    let mut semantic = 0;
    for u in &users {
        compare_ads_for(&live, &cold, u, Some(built.computed_at)).await;
        semantic += cold
            .ads_for(u, 10)
            .await
            .unwrap()
            .iter()
            .flat_map(|m| &m.matched)
            .filter(|m| m.kind.as_str() == "semantic")
            .count();
    }
    assert!(semantic > 0);
}

/// Stateless serving reads the user's own rows per request (a like changes their ads at
/// once), serves similar users from the last neighbour build and says when it ran, drops
/// a forgotten user from every list at once, and sees other processes' ads after its
/// inventory TTL.
pub async fn stateless_serving_reads_own_rows_per_request(h: &dyn Harness) {
    use sociallens::Serving;
    let clock = Arc::new(ManualClock::new(T0));
    let stateless = |ttl: Duration| {
        Engine::builder()
            .shared_store(h.open())
            .clock(clock.clone())
            .serving(Serving::Stateless { inventory_ttl: ttl })
            .build()
            .unwrap()
    };
    let cold = stateless(Duration::from_secs(3600));
    cold.add_ads(comparison_ads()).await.unwrap();
    cold.record_like("ana", Post::new("a1").with_interests(["surfboard"]))
        .await
        .unwrap();
    let ids = |v: Vec<sociallens::ads::AdMatch>| v.into_iter().map(|m| m.ad.id).collect::<Vec<_>>();
    assert_eq!(
        ids(cold.ads_for("ana", 10).await.unwrap()),
        ["surf-2", "surf-1"]
    );
    // A like changes ana's own ads at once; no neighbours are stored yet.
    cold.record_like("ana", Post::new("a2").with_interests(["tennis racket"]))
        .await
        .unwrap();
    let ads = cold.ads_for("ana", 10).await.unwrap();
    assert!(ads.iter().any(|m| m.ad.id == "tennis-1"), "{ads:?}");
    assert!(ads.iter().all(|m| m.neighbours_computed_at.is_none()));
    assert!(cold.similar_users("ana", 5).await.unwrap().is_empty());
    // A frequency cap counts impressions at once too.
    cold.record_impression("ana", "tennis-1").await.unwrap();
    assert!(!ids(cold.ads_for("ana", 10).await.unwrap()).contains(&"tennis-1".to_string()));

    cold.record_like(
        "ben",
        Post::new("b1").with_interests(["surfboard", "tennis racket"]),
    )
    .await
    .unwrap();
    cold.record_click("ben", "beach-1").await.unwrap();
    let first = cold.build_neighbours(20).await.unwrap();
    let peers = cold.similar_users("ana", 5).await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].user.as_str(), "ben");
    assert_eq!(peers[0].computed_at, Some(T0));
    // ben's click reaches ana through the table.
    let beach = cold.ads_for("ana", 10).await.unwrap();
    let beach = beach
        .iter()
        .find(|m| m.ad.id == "beach-1")
        .expect("lookalike ad");
    assert_eq!(
        (beach.similar_users_engaged, beach.neighbours_computed_at),
        (1, Some(first.computed_at))
    );

    // A day later cleo arrives: not a neighbour until the next build, which says when.
    clock.advance(Duration::from_secs(86_400));
    cold.record_like("cleo", Post::new("c1").with_interests(["surfboard"]))
        .await
        .unwrap();
    assert_eq!(cold.similar_users("ana", 5).await.unwrap().len(), 1);
    let second = cold.build_neighbours(20).await.unwrap();
    assert_eq!(second.computed_at, cold.now());
    let peers = cold.similar_users("ana", 5).await.unwrap();
    assert_eq!(peers.len(), 2);
    assert!(peers
        .iter()
        .all(|p| p.computed_at == Some(second.computed_at)));
    // Forgetting cleo takes her out of every list at once.
    cold.forget_user("cleo").await.unwrap();
    let peers = cold.similar_users("ana", 5).await.unwrap();
    assert_eq!(
        peers.iter().map(|p| p.user.as_str()).collect::<Vec<_>>(),
        ["ben"]
    );
    assert!(cold.similar_users("cleo", 5).await.unwrap().is_empty());

    // Ads written by another process: seen after the inventory's TTL (here: at once with
    // a zero TTL; after a refresh with the hour-long one).
    let other = stateless(Duration::from_secs(3600));
    other
        .add_ads(vec![
            Ad::new("surf-9", "Wax", "Wax", "surf").interests(["surfboard"])
        ])
        .await
        .unwrap();
    if h.persistent() || Arc::ptr_eq(&h.open(), &h.open()) {
        // Within the TTL the inventory does not serve it...
        assert!(!ids(cold.ads_for("ana", 10).await.unwrap()).contains(&"surf-9".to_string()));
        // ...but a click on it is not refused (an unknown id reads the ads again, at most
        // once a second).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        cold.record_click("ben", "surf-9").await.unwrap();
        let fresh = stateless(Duration::ZERO);
        assert!(ids(fresh.ads_for("ana", 10).await.unwrap()).contains(&"surf-9".to_string()));
        assert_eq!(cold.refresh_index().await.unwrap().users, 0);
        assert!(ids(cold.ads_for("ana", 10).await.unwrap()).contains(&"surf-9".to_string()));
    }
    // Bad input is refused.
    assert_eq!(
        cold.ads_for("", 5).await.unwrap_err().code(),
        "INVALID_INPUT"
    );
    assert_eq!(
        cold.build_neighbours(0).await.unwrap_err().code(),
        "INVALID_INPUT"
    );
}

/// Reads every page of a scan, checking the page contract on the way: no page longer than
/// the limit, and the scan ends (a bounded number of pages).
pub async fn all_pages<T, F, Fut>(limit: usize, mut page: F) -> Vec<T>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<sociallens::store::Page<T>>>,
{
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..100_000 {
        let p = page(cursor.take()).await.unwrap();
        assert!(
            p.items.len() <= limit,
            "{} items for a limit of {limit}",
            p.items.len()
        );
        out.extend(p.items);
        match p.next {
            Some(n) => cursor = Some(n),
            None => return out,
        }
    }
    panic!("the scan did not end");
}

/// Every scan (captions, posts, events, opt-outs, neighbours, audiences) returns each record
/// exactly once across pages, whatever the page size, and equal to the record as read by key.
pub async fn scans_page_through_every_record_once(h: &dyn Harness) {
    use sociallens::store::{AudienceEntry, CachedCaption, Neighbour, NeighbourList, PostRecord};
    let store = h.open();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = engine_at(store.clone(), clock.clone());
    let mut event_ids = Vec::new();
    for i in 0..23 {
        let user = format!("scan-user-{:02}", i % 7);
        let post = Post::new(format!("scan-post-{i:02}"))
            .by(user.clone())
            .with_caption(format!("caption {i}"))
            .with_interests([format!("t{}", i % 4)]);
        let out = engine.record_upload(&user, post).await.unwrap();
        event_ids.push(out.event_id.to_string());
        clock.advance(Duration::from_secs(61));
    }
    engine
        .add_ads(vec![Ad::new("scan-ad", "Acme", "Scan", "scans")])
        .await
        .unwrap();
    for i in 0..5 {
        let id = engine
            .record_click(&format!("scan-user-{i}"), "scan-ad")
            .await
            .unwrap();
        event_ids.push(id.event_id.to_string());
    }
    for i in 0..11 {
        store
            .put_cached_caption(&CachedCaption {
                image_sha256: format!("{i:064x}"),
                caption: format!("a caption {i}"),
                model: "m".into(),
                created_at: Timestamp::from_millis(T0.as_millis() + i),
            })
            .await
            .unwrap();
    }
    for i in 0..6 {
        engine
            .set_opt_out(&format!("scan-user-{i}"), &format!("Cat{}", i % 2), true)
            .await
            .unwrap();
    }
    let lists: Vec<NeighbourList> = (0..5)
        .map(|i| NeighbourList {
            user: UserId::new(format!("scan-user-{i}")).unwrap(),
            neighbours: vec![Neighbour {
                user: UserId::new(format!("scan-user-{}", i + 1)).unwrap(),
                score: 0.5,
                shared_terms: vec!["t1".into()],
            }],
            computed_at: T0,
        })
        .collect();
    store.put_neighbours(&lists).await.unwrap();
    for ad in 0..4 {
        let members: Vec<AudienceEntry> = (0..3)
            .map(|m| AudienceEntry {
                user: UserId::new(format!("scan-user-{}", (ad + m) % 7)).unwrap(),
                score: 1.0 - m as f64 / 10.0,
            })
            .collect();
        store
            .put_audience(&format!("scan-ad-{ad}"), &members, T0)
            .await
            .unwrap();
    }

    for limit in [1usize, 4, 1000] {
        let captions = all_pages(limit, |c| {
            let store = store.clone();
            async move { store.scan_captions(c.as_deref(), limit).await }
        })
        .await;
        let mut hashes: Vec<&str> = captions.iter().map(|c| c.image_sha256.as_str()).collect();
        hashes.sort();
        let n = hashes.len();
        hashes.dedup();
        assert_eq!((n, hashes.len()), (11, 11), "limit {limit}");
        for c in &captions {
            let by_key = store.cached_caption(&c.image_sha256).await.unwrap();
            assert_eq!(by_key.as_ref(), Some(c));
        }

        let posts: Vec<PostRecord> = all_pages(limit, |c| {
            let store = store.clone();
            async move { store.scan_posts(c.as_deref(), limit).await }
        })
        .await;
        let mut ids: Vec<String> = posts.iter().map(|p| p.id.to_string()).collect();
        ids.sort();
        let want: Vec<String> = (0..23).map(|i| format!("scan-post-{i:02}")).collect();
        assert_eq!(ids, want, "limit {limit}");
        for p in &posts {
            assert_eq!(store.post(&p.id).await.unwrap().as_ref(), Some(p));
        }

        let events = all_pages(limit, |c| {
            let store = store.clone();
            async move { store.scan_events(c.as_deref(), limit).await }
        })
        .await;
        let mut ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
        ids.sort();
        let mut want = event_ids.clone();
        want.sort();
        assert_eq!(ids, want, "limit {limit}");
        for e in &events {
            assert_eq!(store.event(&e.id).await.unwrap().as_ref(), Some(e));
        }

        let opt_outs = all_pages(limit, |c| {
            let store = store.clone();
            async move { store.scan_opt_outs(c.as_deref(), limit).await }
        })
        .await;
        let mut pairs: Vec<(String, String)> = opt_outs
            .iter()
            .map(|o| (o.user.to_string(), o.category.clone()))
            .collect();
        pairs.sort();
        let want: Vec<(String, String)> = (0..6)
            .map(|i| (format!("scan-user-{i}"), format!("cat{}", i % 2)))
            .collect();
        assert_eq!(pairs, want, "limit {limit}");
        assert!(opt_outs
            .iter()
            .all(|o| o.at == sociallens::Clock::now(&*clock)));

        let mut neighbours = all_pages(limit, |c| {
            let store = store.clone();
            async move { store.scan_neighbours(c.as_deref(), limit).await }
        })
        .await;
        neighbours.sort_by(|a, b| a.user.cmp(&b.user));
        assert_eq!(neighbours, lists, "limit {limit}");

        let mut audiences = all_pages(limit, |c| {
            let store = store.clone();
            async move { store.scan_audiences(c.as_deref(), limit).await }
        })
        .await;
        audiences.sort_by(|a, b| a.ad_id.cmp(&b.ad_id));
        assert_eq!(audiences.len(), 4, "limit {limit}");
        for a in &audiences {
            assert_eq!(a.members.len(), 3);
            assert_eq!(
                store.audience(&a.ad_id, 10).await.unwrap().as_ref(),
                Some(a)
            );
        }
    }
}

/// `item_events_page` returns each click and impression with `from <= at < to` exactly once,
/// across days, whatever the page size, and nothing else (no likes, nothing outside).
pub async fn item_events_pages_cover_the_range_once(h: &dyn Harness) {
    let store = h.open();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = engine_at(store.clone(), clock.clone());
    engine
        .record_like("pager", Post::new("pp").with_interests(["x"]))
        .await
        .unwrap();
    engine
        .add_ads(vec![Ad::new("ad-p", "Acme", "Pager", "pages")])
        .await
        .unwrap();
    let mut inside = Vec::new();
    for i in 0..30u64 {
        // Five hours apart: the events span three calendar days.
        clock.set(Timestamp::from_millis(
            T0.as_millis() + (i as i64) * 5 * 3_600_000,
        ));
        let user = format!("pager-{}", i % 3);
        let id = if i % 2 == 0 {
            engine.record_click(&user, "ad-p").await.unwrap().event_id
        } else {
            engine
                .record_impression(&user, "ad-p")
                .await
                .unwrap()
                .event_id
        };
        if (3..27).contains(&i) {
            inside.push(id.to_string());
        }
    }
    inside.sort();
    let from = Timestamp::from_millis(T0.as_millis() + 3 * 5 * 3_600_000);
    let to = Timestamp::from_millis(T0.as_millis() + 27 * 5 * 3_600_000);
    for limit in [1usize, 7, 100] {
        let events = all_pages(limit, |c| {
            let store = store.clone();
            async move { store.item_events_page(from, to, c.as_deref(), limit).await }
        })
        .await;
        assert!(events.iter().all(
            |e| matches!(e.kind, EventKind::Click | EventKind::Impression)
                && e.at >= from
                && e.at < to
        ));
        let mut ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
        ids.sort();
        assert_eq!(ids, inside, "limit {limit}");
    }
    // The one-shot read agrees.
    let mut all: Vec<String> = store
        .item_events(from, to)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    all.sort();
    assert_eq!(all, inside);
    let empty = store.item_events_page(to, from, None, 10).await.unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none());
}

/// A cursor the store did not make is `INVALID_INPUT`, never a panic or a silent restart.
pub async fn bad_cursors_are_invalid_input(h: &dyn Harness) {
    let store = h.open();
    for bad in ["", "not-hex", "7b7d", "zz"] {
        let err = store.scan_events(Some(bad), 10).await.unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT", "{bad:?}: {err}");
        let err = store
            .item_events_page(T0, T0.plus(Duration::from_secs(1)), Some(bad), 10)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT", "{bad:?}: {err}");
    }
}

/// `put_audience` replaces an ad's stored audience, `audience` reads its best members,
/// forget_user removes the user from every stored audience (and says so), and the stateless
/// `Engine::audience(AudienceQuery::Ad)` serves the stored one, opt-outs filtered at read time.
pub async fn stored_audiences_round_trip_and_forget(h: &dyn Harness) {
    use sociallens::store::AudienceEntry;
    let store = h.open();
    let entry = |u: &str, score: f64| AudienceEntry {
        user: UserId::new(u).unwrap(),
        score,
    };
    assert_eq!(store.audience("aud-ad", 10).await.unwrap(), None);
    let first = vec![
        entry("mem-a", 0.9),
        entry("mem-b", 0.8),
        entry("mem-c", 0.7),
    ];
    store.put_audience("aud-ad", &first, T0).await.unwrap();
    let got = store.audience("aud-ad", 2).await.unwrap().unwrap();
    assert_eq!(got.members, first[..2]);
    assert_eq!(got.computed_at, T0);
    // Replaced whole.
    let later = T0.plus(Duration::from_secs(60));
    let second = vec![
        entry("mem-c", 0.95),
        entry("mem-d", 0.5),
        entry("mem-a", 0.4),
    ];
    store.put_audience("aud-ad", &second, later).await.unwrap();
    let got = store.audience("aud-ad", 10).await.unwrap().unwrap();
    assert_eq!((got.members, got.computed_at), (second.clone(), later));
    // Bad lists are refused and change nothing.
    for bad in [
        vec![entry("mem-x", f64::NAN)],
        vec![entry("mem-x", 0.1), entry("mem-x", 0.2)],
    ] {
        let err = store.put_audience("aud-ad", &bad, later).await.unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT");
    }
    assert_eq!(
        store.audience("aud-ad", 10).await.unwrap().unwrap().members,
        second
    );
    store
        .put_audience("aud-other", &[entry("mem-a", 0.3)], later)
        .await
        .unwrap();

    // Served statelessly, with opt-outs applied when read.
    let clock = Arc::new(ManualClock::new(later));
    let engine = Engine::builder()
        .shared_store(store.clone())
        .clock(clock)
        .serving(sociallens::Serving::stateless())
        .ads_config(sociallens::ads::AdsConfig {
            min_audience_size: 1,
            ..Default::default()
        })
        .build()
        .unwrap();
    engine
        .add_ads(vec![
            Ad::new("aud-ad", "Acme", "Surf", "boards").interests(["surf"])
        ])
        .await
        .unwrap();
    engine.set_opt_out("mem-d", "boards", true).await.unwrap();
    let served = engine
        .audience(AudienceQuery::Ad("aud-ad".into()), 10)
        .await
        .unwrap();
    let users: Vec<&str> = served.iter().map(|m| m.user.as_str()).collect();
    assert_eq!(users, ["mem-c", "mem-a"]);

    // forget_user: every audience naming the user loses them; an emptied one is gone.
    let report = store
        .forget_user(&UserId::new("mem-a").unwrap())
        .await
        .unwrap();
    assert_eq!(report.audiences, 2);
    let got = store.audience("aud-ad", 10).await.unwrap().unwrap();
    let users: Vec<&str> = got.members.iter().map(|m| m.user.as_str()).collect();
    assert_eq!(users, ["mem-c", "mem-d"]);
    assert_eq!(store.audience("aud-other", 10).await.unwrap(), None);
    assert_eq!(h.rows_mentioning("mem-a"), 0);
    // An empty list removes the audience.
    store.put_audience("aud-ad", &[], later).await.unwrap();
    assert_eq!(store.audience("aud-ad", 10).await.unwrap(), None);
}
