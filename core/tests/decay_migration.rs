//! A SQLite file written by schema version 3 (weights stored as "weight as of updated_at",
//! by sociallens at e5d22e6; see `data/legacy_v3/make.py`) opens under the forward-decay
//! schema with every weight, count and last-seen time as that release read them, and keeps
//! working: an unlike of a like written before the migration takes away exactly what it added.

use rusqlite::Connection;
use serde_json::Value;
use sociallens::{Engine, ManualClock, SqliteStore, Timestamp};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;
const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, the fixture's start

fn fixture() -> (tempfile::TempDir, PathBuf, Value) {
    let dir = tempfile::tempdir().unwrap();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy_v3");
    let path = dir.path().join("legacy_v3.db");
    std::fs::copy(data.join("legacy_v3.db"), &path).unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("expected.json")).unwrap())
            .unwrap();
    (dir, path, expected)
}

fn engine(path: &PathBuf, clock: Arc<ManualClock>) -> Engine {
    Engine::builder()
        .store(SqliteStore::open(path).unwrap())
        .clock(clock)
        .no_extractor()
        .build()
        .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[tokio::test]
async fn a_version_3_file_reads_the_same_after_migration() {
    let (_dir, path, expected) = fixture();
    let before = Connection::open(&path).unwrap();
    let v: i64 = before
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 3, "the fixture must be a version-3 file");
    let events_before: i64 = before
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    drop(before);

    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(T0)));
    let engine = engine(&path, clock.clone());
    let reads = expected["reads"].as_array().unwrap();
    assert_eq!(reads.len(), 9);
    for read in reads {
        clock.set(Timestamp::from_millis(read["at_millis"].as_i64().unwrap()));
        let user = read["user"].as_str().unwrap();
        let got: BTreeMap<String, _> = engine
            .interests(user, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|i| (i.term.clone(), i))
            .collect();
        let want = read["interests"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{user}: {got:?}");
        for w in want {
            let term = w["term"].as_str().unwrap();
            let g = &got[term];
            let ww = w["weight"].as_f64().unwrap();
            assert!(close(g.weight, ww), "{user}/{term}: {} vs {ww}", g.weight);
            assert_eq!(g.count, w["count"].as_u64().unwrap(), "{user}/{term}");
            assert_eq!(
                g.last_seen.as_millis(),
                w["last_seen_millis"].as_i64().unwrap(),
                "{user}/{term}"
            );
        }
    }

    let after = Connection::open(&path).unwrap();
    let v: i64 = after
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(v >= 4, "{v}");
    let events_after: i64 = after
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events_after, events_before);
    let old_columns: i64 = after
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('interests') WHERE name IN ('weight', 'updated_at')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old_columns, 0);
    let ok: String = after
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[tokio::test]
async fn likes_written_before_the_migration_unlike_exactly() {
    let (_dir, path, expected) = fixture();
    let at60 = T0 + 60 * DAY_MS;
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(at60)));
    let engine = engine(&path, clock.clone());
    let before: BTreeMap<String, _> = engine
        .interests("ana", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.term.clone(), i))
        .collect();
    // a0 was liked at T0 with surfboard and beach, weight 1, before the migration.
    engine.unlike("ana", "a0").await.unwrap();
    let after: BTreeMap<String, _> = engine
        .interests("ana", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.term.clone(), i))
        .collect();
    let like_now = 2f64.powf(-60.0 / 30.0); // one like from T0, read 60 days later
    for term in ["surfboard", "beach"] {
        assert!(
            close(after[term].weight, before[term].weight - like_now),
            "{term}: {} vs {} - {like_now}",
            after[term].weight,
            before[term].weight
        );
        assert_eq!(after[term].count, before[term].count - 1);
    }
    for term in ["camera", "guitar"] {
        assert_eq!(after[term].weight, before[term].weight);
    }
    // And new likes still add on top of migrated rows.
    engine
        .record_like("cy", sociallens::Post::new("c2").with_interests(["tennis"]))
        .await
        .unwrap();
    let cy = engine.interests("cy", 10).await.unwrap();
    let want_old = expected["reads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user"] == "cy" && r["at_millis"] == at60)
        .unwrap()["interests"][0]["weight"]
        .as_f64()
        .unwrap();
    let tennis = cy.iter().find(|i| i.term == "tennis").unwrap();
    assert!(close(tennis.weight, want_old + 1.0), "{}", tennis.weight);
    assert_eq!(tennis.count, 2);
    clock.advance(Duration::from_secs(30 * 86_400));
    let tennis = engine.interests("cy", 10).await.unwrap();
    let tennis = tennis.iter().find(|i| i.term == "tennis").unwrap();
    assert!(
        close(tennis.weight, (want_old + 1.0) / 2.0),
        "{}",
        tennis.weight
    );
}
