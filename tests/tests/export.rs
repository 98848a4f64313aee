//! Export and import (SPEC13): a populated SQLite store exported to Parquet and NDJSON and
//! imported into a fresh store holds the same records; re-imports change nothing; Spark's
//! part-file directories import; bad files are refused whole.

use sociallens::ads::Ad;
use sociallens::export::{Dataset, ExportOptions, Format, ImportOptions};
use sociallens::recommend::CatalogItem;
use sociallens::store::{AudienceEntry, CachedCaption, Neighbour, NeighbourList, Page};
use sociallens::{Engine, EventOptions, ManualClock, Post, SqliteStore, Store, UserId};
use sociallens_integration_tests::{all_pages, engine_at, T0};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn sqlite(dir: &Path, name: &str) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(dir.join(name)).unwrap())
}

/// A store with some of everything: likes, an unlike, uploads with captions, clicks and
/// impressions of ads, products, opt-outs, neighbours and audiences.
async fn populate(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Engine {
    let engine = engine_at(store.clone(), clock.clone());
    engine
        .add_ads(vec![
            Ad::new("ad-surf", "Acme", "Boards", "Surf").interests(["surfboard"]),
            Ad::new("ad-cat", "Purr", "Food", "Pets").interests(["cat"]),
        ])
        .await
        .unwrap();
    engine
        .add_products(vec![CatalogItem::new("prod-1", "A board")])
        .await
        .unwrap();
    for i in 0..40 {
        let user = format!("user-{:02}", i % 9);
        let post = Post::new(format!("post-{i:02}"))
            .by(user.clone())
            .with_caption(format!("a cat on a surfboard number {i}"))
            .with_interests(["cat".to_string(), format!("topic-{}", i % 5)]);
        engine.record_upload(&user, post).await.unwrap();
        engine
            .record_like(
                &format!("user-{:02}", (i + 3) % 9),
                Post::new(format!("post-{i:02}")),
            )
            .await
            .unwrap();
        if i % 7 == 0 {
            engine
                .unlike(&format!("user-{:02}", (i + 3) % 9), &format!("post-{i:02}"))
                .await
                .unwrap();
        }
        engine
            .record_impression(&user, if i % 2 == 0 { "ad-surf" } else { "ad-cat" })
            .await
            .unwrap();
        if i % 3 == 0 {
            engine.record_click(&user, "ad-surf").await.unwrap();
        }
        clock.advance(Duration::from_secs(1800));
    }
    for i in 0..12 {
        store
            .put_cached_caption(&CachedCaption {
                image_sha256: format!("{i:064x}"),
                caption: format!("a caption {i}"),
                model: "vit-gpt2".into(),
                created_at: T0.plus(Duration::from_secs(i)),
            })
            .await
            .unwrap();
    }
    engine.set_opt_out("user-01", "Pets", true).await.unwrap();
    engine.set_opt_out("user-02", "Surf", true).await.unwrap();
    let lists: Vec<NeighbourList> = (0..4)
        .map(|i| NeighbourList {
            user: UserId::new(format!("user-{i:02}")).unwrap(),
            neighbours: (1..3)
                .map(|j| Neighbour {
                    user: UserId::new(format!("user-{:02}", i + j)).unwrap(),
                    score: 1.0 / (j as f64 + 1.0),
                    shared_terms: vec!["cat".into(), format!("topic-{j}")],
                })
                .collect(),
            computed_at: T0.plus(Duration::from_secs(5)),
        })
        .collect();
    store.put_neighbours(&lists).await.unwrap();
    let members: Vec<AudienceEntry> = (3..8)
        .map(|i| AudienceEntry {
            user: UserId::new(format!("user-{i:02}")).unwrap(),
            score: 1.0 - i as f64 / 10.0,
        })
        .collect();
    store
        .put_audience("ad-surf", &members, T0.plus(Duration::from_secs(9)))
        .await
        .unwrap();
    engine
}

async fn scan<T, F, Fut>(f: F) -> Vec<T>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = sociallens::Result<Page<T>>>,
{
    all_pages(1_000_000, f).await
}

/// Everything two stores hold, compared record by record (scans sorted by key).
async fn assert_same_contents(a: &Arc<dyn Store>, b: &Arc<dyn Store>) {
    macro_rules! all {
        ($s:expr, $m:ident, $key:expr) => {{
            let s = $s.clone();
            let mut v = scan(|c| {
                let s = s.clone();
                async move { s.$m(c.as_deref(), 7).await }
            })
            .await;
            v.sort_by_key($key);
            v
        }};
    }
    assert_eq!(
        all!(a, scan_captions, |c| c.image_sha256.clone()),
        all!(b, scan_captions, |c| c.image_sha256.clone())
    );
    let pa = all!(a, scan_posts, |p| p.id.clone());
    assert_eq!(pa.len(), 40);
    assert_eq!(pa, all!(b, scan_posts, |p| p.id.clone()));
    let ea = all!(a, scan_events, |e| e.id.clone());
    assert!(ea.len() > 100, "{}", ea.len());
    assert_eq!(ea, all!(b, scan_events, |e| e.id.clone()));
    assert_eq!(
        all!(a, scan_opt_outs, |o| (o.user.clone(), o.category.clone())),
        all!(b, scan_opt_outs, |o| (o.user.clone(), o.category.clone()))
    );
    assert_eq!(
        all!(a, scan_neighbours, |l| l.user.clone()),
        all!(b, scan_neighbours, |l| l.user.clone())
    );
    assert_eq!(
        all!(a, scan_audiences, |x| x.ad_id.clone()),
        all!(b, scan_audiences, |x| x.ad_id.clone())
    );
    for kind in [sociallens::ItemKind::Product, sociallens::ItemKind::Ad] {
        assert_eq!(a.items(kind).await.unwrap(), b.items(kind).await.unwrap());
    }
    // Interests are rebuilt by replaying the events: the same rows, weights equal.
    let ia = a.scan_interests(None, 1000).await.unwrap();
    let ib = b.scan_interests(None, 1000).await.unwrap();
    assert_eq!(ia.len(), ib.len());
    let decay = sociallens::Decay::default();
    let at = T0.plus(Duration::from_secs(86_400 * 3));
    for ((ua, ra), (ub, rb)) in ia.iter().zip(&ib) {
        assert_eq!(ua, ub);
        assert_eq!(ra.len(), rb.len(), "{ua}");
        for (x, y) in ra.iter().zip(rb) {
            assert_eq!(
                (&x.term, x.count, x.last_seen),
                (&y.term, y.count, y.last_seen)
            );
            let (wx, wy) = (x.weight_at(at, decay), y.weight_at(at, decay));
            assert!(
                (wx - wy).abs() <= 1e-9 * wx.abs().max(1.0),
                "{ua} {}: {wx} vs {wy}",
                x.term
            );
        }
    }
}

async fn round_trip(format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let source = sqlite(dir.path(), "source.db");
    let engine = populate(source.clone(), clock.clone()).await;
    let out = dir.path().join("export");
    let summary = engine
        .export(&ExportOptions::new(&out).format(format).page_size(9))
        .await
        .unwrap();
    // The manifest says what the files hold.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "sociallens-export");
    assert_eq!(manifest["format_version"], 1);
    assert_eq!(manifest["store"], "sqlite");
    assert!(manifest["exported_at"].as_str().unwrap().ends_with('Z'));
    for d in &summary.datasets {
        assert_eq!(
            manifest["datasets"][d.dataset.as_str()]["rows"],
            d.rows,
            "{}",
            d.dataset
        );
        assert!(d.files[0].is_file());
    }
    assert_eq!(summary.dataset(Dataset::Captions).unwrap().rows, 12);
    assert_eq!(summary.dataset(Dataset::Neighbours).unwrap().rows, 8);
    assert_eq!(summary.dataset(Dataset::Audiences).unwrap().rows, 5);
    assert_eq!(summary.dataset(Dataset::Catalog).unwrap().rows, 3);
    assert_eq!(summary.dataset(Dataset::AdEvents).unwrap().rows, 40 + 14);

    let restored = sqlite(dir.path(), "restored.db");
    let target = engine_at(restored.clone(), clock.clone());
    let reports = target.import(&ImportOptions::new(&out)).await.unwrap();
    let names: Vec<Dataset> = reports.iter().map(|r| r.dataset).collect();
    assert!(!names.contains(&Dataset::Interests) && !names.contains(&Dataset::AdEvents));
    for r in &reports {
        assert_eq!(r.rows, summary.dataset(r.dataset).unwrap().rows, "{r:?}");
        assert_eq!(
            (r.applied, r.unchanged, r.conflicts),
            (r.rows, 0, 0),
            "{r:?}"
        );
    }
    assert_same_contents(&source, &restored).await;

    // Again: nothing changes.
    let again = target.import(&ImportOptions::new(&out)).await.unwrap();
    for r in &again {
        assert_eq!(
            (r.applied, r.unchanged, r.conflicts),
            (0, r.rows, 0),
            "{r:?}"
        );
    }
    assert_same_contents(&source, &restored).await;

    // The click report of the restored store equals the source's.
    let q = sociallens::analytics::ReportQuery::by_category_and_hour();
    assert_eq!(
        engine.click_report(q.clone()).await.unwrap(),
        target.click_report(q).await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parquet_export_round_trips_through_a_fresh_store() {
    round_trip(Format::Parquet).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ndjson_export_round_trips_through_a_fresh_store() {
    round_trip(Format::Ndjson).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spark_part_directories_import() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let a = sqlite(dir.path(), "a.db");
    let engine = populate(a.clone(), clock.clone()).await;
    let out = dir.path().join("export");
    engine
        .export(&ExportOptions::new(&out).datasets([Dataset::Captions, Dataset::Posts]))
        .await
        .unwrap();
    // Spark's layout: part files, _SUCCESS, .crc checksums; the name says nothing.
    let parts = dir.path().join("spark-output");
    std::fs::create_dir(&parts).unwrap();
    std::fs::copy(
        out.join("captions.parquet"),
        parts.join("part-00000-1b2c-c000.snappy.parquet"),
    )
    .unwrap();
    std::fs::write(parts.join("_SUCCESS"), b"").unwrap();
    std::fs::write(
        parts.join(".part-00000-1b2c-c000.snappy.parquet.crc"),
        b"crc",
    )
    .unwrap();
    // A second part in NDJSON, written by hand as a batch job would.
    std::fs::write(
        parts.join("part-00001.ndjson"),
        "{\"image_sha256\":\"ff\",\"model\":\"m\",\"caption\":\"a dog\",\"created_at\":\"2026-01-02T03:04:05.678Z\",\"extra\":1}\n\
         {\"image_sha256\":\"fe\",\"model\":\"m\",\"caption\":\"a cat\",\"created_at\":1767225600000}\n",
    )
    .unwrap();
    let b = sqlite(dir.path(), "b.db");
    let target = engine_at(b.clone(), clock.clone());
    // The first file's key-value metadata names the dataset.
    let reports = target.import(&ImportOptions::new(&parts)).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].dataset, Dataset::Captions);
    assert_eq!((reports[0].rows, reports[0].applied), (14, 14));
    let dog = b.cached_caption("ff").await.unwrap().unwrap();
    assert_eq!(dog.caption, "a dog");
    assert_eq!(dog.created_at.as_millis(), 1_767_323_045_678);
    assert_eq!(
        b.cached_caption("fe").await.unwrap().unwrap().created_at,
        T0
    );
    // A single file, its dataset from the file name.
    let posts = target
        .import(&ImportOptions::new(out.join("posts.parquet")))
        .await
        .unwrap();
    assert_eq!((posts[0].dataset, posts[0].applied), (Dataset::Posts, 40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_files_are_refused_and_apply_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let a = sqlite(dir.path(), "a.db");
    let engine = populate(a.clone(), clock.clone()).await;
    let out = dir.path().join("export");
    engine.export(&ExportOptions::new(&out)).await.unwrap();
    let b = sqlite(dir.path(), "b.db");
    let target = engine_at(b.clone(), clock.clone());
    let empty = |s: Arc<dyn Store>| async move {
        s.scan_events(None, 10).await.unwrap().items.is_empty()
            && s.scan_captions(None, 10).await.unwrap().items.is_empty()
    };

    // A file of another dataset: the missing column is named, with the file.
    let err = target
        .import(&ImportOptions::new(out.join("captions.parquet")).dataset(Dataset::Events))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(
        err.to_string().contains("event_id") && err.to_string().contains("captions.parquet"),
        "{err}"
    );

    // A wrong type.
    let bad_type = dir.path().join("bad_type.ndjson");
    std::fs::write(
        &bad_type,
        "{\"user\":\"u\",\"category\":\"Surf\",\"at\":\"yesterday\"}\n",
    )
    .unwrap();
    let err = target
        .import(&ImportOptions::new(&bad_type).dataset(Dataset::OptOuts))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(err.to_string().contains("column at"), "{err}");

    // A part directory whose second file goes bad on its last row: the good first file is
    // not applied either.
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    std::fs::copy(out.join("events.parquet"), parts.join("part-00000.parquet")).unwrap();
    std::fs::write(
        parts.join("part-00001.ndjson"),
        "{\"event_id\":\"e1\",\"user\":\"u\",\"kind\":\"click\",\"item\":\"ad:x\",\"at\":1,\"terms\":[],\"weights\":[]}\n\
         {\"event_id\":\"e2\",\"kind\":\"click\",\"at\":1,\"terms\":[],\"weights\":[]}\n",
    )
    .unwrap();
    let err = target
        .import(&ImportOptions::new(&parts).dataset(Dataset::Events))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(
        err.to_string().contains("part-00001.ndjson") && err.to_string().contains("user"),
        "{err}"
    );
    assert!(empty(b.clone()).await);

    // A whole export with one bad dataset file: nothing of any dataset is applied.
    std::fs::write(out.join("opt_outs.parquet"), b"PAR1 but not really").unwrap();
    let err = target.import(&ImportOptions::new(&out)).await.unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT", "{err}");
    assert!(empty(b.clone()).await);

    // A manifest naming a file that is not there: the export is incomplete.
    std::fs::copy(out.join("events.parquet"), dir.path().join("events.bak")).unwrap();
    std::fs::remove_file(out.join("events.parquet")).unwrap();
    let err = target.import(&ImportOptions::new(&out)).await.unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(err.to_string().contains("incomplete"), "{err}");
    std::fs::rename(dir.path().join("events.bak"), out.join("events.parquet")).unwrap();
    assert!(empty(b.clone()).await);

    // Derived datasets are refused, pointing at events.
    let err = target
        .import(&ImportOptions::new(out.join("interests.parquet")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(
        err.to_string().contains("import the events dataset"),
        "{err}"
    );
    assert!(empty(b).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reused_event_ids_are_conflicts_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let a = engine_at(sqlite(dir.path(), "a.db"), clock.clone());
    a.record_like_with(
        "ana",
        Post::new("p1").with_interests(["surf"]),
        EventOptions::id("ev-1"),
    )
    .await
    .unwrap();
    a.export(&ExportOptions::new(dir.path().join("x")).datasets([Dataset::Events]))
        .await
        .unwrap();
    let b_store = sqlite(dir.path(), "b.db");
    let b = engine_at(b_store.clone(), clock.clone());
    // The same id already names another user's like there.
    b.record_like_with(
        "ben",
        Post::new("p9").with_interests(["cat"]),
        EventOptions::id("ev-1"),
    )
    .await
    .unwrap();
    let r = b
        .import(&ImportOptions::new(dir.path().join("x/events.parquet")))
        .await
        .unwrap();
    assert_eq!((r[0].rows, r[0].applied, r[0].conflicts), (1, 0, 1));
    assert!(b.interests("ana", 5).await.unwrap().is_empty());
}
