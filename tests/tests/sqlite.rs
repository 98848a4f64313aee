//! The conformance suite on `SqliteStore`, plus what only a file database can show: two
//! processes writing one file.

use rusqlite::Connection;
use sociallens::{EventStatus, ManualClock, Post, SqliteStore, Store};
use sociallens_integration_tests::{conformance_suite, engine_at, Harness, T0};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Sqlite {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conformance.db");
        Self { _dir: dir, path }
    }
}

impl Harness for Sqlite {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path).unwrap())
    }
    fn persistent(&self) -> bool {
        true
    }
    /// Scans every column of every table of the file with SQLite itself.
    fn rows_mentioning(&self, user: &str) -> u64 {
        let conn = Connection::open(&self.path).unwrap();
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(tables.len() >= 6, "{tables:?}");
        let mut total = 0u64;
        for t in tables {
            let cols: Vec<String> = conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let cond = cols
                .iter()
                .map(|c| format!("instr(CAST(\"{c}\" AS TEXT), ?1) > 0"))
                .collect::<Vec<_>>()
                .join(" OR ");
            let n: i64 = conn
                .query_row(
                    &format!("SELECT COUNT(*) FROM \"{t}\" WHERE {cond}"),
                    [user],
                    |r| r.get(0),
                )
                .unwrap();
            total += n as u64;
        }
        total
    }
}

conformance_suite!(Sqlite::new());

const CHILD_ENV: &str = "SOCIALLENS_TEST_CHILD_DB";
const LIKES_PER_PROCESS: usize = 300;

async fn write_likes(path: &str, tag: &str) {
    let clock = Arc::new(ManualClock::new(T0));
    let engine = engine_at(Arc::new(SqliteStore::open(path).unwrap()), clock);
    let tasks: Vec<_> = (0..LIKES_PER_PROCESS)
        .map(|i| {
            let engine = engine.clone();
            let post = Post::new(format!("{tag}-{i}")).with_interests(["shared", tag]);
            tokio::spawn(async move { engine.record_like("multi", post).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().status, EventStatus::Applied);
    }
}

/// Not a test on its own: the body of the child processes of `two_processes_share_one_file`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_child_writer() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        let tag = std::env::var("SOCIALLENS_TEST_CHILD_TAG").unwrap();
        write_likes(&path, &tag).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_share_one_file() {
    let h = Sqlite::new();
    let path = h.path.to_str().unwrap().to_string();
    // The schema exists before the children start, so they race on data.
    drop(h.open());
    let children: Vec<_> = ["child-a", "child-b"]
        .iter()
        .map(|tag| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "sqlite_child_writer",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &path)
                .env("SOCIALLENS_TEST_CHILD_TAG", tag)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    write_likes(&path, "parent").await;
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let engine = engine_at(h.open(), Arc::new(ManualClock::new(T0)));
    let profile = engine.profile("multi").await.unwrap();
    let n = LIKES_PER_PROCESS as f64;
    let shared = profile.get("shared").unwrap();
    assert_eq!(
        (shared.weight, shared.count),
        (3.0 * n, 3 * LIKES_PER_PROCESS as u64)
    );
    for tag in ["parent", "child-a", "child-b"] {
        let t = profile.get(tag).unwrap();
        assert_eq!((t.weight, t.count), (n, LIKES_PER_PROCESS as u64));
    }
    let conn = Connection::open(&h.path).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let events: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM events WHERE user_id = 'multi'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(events, 3 * LIKES_PER_PROCESS as i64);
}

#[tokio::test]
async fn newer_schema_is_refused_without_touching_the_file() {
    let h = Sqlite::new();
    drop(h.open());
    let conn = Connection::open(&h.path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&h.path).unwrap_err();
    assert_eq!(err.code(), "STORAGE");
    assert!(err.to_string().contains("newer"), "{err}");
    let conn = Connection::open(&h.path).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99);
}

#[tokio::test]
async fn not_a_database_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, b"this is not sqlite at all, not even close........").unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert_eq!(err.code(), "STORAGE", "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"this is not sqlite at all, not even close........"
    );
}
