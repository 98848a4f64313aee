//! Product recommendations through the engine: the catalog, offline ranking, and LLM ideas
//! grounded in the catalog (the LLM is the local chat-completions test server).

mod llm_server;

use llm_server::{ok, status, TestServer};
use sociallens::recommend::{CatalogItem, Source};
use sociallens::{Engine, Post, SqliteStore};
use std::io::Write;

const CATALOG: &str = r#"{"id": "surf-wax", "title": "Surfboard wax", "category": "surf", "keywords": ["surfboard", "wave"], "price": 7.5}
{"id": "surf-leash", "title": "Surfboard leash", "category": "surf", "keywords": "surfboard; leash"}
{"id": "towel", "title": "Beach towel", "description": "Large towel for the beach", "category": "home"}
{"id": "dog-bed", "title": "Orthopaedic dog bed", "category": "pets", "keywords": ["dog"]}
{"id": "knife", "title": "Chef's knife", "category": "kitchen", "keywords": ["kitchen", "knife"]}
"#;

async fn engine_with_catalog(dir: &tempfile::TempDir) -> Engine {
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.path().join("rec.db")).unwrap())
        .build()
        .unwrap();
    let path = dir.path().join("catalog.jsonl");
    std::fs::write(&path, CATALOG).unwrap();
    assert_eq!(engine.add_products_from_path(&path).await.unwrap(), 5);
    engine
}

#[tokio::test]
async fn catalog_loads_from_jsonl_and_csv_and_rejects_bad_batches_whole() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with_catalog(&dir).await;
    let products = engine.products().await.unwrap();
    assert_eq!(products.len(), 5);
    let leash = products.iter().find(|p| p.id == "surf-leash").unwrap();
    assert_eq!(leash.keywords, ["surfboard", "leash"]);

    let csv = dir.path().join("more.csv");
    let mut f = std::fs::File::create(&csv).unwrap();
    writeln!(f, "id,title,category,keywords,price").unwrap();
    writeln!(f, "kite,Stunt kite,outdoor,kite|beach,49.90").unwrap();
    writeln!(f, "\"ball, red\",Beach ball,outdoor,,").unwrap();
    drop(f);
    assert_eq!(engine.add_products_from_path(&csv).await.unwrap(), 2);
    assert_eq!(engine.products().await.unwrap().len(), 7);

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,title,price\nok,Fine item,1\n,No id,2\n").unwrap();
    let err = engine.add_products_from_path(&bad).await.unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(err.to_string().contains("line 3"), "{err}");
    let bad_price = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad_price,
        "{\"id\": \"x\", \"title\": \"X\", \"price\": -1}\n",
    )
    .unwrap();
    assert!(engine.add_products_from_path(&bad_price).await.is_err());
    assert!(engine
        .add_products_from_path(dir.path().join("catalog.xml"))
        .await
        .is_err());
    assert_eq!(
        engine.products().await.unwrap().len(),
        7,
        "nothing from bad files was stored"
    );
    assert!(engine.remove_product("kite").await.unwrap());
    assert!(!engine.remove_product("kite").await.unwrap());
}

#[tokio::test]
async fn offline_recommendations_follow_interests_and_explain_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with_catalog(&dir).await;
    assert!(
        engine
            .recommend_products("newcomer", 5)
            .await
            .unwrap()
            .is_empty(),
        "cold start: nothing to go on"
    );
    for (post, caption) in [
        ("p1", "a man riding a wave on top of a surfboard"),
        ("p2", "a surfer carrying a surfboard on the beach"),
        ("p3", "a dog laying on a bed"),
    ] {
        engine
            .record_like("u", Post::new(post).with_caption(caption))
            .await
            .unwrap();
    }
    let recs = engine.recommend_products("u", 3).await.unwrap();
    let ids: Vec<_> = recs
        .iter()
        .map(|r| r.item.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(ids[0], "surf-wax", "{recs:#?}");
    assert!(
        ids.contains(&"dog-bed"),
        "diversified across categories: {ids:?}"
    );
    assert!(!ids.contains(&"knife"));
    let wax = &recs[0];
    assert_eq!(wax.source, Source::Catalog);
    assert!(wax.in_catalog);
    assert!(wax.matched_interests.contains(&"surfboard".to_string()));
    assert!(wax.matched_interests.contains(&"wave".to_string()));
    assert!(recs
        .windows(2)
        .all(|w| w[0].score > 0.0 && w[1].score > 0.0));
}

const IDEAS: &str = r#"{"products": [
  {"name": "Surfboard wax", "category": "surf", "reason": "keeps the grip", "matched_interests": ["surfboard"]},
  {"name": "Underwater drone", "category": "gadgets", "reason": "filming waves", "matched_interests": ["wave"]}
]}"#;

#[tokio::test]
async fn llm_ideas_are_grounded_in_the_catalog_and_cached() {
    let server = TestServer::start(vec![ok(IDEAS)]).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder()
        .store(SqliteStore::open(dir.path().join("rec.db")).unwrap())
        .llm(server.client())
        .build()
        .unwrap();
    engine
        .add_products(CatalogItem::from_jsonl(CATALOG.as_bytes()).unwrap())
        .await
        .unwrap();
    engine
        .record_like(
            "u",
            Post::new("p1").with_caption("a man riding a wave on top of a surfboard"),
        )
        .await
        .unwrap();
    let recs = engine.recommend_products("u", 3).await.unwrap();
    assert_eq!(recs[0].item.as_ref().unwrap().id, "surf-wax");
    assert_eq!(
        (recs[0].source, recs[0].reason.as_deref()),
        (Source::Llm, Some("keeps the grip"))
    );
    assert_eq!(recs[1].name, "Underwater drone");
    assert!(!recs[1].in_catalog && recs[1].item.is_none());
    assert_eq!(
        recs[2].source,
        Source::Catalog,
        "filled up from the catalog"
    );
    assert_eq!(recs.len(), 3);
    // The prompt carried the caption, not the user id.
    let (_, _, body) = server.request(0);
    let prompt = body["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains("riding a wave"));
    assert!(!prompt.contains("\"u\""));
    // Asked again: the answer comes from the store's cache.
    let again = engine.recommend_products("u", 3).await.unwrap();
    assert_eq!(again.len(), 3);
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn llm_rate_limits_reach_the_caller_typed() {
    let server = TestServer::start(vec![status(429, vec![("retry-after", "60".into())])]).await;
    let engine = Engine::builder()
        .store_url("memory://")
        .llm(server.client().deadline(std::time::Duration::from_secs(1)))
        .build()
        .unwrap();
    engine
        .add_products(vec![CatalogItem::new("a", "Surfboard wax")])
        .await
        .unwrap();
    engine
        .record_like("u", Post::new("p").with_caption("a surfboard on a beach"))
        .await
        .unwrap();
    let err = engine.recommend_products("u", 2).await.unwrap_err();
    assert_eq!(err.code(), "RATE_LIMITED");
}
