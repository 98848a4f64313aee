//! Sizes, floats and durations that come from callers (issue 11, items 1 and 2): every `k`,
//! `limit` and budget is clamped to what exists before anything is sized from it, and every
//! float that becomes a duration, a weight or a threshold is checked, so that no number a
//! caller can pass panics or aborts the host.

mod llm_server;

use llm_server::{ok, TestServer};
use sociallens::ads::{Ad, AdsConfig, AudienceQuery};
use sociallens::recommend::{CatalogItem, OpenAiCompatible};
use sociallens::{
    days, duration_from_secs, half_life_days, try_days, Clock, Decay, Engine, Error, ManualClock,
    Post, SignalWeights, Timestamp,
};
use std::sync::Arc;
use std::time::Duration;

/// Sizes a binding can hand over: Python ints up to 2^64 − 1, JS numbers up to 2^53 and
/// beyond (saturated).
const HOSTILE_SIZES: [usize; 6] = [0, 1, u32::MAX as usize, 1 << 50, 1 << 53, usize::MAX];

/// Floats no duration, weight or threshold may take.
const HOSTILE_FLOATS: [f64; 5] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 1e300];

fn is_invalid<T: std::fmt::Debug>(r: sociallens::Result<T>) -> bool {
    matches!(r, Err(Error::InvalidInput(_)))
}

async fn small_world() -> Engine {
    // Three users: their audiences are listed only under a minimum of one.
    let engine = Engine::builder()
        .store_url("memory://")
        .ads_config(AdsConfig {
            min_audience_size: 1,
            ..AdsConfig::default()
        })
        .build()
        .unwrap();
    engine
        .add_ads(vec![
            Ad::new("ad-1", "WaveCo", "Boards", "surf").interests(["surfboard", "wave"]),
            Ad::new("ad-2", "Chefs", "Knives", "kitchen").interests(["kitchen knife"]),
        ])
        .await
        .unwrap();
    engine
        .add_products(vec![
            CatalogItem::new("p-1", "Surfboard wax").keywords(["surfboard"])
        ])
        .await
        .unwrap();
    for (user, terms) in [
        ("ana", &["surfboard", "wave"][..]),
        ("ben", &["surfboard", "beach"][..]),
        ("cleo", &["surfboard"][..]),
    ] {
        engine
            .record_like(
                user,
                Post::new(format!("p-{user}")).with_interests(terms.iter().copied()),
            )
            .await
            .unwrap();
    }
    engine
}

#[tokio::test]
async fn every_read_size_is_clamped_to_what_exists() {
    let engine = small_world().await;
    let ads3 = engine.ads_for("ana", 3).await.unwrap();
    let peers3 = engine.similar_users("ana", 3).await.unwrap();
    let interests3 = engine.interests("ana", 3).await.unwrap();
    let recs3 = engine.recommend_products("ana", 3).await.unwrap();
    let audience3 = engine
        .audience(AudienceQuery::interests(["surfboard"]), 3)
        .await
        .unwrap();
    assert_eq!(ads3.len(), 1);
    assert_eq!(peers3.len(), 2);
    assert_eq!(audience3.len(), 3);
    for k in HOSTILE_SIZES {
        // Before the fix: `Vec::with_capacity(k + 1)` in the ads index (capacity overflow,
        // or an allocation failure that aborts the process at 2^50) and `k * 4` in the
        // similar-users pool (an overflow panic).
        let ads = engine.ads_for("ana", k).await.unwrap();
        let peers = engine.similar_users("ana", k).await.unwrap();
        let interests = engine.interests("ana", k).await.unwrap();
        let recs = engine.recommend_products("ana", k).await.unwrap();
        let audience = engine
            .audience(AudienceQuery::interests(["surfboard"]), k)
            .await
            .unwrap();
        let want = |n: usize| k.min(n);
        assert_eq!(ads.len(), want(ads3.len()), "ads_for k={k}");
        assert_eq!(peers.len(), want(peers3.len()), "similar_users k={k}");
        assert_eq!(interests.len(), want(interests3.len()), "interests k={k}");
        assert_eq!(recs.len(), want(recs3.len()), "recommend_products k={k}");
        assert_eq!(audience.len(), want(audience3.len()), "audience k={k}");
        if k >= 3 {
            assert_eq!(ads, ads3);
            assert_eq!(peers, peers3);
        }
    }
}

#[tokio::test]
async fn llm_ideas_asked_for_are_bounded() {
    let server = TestServer::start(vec![ok(
        r#"{"products": [{"name": "Surfboard leash", "category": "sports", "reason": "r", "matched_interests": ["surfboard"]}]}"#,
    )])
    .await;
    let engine = Engine::builder()
        .store_url("memory://")
        .llm(server.client())
        .build()
        .unwrap();
    engine
        .record_like("ana", Post::new("p1").with_interests(["surfboard"]))
        .await
        .unwrap();
    let recs = engine.recommend_products("ana", usize::MAX).await.unwrap();
    assert_eq!(recs.len(), 1);
    let (_, _, body) = server.request(0);
    let prompt = body["messages"][1]["content"].as_str().unwrap();
    // Before the fix the prompt asked for "exactly 18446744073709551615 products".
    assert!(
        prompt.starts_with("Suggest exactly 50 products"),
        "{prompt}"
    );
}

#[tokio::test]
async fn huge_lookalike_neighbours_and_budgets_are_refused() {
    for cfg in [
        AdsConfig {
            lookalike_neighbors: usize::MAX,
            ..AdsConfig::default()
        },
        AdsConfig {
            candidate_budget: usize::MAX,
            ..AdsConfig::default()
        },
        AdsConfig {
            candidate_budget: 0,
            ..AdsConfig::default()
        },
    ] {
        assert!(is_invalid(
            Engine::builder()
                .store_url("memory://")
                .ads_config(cfg)
                .build()
        ));
    }
    // The largest accepted values work.
    let engine = Engine::builder()
        .store_url("memory://")
        .ads_config(AdsConfig {
            lookalike_neighbors: AdsConfig::MAX_LOOKALIKE_NEIGHBORS,
            candidate_budget: AdsConfig::MAX_CANDIDATE_BUDGET,
            ..AdsConfig::default()
        })
        .build()
        .unwrap();
    engine
        .add_ads(vec![
            Ad::new("ad-1", "W", "B", "surf").interests(["surfboard"])
        ])
        .await
        .unwrap();
    engine
        .record_like("ana", Post::new("p1").with_interests(["surfboard"]))
        .await
        .unwrap();
    assert_eq!(engine.ads_for("ana", usize::MAX).await.unwrap().len(), 1);
}

#[test]
fn ads_config_floats_are_checked() {
    for bad in HOSTILE_FLOATS {
        for cfg in [
            AdsConfig {
                interest_weight: bad,
                ..AdsConfig::default()
            },
            AdsConfig {
                lookalike_weight: bad,
                ..AdsConfig::default()
            },
            AdsConfig {
                semantic_threshold: bad as f32,
                ..AdsConfig::default()
            },
            AdsConfig {
                audience_min_score: bad,
                ..AdsConfig::default()
            },
        ] {
            assert!(is_invalid(cfg.validate()), "{cfg:?}");
        }
    }
    // Cosine thresholds above 1 can never be met.
    assert!(is_invalid(
        AdsConfig {
            audience_min_score: 1.5,
            ..AdsConfig::default()
        }
        .validate()
    ));
}

#[test]
fn signal_weights_and_ttls_are_bounded() {
    for bad in HOSTILE_FLOATS {
        let weights = SignalWeights {
            like: bad,
            ..SignalWeights::default()
        };
        // 1e300 passed before: a few such likes overflow the stored sums to infinity.
        assert!(is_invalid(
            Engine::builder()
                .store_url("memory://")
                .signal_weights(weights)
                .build()
        ));
    }
    let server_less = OpenAiCompatible::new("http://127.0.0.1:9/v1", "m").unwrap();
    assert!(is_invalid(
        Engine::builder()
            .store_url("memory://")
            .llm(server_less)
            .llm_cache_ttl(Duration::MAX)
            .build()
    ));
}

#[test]
fn float_durations_are_checked_not_panicking() {
    for bad in HOSTILE_FLOATS {
        // Before: `Duration::from_secs_f64(1e300 * 86_400.0)` panicked.
        assert!(is_invalid(duration_from_secs("t", bad)), "{bad}");
        assert!(is_invalid(try_days("t", bad)), "{bad}");
        if bad != f64::INFINITY {
            // Infinity is "no decay", as the bindings document.
            assert!(is_invalid(half_life_days(bad)), "{bad}");
        }
        let _ = days(bad);
    }
    assert!(is_invalid(half_life_days(0.0)));
    assert!(is_invalid(half_life_days(1e15)));
    assert_eq!(half_life_days(f64::INFINITY).unwrap(), Decay::none());
    assert_eq!(
        half_life_days(2.0).unwrap().half_life_duration(),
        Some(Duration::from_secs(172_800))
    );
    assert_eq!(days(1e300), Duration::MAX);
    assert_eq!(
        duration_from_secs("t", 0.25).unwrap(),
        Duration::from_millis(250)
    );
}

#[test]
fn manual_clocks_never_wrap() {
    let clock = ManualClock::new(Timestamp::from_millis(1_000));
    // Before: `fetch_add(i64::MAX)` wrapped the clock to a negative time.
    clock.advance(Duration::MAX);
    assert_eq!(clock.now(), ManualClock::LATEST);
    clock.set(Timestamp::from_millis(i64::MIN));
    assert_eq!(clock.now(), ManualClock::EARLIEST);

    let clock = ManualClock::try_new(Timestamp::from_millis(5_000)).unwrap();
    assert!(is_invalid(clock.try_advance(Duration::MAX)));
    assert!(is_invalid(
        clock.try_advance(Duration::from_secs(300_000_000_000))
    ));
    assert_eq!(
        clock.now(),
        Timestamp::from_millis(5_000),
        "a refused move changes nothing"
    );
    clock.try_advance(Duration::from_secs(1)).unwrap();
    assert_eq!(clock.now(), Timestamp::from_millis(6_000));
    assert!(is_invalid(clock.try_set(Timestamp::from_millis(i64::MAX))));
    assert!(is_invalid(clock.try_set(Timestamp::from_millis(-1))));
    assert!(ManualClock::try_new(Timestamp::from_millis(i64::MIN)).is_err());
    clock.try_set(ManualClock::LATEST).unwrap();
    assert_eq!(clock.now(), ManualClock::LATEST);
}

#[test]
fn llm_client_limits_are_checked() {
    let client = || OpenAiCompatible::new("http://127.0.0.1:9/v1", "m").unwrap();
    for bad in HOSTILE_FLOATS.into_iter().chain([0.0, 86_401.0]) {
        assert!(
            is_invalid(client().limits(Some(bad), None, None, None)),
            "{bad}"
        );
        assert!(
            is_invalid(client().limits(None, Some(bad), None, None)),
            "{bad}"
        );
    }
    assert!(is_invalid(client().limits(
        None,
        None,
        Some(u64::MAX),
        None
    )));
    assert!(is_invalid(client().limits(None, None, None, Some(0))));
    assert!(client()
        .limits(Some(0.5), Some(86_400.0), Some(100), Some(u64::MAX))
        .is_ok());
}

#[tokio::test]
async fn an_endless_deadline_does_not_overflow_the_clock() {
    let server = TestServer::start(vec![ok(
        r#"{"products": [{"name": "Leash", "category": "c", "reason": "r", "matched_interests": ["dog"]}]}"#,
    )])
    .await;
    // Before: `Instant::now() + Duration::MAX` panicked in every call.
    let llm: Arc<dyn sociallens::recommend::Llm> = Arc::new(
        server
            .client()
            .deadline(Duration::MAX)
            .request_timeout(Duration::MAX)
            .max_retries(u32::MAX),
    );
    let engine = Engine::builder()
        .store_url("memory://")
        .shared_llm(llm)
        .llm_cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    engine
        .record_like("u", Post::new("p").with_interests(["dog"]))
        .await
        .unwrap();
    let recs = engine.recommend_products("u", 1).await.unwrap();
    assert_eq!(recs[0].name, "Leash");
}
