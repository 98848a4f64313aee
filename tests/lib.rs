//! Storage conformance suite: one set of behaviours every [`Store`] backend must show.
//!
//! A backend joins by implementing [`Harness`] and invoking [`conformance_suite!`] in a test
//! file (see `tests/memory.rs`, `tests/sqlite.rs`).

use sociallens::{
    Captioner, Engine, EventOptions, EventStatus, Interest, ManualClock, Post, Result, Store,
    Timestamp,
};
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
    assert!(h.rows_mentioning(doomed) > 5);
    let bystander_before = engine.interests("bystander", 10).await.unwrap();

    let report = engine.forget_user(doomed).await.unwrap();
    assert!(report.total() >= 5, "{report:?}");
    assert_eq!(h.rows_mentioning(doomed), 0);
    assert!(engine.interests(doomed, 10).await.unwrap().is_empty());
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

/// Generates one `#[tokio::test]` per behaviour for a backend: `conformance_suite!(make_harness)`
/// where `make_harness()` returns a fresh [`Harness`].
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@tests $make;
            concurrent_likes_lose_nothing,
            replayed_events_change_nothing,
            unlike_restores_prior_profile,
            forget_user_leaves_nothing,
            data_survives_reopen,
            same_image_is_captioned_once,
            bad_input_is_refused_and_loses_nothing,
            captions_are_read_by_the_default_extractor
        );
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn $name() {
                let harness = $make;
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
