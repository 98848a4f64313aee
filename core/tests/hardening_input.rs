//! Sizes of user input (issue 11, item 9): captions and interest lists are capped with typed
//! errors before anything is stored, and long captions are read off the async workers.
//! (That extraction and de-duplication are linear is shown by the growth tests in
//! `core/src/interests`, which count work.)

use sociallens::interests::{
    NounExtractor, MAX_CAPTION_BYTES, MAX_INTERESTS_PER_POST, MAX_TERM_CHARS,
};
use sociallens::{Engine, InterestExtractor, Post, Result, SqliteStore};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

fn engine(dir: &tempfile::TempDir) -> Engine {
    Engine::builder()
        .store(SqliteStore::open(dir.path().join("t.db")).unwrap())
        .build()
        .unwrap()
}

async fn assert_nothing_stored(e: &Engine, post: &str) {
    assert!(e.post(post).await.unwrap().is_none());
    assert!(e.interests("u1", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_megabyte_caption_is_rejected_and_the_cap_itself_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let megabyte = "a dog catching a frisbee in a park ".repeat(30_000);
    assert!(megabyte.len() > 1_000_000);
    let err = e
        .record_like("u1", Post::new("p1").with_caption(megabyte.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(
        err.to_string().contains(&MAX_CAPTION_BYTES.to_string()),
        "{err}"
    );
    assert_nothing_stored(&e, "p1").await;
    // Even with interests given: the caption would still be stored.
    let err = e
        .record_upload(
            "u1",
            Post::new("p1")
                .with_caption(megabyte)
                .with_interests(["dog"]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert_nothing_stored(&e, "p1").await;

    // One byte over is refused; exactly the cap is fine (multi-byte characters count bytes).
    let unit = "a dog in a café ";
    let mut at_cap = unit.repeat(MAX_CAPTION_BYTES / unit.len());
    at_cap.push_str(&"x".repeat(MAX_CAPTION_BYTES - at_cap.len()));
    assert_eq!(at_cap.len(), MAX_CAPTION_BYTES);
    let over = format!("{at_cap}y");
    let err = e
        .record_like("u1", Post::new("p2").with_caption(over))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    let out = e
        .record_like("u1", Post::new("p2").with_caption(at_cap))
        .await
        .unwrap();
    assert!(
        out.interests.contains(&"dog".to_string()),
        "{:?}",
        out.interests
    );
}

#[tokio::test]
async fn a_hundred_thousand_interests_are_rejected_and_the_cap_itself_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let terms = |n: usize| (0..n).map(|i| format!("term {i}")).collect::<Vec<_>>();
    let err = e
        .record_like("u1", Post::new("p1").with_interests(terms(100_000)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(err.to_string().contains("100000 interests"), "{err}");
    assert_nothing_stored(&e, "p1").await;
    let err = e
        .record_like(
            "u1",
            Post::new("p1").with_interests(terms(MAX_INTERESTS_PER_POST + 1)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    // At the cap, with repeats (which count against it: the check comes before any work).
    let mut given = terms(MAX_INTERESTS_PER_POST - 10);
    given.extend(terms(10));
    let out = e
        .record_like("u1", Post::new("p1").with_interests(given))
        .await
        .unwrap();
    assert_eq!(out.interests.len(), MAX_INTERESTS_PER_POST - 10);
    assert_eq!(
        e.interests("u1", usize::MAX).await.unwrap().len(),
        MAX_INTERESTS_PER_POST - 10
    );
}

#[tokio::test]
async fn one_interest_term_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let long = "z".repeat(MAX_TERM_CHARS + 1);
    let err = e
        .record_like("u1", Post::new("p1").with_interests([long.as_str()]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(
        err.to_string().contains(&MAX_TERM_CHARS.to_string()),
        "{err}"
    );
    assert_nothing_stored(&e, "p1").await;
    // Whitespace collapses before the length is measured.
    let spaced = format!("{}   {}", "y".repeat(50), "y".repeat(49));
    e.record_like("u1", Post::new("p1").with_interests([spaced.as_str()]))
        .await
        .unwrap();
}

/// An extractor that records which thread ran it and returns what it was built with.
struct Probe {
    threads: Mutex<Vec<ThreadId>>,
    terms: Vec<String>,
}

impl InterestExtractor for Probe {
    fn extract(&self, _caption: &str) -> Result<Vec<String>> {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        Ok(self.terms.clone())
    }
}

fn probe_engine(dir: &tempfile::TempDir, terms: Vec<String>) -> (Engine, Arc<Probe>) {
    let probe = Arc::new(Probe {
        threads: Mutex::new(Vec::new()),
        terms,
    });
    let e = Engine::builder()
        .store(SqliteStore::open(dir.path().join("t.db")).unwrap())
        .shared_extractor(probe.clone())
        .build()
        .unwrap();
    (e, probe)
}

// A current-thread runtime: the test's own thread is the only async worker.
#[tokio::test(flavor = "current_thread")]
async fn long_captions_are_extracted_off_the_async_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (e, probe) = probe_engine(&dir, vec!["dog".into()]);
    let worker = std::thread::current().id();
    let long = "a dog on a bench ".repeat(1_000);
    e.record_like("u1", Post::new("p1").with_caption(long))
        .await
        .unwrap();
    let threads = probe.threads.lock().unwrap().clone();
    assert_eq!(threads.len(), 1);
    assert_ne!(
        threads[0], worker,
        "a 17 KB caption was tagged on the async worker"
    );
}

#[tokio::test]
async fn an_extractor_s_output_is_capped_and_cleaned_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut terms: Vec<String> = vec!["".into(), "x".repeat(MAX_TERM_CHARS + 1), "Dog".into()];
    terms.extend((0..100_000).map(|i| format!("term {i}")));
    let (e, _) = probe_engine(&dir, terms);
    let out = e
        .record_like("u1", Post::new("p1").with_caption("a dog"))
        .await
        .unwrap();
    assert_eq!(out.interests.len(), MAX_INTERESTS_PER_POST);
    assert_eq!(out.interests[0], "dog");
    assert_eq!(out.interests[1], "term 0");
}

#[test]
fn the_extractor_itself_takes_a_megabyte() {
    // What `extract_interests` in the bindings calls: no cap there, and no panic.
    let ex = NounExtractor::default();
    let text = "A man, riding a wave on top of a surfboard; 'tis a dog's \"day\". ".repeat(16_000);
    assert!(text.len() > 1_000_000);
    let nouns = ex.extract(&text);
    let terms: Vec<&str> = nouns.iter().map(|n| n.term.as_str()).collect();
    assert!(
        terms.contains(&"surfboard") && terms.contains(&"wave"),
        "{terms:?}"
    );
}
