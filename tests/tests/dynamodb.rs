//! The conformance suite on `DynamoStore` against a DynamoDB-compatible server (scripts/test.sh
//! starts moto on 127.0.0.1 and sets SOCIALLENS_DYNAMODB_ENDPOINT), plus what only DynamoDB
//! shows: `forget_user` checked by a raw scan of the table and of every index.
//!
//! Every harness works in a fresh table of its own, so the tests run in parallel.

use aws_sdk_dynamodb::types::AttributeValue;
use sociallens::store::{CatalogRecord, ItemKind, Neighbour, NeighbourList};
use sociallens::{DynamoStore, EventOptions, ManualClock, Post, Store, Timestamp, UserId};
use sociallens_integration_tests::{conformance_suite, engine_at, Harness, T0};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

const ENDPOINT_VAR: &str = "SOCIALLENS_DYNAMODB_ENDPOINT";
/// Requests each store keeps in flight against moto.
const MOTO_IN_FLIGHT: usize = 4;

/// The server's endpoint, or why there is none. Under CI a missing endpoint fails the
/// test instead of skipping it: CI must run this suite.
pub fn endpoint() -> Result<String, String> {
    match std::env::var(ENDPOINT_VAR) {
        Ok(e) if !e.is_empty() => Ok(e),
        _ => {
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
                panic!("{ENDPOINT_VAR} is not set under CI: the DynamoDB suite must run");
            }
            Err(format!(
                "{ENDPOINT_VAR} is not set, so this DynamoDB test did NOT run \
                 (start `moto_server -H 127.0.0.1 -p 5000` and set {ENDPOINT_VAR}=http://127.0.0.1:5000)"
            ))
        }
    }
}

/// The standard credential chain reads these; moto accepts any.
fn test_credentials() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ] {
            if std::env::var_os(k).is_none() {
                std::env::set_var(k, v);
            }
        }
    });
}

fn fresh_table(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{tag}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

struct Dynamo {
    endpoint: String,
    table: String,
    raw: aws_sdk_dynamodb::Client,
}

impl Dynamo {
    fn new(endpoint: String) -> Self {
        test_credentials();
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "static",
            ))
            .build();
        Self {
            endpoint,
            table: fresh_table("conformance"),
            raw: aws_sdk_dynamodb::Client::from_conf(conf),
        }
    }

    fn store(&self) -> DynamoStore {
        DynamoStore::builder()
            .table(&self.table)
            .region("us-east-1")
            .endpoint(&self.endpoint)
            .create_table_if_missing(true)
            // moto answers one request at a time per thread under Python's GIL, and deep-copies
            // the table for every transaction: a few connections at a time, and patience.
            .max_in_flight(MOTO_IN_FLIGHT)
            .timeouts(Duration::from_secs(60), Duration::from_secs(10))
            .retry_deadline(Duration::from_secs(120))
            .build()
            .unwrap()
    }

    /// Items of the table (`index == None`) or of one index, every page, by a raw Scan.
    async fn scan(
        &self,
        index: Option<&str>,
    ) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .raw
                .scan()
                .table_name(&self.table)
                .set_index_name(index.map(String::from))
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                return out;
            }
        }
    }

    async fn index_names(&self) -> Vec<String> {
        let t = self
            .raw
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .unwrap();
        t.table()
            .unwrap()
            .global_secondary_indexes()
            .iter()
            .map(|g| g.index_name().unwrap().to_string())
            .collect()
    }

    /// Items mentioning `user`, in the table and in each index, by name (`""` the table).
    async fn mentions_by_index(&self, user: &str) -> Vec<(String, u64)> {
        let mut out = vec![(String::new(), count_mentions(&self.scan(None).await, user))];
        for idx in self.index_names().await {
            let n = count_mentions(&self.scan(Some(&idx)).await, user);
            out.push((idx, n));
        }
        out
    }
}

fn mentions(v: &AttributeValue, user: &str) -> bool {
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => s.contains(user),
        AttributeValue::Ss(l) | AttributeValue::Ns(l) => l.iter().any(|s| s.contains(user)),
        AttributeValue::L(l) => l.iter().any(|x| mentions(x, user)),
        AttributeValue::M(m) => m.iter().any(|(k, x)| k.contains(user) || mentions(x, user)),
        _ => false,
    }
}

fn count_mentions(items: &[std::collections::HashMap<String, AttributeValue>], user: &str) -> u64 {
    items
        .iter()
        .filter(|i| i.iter().any(|(k, v)| k.contains(user) || mentions(v, user)))
        .count() as u64
}

impl Harness for Dynamo {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(self.store())
    }
    fn persistent(&self) -> bool {
        true
    }
    /// A raw Scan of the table and of every index (not the `Store` API).
    fn rows_mentioning(&self, user: &str) -> u64 {
        let user = user.to_string();
        // The suite calls this from async code: scan on a runtime of its own.
        std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        self.mentions_by_index(&user)
                            .await
                            .iter()
                            .map(|(_, n)| n)
                            .sum()
                    })
            })
            .join()
            .unwrap()
        })
    }
}

/// A harness, or (when no endpoint is set) a loud skip of the calling test.
macro_rules! harness_or_skip {
    () => {
        match endpoint() {
            Ok(e) => Dynamo::new(e),
            Err(why) => {
                eprintln!("\n*** SKIPPED: {why} ***\n");
                return;
            }
        }
    };
}

/// The harness of the suite: a fresh table on the configured server, or a loud skip.
struct MaybeDynamo(Result<Dynamo, String>);

impl MaybeDynamo {
    fn new() -> Self {
        Self(endpoint().map(Dynamo::new))
    }
    fn live(&self) -> &Dynamo {
        self.0.as_ref().expect("skipped harnesses are never opened")
    }
}

impl Harness for MaybeDynamo {
    fn open(&self) -> Arc<dyn Store> {
        self.live().open()
    }
    fn persistent(&self) -> bool {
        true
    }
    fn rows_mentioning(&self, user: &str) -> u64 {
        self.live().rows_mentioning(user)
    }
    fn skip_reason(&self) -> Option<String> {
        self.0.as_ref().err().cloned()
    }
}

conformance_suite!(MaybeDynamo::new());

/// `forget_user` leaves nothing naming the user in the table or in any index, though each
/// index held some of the user's entries before; other users' neighbour lists lose the
/// entries naming them and keep the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forget_user_leaves_nothing_in_the_table_or_its_indexes() {
    let h = harness_or_skip!();
    let store = h.store();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = engine_at(Arc::new(store.clone()), clock);
    let doomed = "doomed-dyn";
    engine
        .record_upload(
            doomed,
            Post::new("doomed-dyn-post")
                .with_caption("a cat on a wall")
                .with_interests(["cat", "wall"]),
        )
        .await
        .unwrap();
    engine
        .record_like_with(
            doomed,
            Post::new("pdx").with_interests(["cat", "dog"]),
            EventOptions::id("doomed-dyn-like"),
        )
        .await
        .unwrap();
    engine
        .add_ads(vec![sociallens::ads::Ad::new(
            "ad-c", "Acme", "Cats", "pets",
        )
        .interests(["cat"])])
        .await
        .unwrap();
    engine.record_impression(doomed, "ad-c").await.unwrap();
    engine.record_click(doomed, "ad-c").await.unwrap();
    engine.set_opt_out(doomed, "Gambling", true).await.unwrap();
    engine
        .record_like("keeper", Post::new("pdx"))
        .await
        .unwrap();
    let me = UserId::new(doomed).unwrap();
    let keeper = UserId::new("keeper").unwrap();
    let other = UserId::new("other").unwrap();
    let n = |user: &UserId| Neighbour {
        user: user.clone(),
        score: 0.5,
        shared_terms: vec!["cat".into()],
    };
    let list = |user: &UserId, neighbours| NeighbourList {
        user: user.clone(),
        neighbours,
        computed_at: T0,
    };
    store
        .put_neighbours(&[
            list(&me, vec![n(&keeper)]),
            list(&keeper, vec![n(&me), n(&other)]),
            list(&other, vec![n(&me)]),
        ])
        .await
        .unwrap();

    let before = h.mentions_by_index(doomed).await;
    assert_eq!(before.len(), 4, "{before:?}");
    for (index, count) in &before {
        assert!(
            *count > 0,
            "index {index:?} held nothing of the user: {before:?}"
        );
    }
    let report = engine.forget_user(doomed).await.unwrap();
    assert_eq!(report.events, 4, "{report:?}");
    assert_eq!(report.posts, 1);
    assert_eq!(report.opt_outs, 1);
    let after = h.mentions_by_index(doomed).await;
    assert!(after.iter().all(|(_, n)| *n == 0), "{after:?}");
    let lists = store
        .neighbours(&[keeper.clone(), other.clone()])
        .await
        .unwrap();
    assert_eq!(
        lists.len(),
        1,
        "other's list named only the user: {lists:?}"
    );
    assert_eq!(lists[0].user, keeper);
    assert_eq!(lists[0].neighbours.len(), 1);
    assert_eq!(lists[0].neighbours[0].user, other);
    // The bystander is untouched.
    assert_eq!(engine.interests("keeper", 10).await.unwrap().len(), 2);
}

/// Reads go past DynamoDB's 1 MB pages: more catalog bytes than one page holds all come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_page_past_one_megabyte() {
    let h = harness_or_skip!();
    let store = h.store();
    let body = serde_json::Value::String("x".repeat(2_000));
    let items: Vec<CatalogRecord> = (0..1_200)
        .map(|i| CatalogRecord {
            kind: ItemKind::Product,
            id: format!("prod-{i:04}"),
            category: Some("bulk".into()),
            body: body.clone(),
            updated_at: T0,
        })
        .collect();
    store.put_items(&items).await.unwrap();
    let back = store.items(ItemKind::Product).await.unwrap();
    assert_eq!(back.len(), 1_200);
}

/// `dynamodb://` URLs open through `open_store`, and no query string or credential of the
/// URL reaches an error.
#[tokio::test]
async fn urls_open_the_store_and_errors_hide_secrets() {
    let endpoint = match endpoint() {
        Ok(e) => e,
        Err(why) => return eprintln!("\n*** SKIPPED: {why} ***\n"),
    };
    test_credentials();
    let table = fresh_table("url");
    let url = format!("dynamodb://{table}?region=us-east-1&endpoint={endpoint}&create=true");
    let store = sociallens::open_store(&url).unwrap();
    assert_eq!(store.backend(), "dynamodb");
    let t = Timestamp::from_millis(T0.as_millis() + 1);
    store.cache_put("k", "v", T0, t).await.unwrap();
    assert_eq!(
        store.cache_get("k", T0).await.unwrap().as_deref(),
        Some("v")
    );
    let err = sociallens::open_store("dynamodb://t?secret=hunter2").unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // A server that is not there: an error, after the deadline, without the endpoint's
    // credentials or query.
    let dead = DynamoStore::builder()
        .table("some-table")
        .region("us-east-1")
        .endpoint("http://user:pa55word@127.0.0.1:9/?token=s3cr3t")
        .retry_deadline(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = dead
        .event(&sociallens::EventId::new("e").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UNAVAILABLE", "{err}");
    let shown = format!("{} {:?} {}", err, err, err.full_message());
    assert!(
        !shown.contains("pa55word") && !shown.contains("s3cr3t"),
        "{shown}"
    );
    // A table that does not exist (and is not to be created) is a storage error at once.
    let missing = DynamoStore::builder()
        .table(fresh_table("missing"))
        .region("us-east-1")
        .endpoint(&endpoint)
        .build()
        .unwrap();
    let err = missing
        .event(&sociallens::EventId::new("e").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "STORAGE", "{err}");
    // Creating twice is fine.
    let again = DynamoStore::builder()
        .table(&table)
        .region("us-east-1")
        .endpoint(&endpoint)
        .build()
        .unwrap();
    again.create_table().await.unwrap();
}

/// An export from DynamoDB (paged Scans, the clicks index) imported into SQLite holds the
/// same records, and importing it back into the same table changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_from_dynamodb_restores_into_sqlite() {
    use sociallens::ads::Ad;
    use sociallens::export::{Dataset, ExportOptions, ImportOptions};
    let h = harness_or_skip!();
    let clock = Arc::new(ManualClock::new(T0));
    let store: Arc<dyn Store> = Arc::new(h.store());
    let engine = engine_at(store.clone(), clock.clone());
    engine
        .add_ads(vec![
            Ad::new("ad-x", "Acme", "X", "Surf").interests(["surf"])
        ])
        .await
        .unwrap();
    for i in 0..6 {
        let user = format!("dx-{}", i % 3);
        engine
            .record_upload(
                &user,
                Post::new(format!("dp-{i}"))
                    .by(user.clone())
                    .with_interests(["surf", "sea"]),
            )
            .await
            .unwrap();
        engine.record_impression(&user, "ad-x").await.unwrap();
        clock.advance(Duration::from_secs(3600));
    }
    engine.record_click("dx-0", "ad-x").await.unwrap();
    engine.set_opt_out("dx-1", "Pets", true).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = engine
        .export(&ExportOptions::new(dir.path().join("out")).page_size(4))
        .await
        .unwrap();
    assert_eq!(summary.dataset(Dataset::Events).unwrap().rows, 13);
    assert_eq!(summary.dataset(Dataset::AdEvents).unwrap().rows, 7);
    assert_eq!(summary.dataset(Dataset::Posts).unwrap().rows, 6);

    let sqlite: Arc<dyn Store> =
        Arc::new(sociallens::SqliteStore::open(dir.path().join("r.db")).unwrap());
    let restored = engine_at(sqlite.clone(), clock.clone());
    let reports = restored
        .import(&ImportOptions::new(dir.path().join("out")))
        .await
        .unwrap();
    assert!(reports.iter().all(|r| r.applied == r.rows), "{reports:?}");
    for u in ["dx-0", "dx-1", "dx-2"] {
        let a = engine.interests(u, 10).await.unwrap();
        let b = restored.interests(u, 10).await.unwrap();
        assert_eq!(a, b, "{u}");
    }
    let q = sociallens::analytics::ReportQuery::by_category_and_hour();
    assert_eq!(
        engine.click_report(q.clone()).await.unwrap(),
        restored.click_report(q).await.unwrap()
    );
    let again = engine
        .import(&ImportOptions::new(dir.path().join("out")))
        .await
        .unwrap();
    assert!(
        again
            .iter()
            .all(|r| r.applied == 0 && r.unchanged == r.rows),
        "{again:?}"
    );
}
