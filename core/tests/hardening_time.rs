//! Event times from callers (issue 11, item 3): validated from the epoch to the engine's
//! clock plus an allowed skew, and no timestamp, however extreme, makes arithmetic overflow
//! or a report fail. Every engine here runs on a real SQLite file.

use sociallens::ads::Ad;
use sociallens::analytics::{Dimension, ReportQuery};
use sociallens::store::Store;
use sociallens::{
    Clock, Decay, Engine, EngineBuilder, Event, EventId, EventKind, EventOptions, Post,
    SqliteStore, TermDelta, Timestamp, UserId,
};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);
/// 2026-12-01T00:00:00Z.
const T0: Timestamp = Timestamp::from_millis(1_796_083_200_000);
/// 10000-01-01T00:00:00Z: no calendar of the bindings or the reports can show it.
const YEAR_10000: Timestamp = Timestamp::from_millis(253_402_300_800_000);

/// A clock that shows any `i64`, as a platform's own [`Clock`] may: unlike `ManualClock`,
/// which stays within 1970..=`Timestamp::MAX`, it reaches times no calendar can show.
#[derive(Debug)]
struct AnyClock(AtomicI64);

impl AnyClock {
    fn new(at: Timestamp) -> Self {
        Self(AtomicI64::new(at.as_millis()))
    }
    fn set(&self, at: Timestamp) {
        self.0.store(at.as_millis(), Ordering::SeqCst);
    }
    fn advance(&self, d: Duration) {
        let by = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let now = self.0.load(Ordering::SeqCst);
        self.0.store(now.saturating_add(by), Ordering::SeqCst);
    }
}

impl Clock for AnyClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

struct Setup {
    engine: Engine,
    clock: Arc<AnyClock>,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

fn setup(at: Timestamp, tune: impl FnOnce(EngineBuilder) -> EngineBuilder) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("t.db")).unwrap());
    let clock = Arc::new(AnyClock::new(at));
    let engine = tune(
        Engine::builder()
            .shared_store(store.clone())
            .clock(clock.clone()),
    )
    .build()
    .unwrap();
    Setup {
        engine,
        clock,
        store,
        _dir: dir,
    }
}

fn at(t: Timestamp, id: &str) -> EventOptions {
    EventOptions::id(id).at(t)
}

fn surf(id: &str) -> Post {
    Post::new(id).with_interests(["surf"])
}

async fn weight(engine: &Engine, user: &str, term: &str) -> Option<f64> {
    engine
        .interests(user, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.term == term)
        .map(|i| i.weight)
}

fn assert_invalid_time(err: sociallens::Error, time: &str) {
    assert_eq!(err.code(), "INVALID_INPUT", "{err}");
    let msg = err.to_string();
    assert!(msg.contains(time), "names the time {time}: {msg}");
    assert!(
        msg.contains("1970-01-01T00:00:00Z"),
        "names the range: {msg}"
    );
}

#[tokio::test]
async fn a_like_beyond_the_skew_is_rejected_and_stores_nothing() {
    let s = setup(T0, |b| b);
    let e = &s.engine;
    e.add_ads(vec![
        Ad::new("ad-1", "WaveCo", "Boards", "surf").interests(["surfboard"])
    ])
    .await
    .unwrap();
    let far = T0.plus(DAY * 2);
    let err = e
        .record_like_with("u1", surf("p1"), at(far, "like-1"))
        .await
        .unwrap_err();
    assert_invalid_time(err, "2026-12-03T00:00:00Z");
    let err = e
        .record_upload_with("u1", surf("p2"), at(far, "up-1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    for r in [
        e.record_click_with("u1", "ad-1", at(far, "click-1")).await,
        e.record_impression_with("u1", "ad-1", at(far, "imp-1"))
            .await,
        e.unlike_with("u1", "p1", at(far, "unlike-1")).await,
        // Before the epoch, and the far ends of i64.
        e.record_like_with("u1", surf("p1"), at(Timestamp::from_millis(-1), "like-2"))
            .await,
        e.record_like_with(
            "u1",
            surf("p1"),
            at(Timestamp::from_millis(i64::MIN), "like-3"),
        )
        .await,
        e.record_like_with(
            "u1",
            surf("p1"),
            at(Timestamp::from_millis(i64::MAX), "like-4"),
        )
        .await,
        e.record_click_with("u1", "ad-1", at(YEAR_10000, "click-2"))
            .await,
    ] {
        assert_eq!(r.unwrap_err().code(), "INVALID_INPUT");
    }
    // Nothing of any of them was stored.
    for id in [
        "like-1", "up-1", "click-1", "imp-1", "unlike-1", "like-2", "like-3", "like-4", "click-2",
    ] {
        assert!(
            s.store
                .event(&EventId::new(id).unwrap())
                .await
                .unwrap()
                .is_none(),
            "{id}"
        );
    }
    for p in ["p1", "p2"] {
        assert!(e.post(p).await.unwrap().is_none(), "{p}");
    }
    assert!(e.interests("u1", 10).await.unwrap().is_empty());
    assert_eq!(
        e.click_report(ReportQuery::default()).await.unwrap().clicks,
        0
    );

    // A rejected future like no longer freezes the term: a real like decays as the math says
    // (before, the term sat undecayed at the future time and this read 1.0).
    e.record_like("u1", surf("p3")).await.unwrap();
    s.clock.advance(DAY * 30);
    let w = weight(e, "u1", "surf").await.unwrap();
    assert!(
        (w - 0.5).abs() < 1e-12,
        "one like, one half-life later: {w}"
    );

    // The edges: the skew itself is allowed, one millisecond more is not.
    let now = e.now();
    let edge = now.plus(EngineBuilder::DEFAULT_MAX_CLOCK_SKEW);
    e.record_like_with("u2", surf("p4"), at(edge, "edge"))
        .await
        .unwrap();
    let err = e
        .record_like_with(
            "u2",
            surf("p5"),
            at(edge.plus(Duration::from_millis(1)), "edge+1"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    // Backfills of the distant past are fine, the epoch included.
    e.record_like_with("u2", surf("p6"), at(Timestamp::EPOCH, "epoch"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_like_within_the_skew_is_accepted_and_later_signals_count() {
    let s = setup(T0, |b| b.max_clock_skew(DAY * 3));
    let e = &s.engine;
    // Two days ahead: beyond the default skew, within this engine's.
    let ahead = T0.plus(DAY * 2);
    e.record_like_with("u1", surf("p1"), at(ahead, "ahead"))
        .await
        .unwrap();
    let err = e
        .record_like_with("u1", surf("p0"), at(T0.plus(DAY * 4), "too-far"))
        .await
        .unwrap_err();
    assert_invalid_time(err, "2026-12-05T00:00:00Z");
    assert!(err_free_event(&s, "too-far").await);

    // A later real like (dated now, before the first) is decayed to the first one's time,
    // not multiplied by ~0: 1 + 2^(-2/30). Weights read to 12 significant digits.
    e.record_like("u1", surf("p2")).await.unwrap();
    let h = 30.0;
    let stored = 1.0 + (-2.0f64 / h).exp2();
    let read_now = weight(e, "u1", "surf").await.unwrap();
    assert!((read_now - stored).abs() < 1e-11, "{read_now} vs {stored}");
    // Five days on (three past the first like), both have decayed together.
    s.clock.advance(DAY * 5);
    let later = weight(e, "u1", "surf").await.unwrap();
    let expected = stored * (-3.0f64 / h).exp2();
    assert!((later - expected).abs() < 1e-11, "{later} vs {expected}");
    // A third like now adds a full 1.0 on top.
    e.record_like("u1", surf("p3")).await.unwrap();
    let third = weight(e, "u1", "surf").await.unwrap();
    assert!((third - expected - 1.0).abs() < 1e-11, "{third}");
}

async fn err_free_event(s: &Setup, id: &str) -> bool {
    s.store
        .event(&EventId::new(id).unwrap())
        .await
        .unwrap()
        .is_none()
}

fn click(id: &str, user: &str, ad: &str, t: Timestamp) -> Event {
    Event {
        id: EventId::new(id).unwrap(),
        user: UserId::new(user).unwrap(),
        kind: EventKind::Click,
        post: None,
        item: Some(format!("ad:{ad}")),
        at: t,
        deltas: vec![],
    }
}

#[tokio::test]
async fn a_click_in_year_10000_does_not_break_click_report() {
    let s = setup(T0, |b| b);
    let e = &s.engine;
    e.add_ads(vec![
        Ad::new("ad-1", "WaveCo", "Boards", "surf").interests(["surfboard"])
    ])
    .await
    .unwrap();
    e.record_click_with("u1", "ad-1", EventOptions::id("real"))
        .await
        .unwrap();
    // The engine refuses such a click, but a store may hold one (written directly, or by an
    // older version): it goes in through the store.
    for (id, t) in [
        ("y10000", YEAR_10000),
        ("max", Timestamp::from_millis(i64::MAX - 1)),
        ("min", Timestamp::from_millis(i64::MIN)),
    ] {
        s.store
            .record_event(click(id, "u2", "ad-1", t), Decay::default())
            .await
            .unwrap();
    }
    for q in [
        ReportQuery::default(),
        ReportQuery::by_category_and_hour(),
        ReportQuery::by([Dimension::Date, Dimension::DayOfWeek, Dimension::Ad])
            .time_zone("Pacific/Kiritimati"),
        ReportQuery::by_category_and_hour().between(
            Some(Timestamp::from_millis(i64::MIN)),
            Some(Timestamp::from_millis(i64::MAX)),
        ),
    ] {
        let r = e.click_report(q.clone()).await.unwrap();
        assert_eq!((r.clicks, r.skipped), (1, 3), "{q:?}");
        assert_eq!(r.rows.iter().map(|r| r.clicks).sum::<u64>(), 1);
    }
    // The similarity index loads such clicks without trouble too.
    e.refresh_index().await.unwrap();
    e.ads_for("u2", 5).await.unwrap();
}

#[tokio::test]
async fn a_clock_past_year_9999_stores_no_event_a_report_cannot_place() {
    let s = setup(YEAR_10000, |b| b);
    let e = &s.engine;
    e.add_ads(vec![Ad::new("ad-1", "WaveCo", "Boards", "surf")])
        .await
        .unwrap();
    let err = e
        .record_click_with("u1", "ad-1", EventOptions::id("c"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(err.to_string().contains("9999-12-30T22:00:00Z"), "{err}");
    assert!(err_free_event(&s, "c").await);
    // A backfill the calendar can show is still fine.
    e.record_click_with("u1", "ad-1", at(T0, "c2"))
        .await
        .unwrap();
    let r = e
        .click_report(ReportQuery::by_category_and_hour())
        .await
        .unwrap();
    assert_eq!((r.clicks, r.skipped), (1, 0));
}

#[tokio::test]
async fn extreme_stored_times_and_clocks_never_overflow() {
    // Interest rows at both ends of i64, written through the store.
    let s = setup(T0, |b| b);
    for (id, user, t) in [
        ("lo", "u1", i64::MIN),
        ("hi", "u1", i64::MAX),
        ("lo2", "u2", i64::MIN),
        ("hi2", "u3", i64::MAX),
    ] {
        let ev = Event {
            id: EventId::new(id).unwrap(),
            user: UserId::new(user).unwrap(),
            kind: EventKind::Like,
            post: Some(sociallens::PostId::new(format!("p-{id}")).unwrap()),
            item: None,
            at: Timestamp::from_millis(t),
            deltas: vec![TermDelta {
                term: "surf".into(),
                weight: 1.0,
            }],
        };
        s.store.record_event(ev, Decay::default()).await.unwrap();
    }
    s.engine
        .add_ads(vec![
            Ad::new("ad-1", "WaveCo", "Boards", "surf").interests(["surf"])
        ])
        .await
        .unwrap();
    // The clock at both ends of i64 and at the edges of the supported range: every read
    // works (in a debug build an overflowing subtraction would panic).
    for now in [
        i64::MIN,
        -1,
        0,
        T0.as_millis(),
        Timestamp::MAX.as_millis(),
        i64::MAX,
    ] {
        s.clock.set(Timestamp::from_millis(now));
        s.clock.advance(Duration::MAX);
        s.clock.set(Timestamp::from_millis(now));
        for user in ["u1", "u2", "u3"] {
            let top = s.engine.interests(user, 10).await.unwrap();
            assert!(top.iter().all(|i| i.weight.is_finite() && i.weight >= 0.0));
            s.engine.profile(user).await.unwrap();
            s.engine.similar_users(user, 5).await.unwrap();
            s.engine.ads_for(user, 5).await.unwrap();
        }
        s.engine.refresh_index().await.unwrap();
        s.engine
            .click_report(ReportQuery::by([Dimension::Hour]).between(
                Some(Timestamp::from_millis(i64::MIN)),
                Some(Timestamp::from_millis(i64::MAX)),
            ))
            .await
            .unwrap();
        // An event at the clock's time is refused when no calendar can show that time.
        let r = s.engine.record_like("u4", surf(&format!("q{now}"))).await;
        let supported = (0..=Timestamp::MAX.as_millis()).contains(&now);
        assert_eq!(r.is_ok(), supported, "clock at {now}: {r:?}");
    }
}

#[tokio::test]
async fn ad_dates_are_checked_and_far_future_ends_allowed() {
    let s = setup(T0, |b| b);
    let e = &s.engine;
    let ad = |id: &str| Ad::new(id, "WaveCo", "Boards", "surf").interests(["surf"]);
    // An end in year 9999 is a fine "never".
    let end_9999 = Timestamp::from_millis(253_370_764_800_000); // 9999-01-01
    e.add_ads(vec![ad("far").between(Some(T0), Some(end_9999))])
        .await
        .unwrap();
    e.add_ads(vec![
        ad("max").between(Some(Timestamp::MIN), Some(Timestamp::MAX))
    ])
    .await
    .unwrap();
    for (start, end) in [
        (None, Some(Timestamp::from_millis(i64::MAX))),
        (Some(Timestamp::from_millis(i64::MIN)), None),
        (None, Some(YEAR_10000)),
        (
            Some(Timestamp::from_millis(Timestamp::MIN.as_millis() - 1)),
            None,
        ),
    ] {
        let err = e
            .add_ads(vec![ad("bad").between(start, end)])
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT", "{start:?} {end:?}");
        assert!(err.to_string().contains("supported range"), "{err}");
    }
    assert!(e.ad("bad").await.unwrap().is_none());
    // From CSV too.
    let csv = format!(
        "id,advertiser,title,category,interests,end\nbad,WaveCo,Boards,surf,surf,{}\n",
        i64::MAX
    );
    let err = Ad::from_csv(csv.as_bytes()).unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    // Both valid ads are live now.
    e.record_like("u1", surf("p1")).await.unwrap();
    let mut live: Vec<String> = e
        .ads_for("u1", 5)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.ad.id)
        .collect();
    live.sort();
    assert_eq!(live, ["far", "max"]);
}
