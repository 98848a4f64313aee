//! What each fuzz target runs, one function per target, so that the regression test in
//! `core/tests/fuzz_regressions.rs` (which includes this file) replays saved inputs through
//! exactly the same code and the same invariants. Every function panics on a broken
//! invariant and returns normally otherwise.

use sociallens::ads::Ad;
use sociallens::caption::{decode_rgb, DecodeOptions, PreprocessorConfig};
use sociallens::interests::{normalize_terms, NounExtractor, TaggedWord, MAX_TERM_CHARS};
use sociallens::recommend::CatalogItem;
use sociallens::{Error, InterestExtractor, PostId, Timestamp, MAX_ID_BYTES};
use std::collections::HashSet;
use std::sync::OnceLock;

/// One target's body: returns normally or panics on a broken invariant.
pub type Target = fn(&[u8]);

/// The targets by name, as `cargo fuzz run NAME` knows them.
pub const TARGETS: [(&str, Target); 4] = [
    ("decode_preprocess", decode_preprocess),
    ("extract_nouns", extract_nouns),
    ("catalog_load", catalog_load),
    ("ads_load", ads_load),
];

fn processor() -> &'static PreprocessorConfig {
    static P: OnceLock<PreprocessorConfig> = OnceLock::new();
    // ViTImageProcessor() defaults (224x224 bilinear), as the full-size model uses.
    P.get_or_init(|| {
        PreprocessorConfig::from_json(
            r#"{"do_convert_rgb": null, "do_normalize": true, "do_rescale": true,
                "do_resize": true, "image_mean": [0.5, 0.5, 0.5],
                "image_processor_type": "ViTImageProcessor", "image_std": [0.5, 0.5, 0.5],
                "resample": 2, "rescale_factor": 0.00392156862745098,
                "size": {"height": 224, "width": 224}}"#,
        )
        .expect("valid processor config")
    })
}

/// Arbitrary bytes through image decoding and the ViT preprocessing with the default
/// limits: every outcome must be an image or a typed error, never a panic.
pub fn decode_preprocess(data: &[u8]) {
    // Both orientation settings: the engine applies EXIF, the parity path does not.
    for exif in [true, false] {
        let opts = DecodeOptions {
            apply_exif_orientation: exif,
            ..DecodeOptions::default()
        };
        if let Ok(img) = decode_rgb(data, &opts) {
            let px = processor()
                .pixel_values(&img)
                .expect("a decoded image always preprocesses");
            assert_eq!(px.len(), 3 * 224 * 224);
            assert!(px.iter().all(|v| v.abs() <= 1.0 + 1e-6));
        }
    }
}

fn extractors() -> &'static [NounExtractor; 2] {
    static E: OnceLock<[NounExtractor; 2]> = OnceLock::new();
    E.get_or_init(|| [NounExtractor::default(), NounExtractor::textblob()])
}

/// A span, when given, lies on character boundaries of `text` and covers `expected`.
fn check_span(text: &str, span: Option<(usize, usize)>, expected: &str) {
    if let Some((s, e)) = span {
        assert!(s <= e, "span {s}..{e} is reversed");
        assert_eq!(
            text.get(s..e),
            Some(expected),
            "span {s}..{e} does not cover {expected:?}"
        );
    }
}

fn check_tags(text: &str, tags: &[TaggedWord]) {
    for t in tags {
        assert!(!t.word.is_empty(), "empty token");
        assert!(!t.tag.is_empty(), "empty tag for {:?}", t.word);
        check_span(text, t.span, &t.word);
    }
}

/// Arbitrary text through the noun extractor, in both modes: every call must return, and
/// what it returns must be well formed (non-empty trimmed terms, each once, spans that
/// point at the text they claim to, the same terms from `terms` as from `extract`).
pub fn extract_nouns(data: &[u8]) {
    // Lossy, so that every mutation is a caption rather than most being thrown away.
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let [interests, textblob] = extractors();

    let nouns = interests.extract(text);
    let mut seen = HashSet::new();
    for n in &nouns {
        assert!(!n.term.is_empty(), "empty interest");
        assert_eq!(
            n.term.trim(),
            n.term,
            "interest {:?} is not trimmed",
            n.term
        );
        assert!(
            n.term.chars().any(char::is_alphabetic),
            "interest {:?} has no letter",
            n.term
        );
        assert!(seen.insert(n.term.as_str()), "interest {:?} twice", n.term);
        assert!(
            !n.surface.is_empty(),
            "interest {:?} has no surface",
            n.term
        );
        check_span(text, n.span, &n.surface);
    }
    let terms = interests.terms(text);
    assert!(
        terms.iter().eq(nouns.iter().map(|n| &n.term)),
        "terms {terms:?} differ from extract"
    );
    assert_eq!(
        InterestExtractor::extract(interests, text).ok(),
        Some(terms)
    );
    check_tags(text, &interests.corrected_tags(text));

    let tags = textblob.pos_tags(text);
    check_tags(text, &tags);
    let nouns = textblob.extract(text);
    for n in &nouns {
        assert!(!n.term.is_empty(), "empty noun");
        assert_eq!(n.term, n.surface, "TextBlob mode keeps the surface form");
        check_span(text, n.span, &n.surface);
    }
    // TextBlob mode: exactly the noun-tagged words, in order, repeats kept.
    assert!(nouns.iter().map(|n| &n.term).eq(tags
        .iter()
        .filter(|t| t.tag.starts_with('N'))
        .map(|t| &t.word)));
    assert!(textblob
        .terms(text)
        .iter()
        .eq(nouns.iter().map(|n| &n.term)));
}

/// A loader's error must be a typed `InvalidInput` with a message.
fn loaded<T>(result: Result<Vec<T>, Error>) -> Vec<T> {
    match result {
        Ok(items) => items,
        Err(Error::InvalidInput(msg)) => {
            assert!(!msg.is_empty());
            Vec::new()
        }
        Err(other) => panic!("a loader error must be InvalidInput, got {other:?}"),
    }
}

fn check_product(item: CatalogItem) {
    assert!(!item.id.is_empty() && item.id.len() <= MAX_ID_BYTES);
    assert_eq!(item.id.trim(), item.id);
    assert!(!item.title.is_empty());
    assert_eq!(item.title.trim(), item.title);
    if let Some(p) = item.price {
        assert!(p.is_finite() && p >= 0.0, "price {p}");
    }
    for k in &item.keywords {
        assert!(!k.is_empty());
        assert_eq!(k.trim(), k, "keyword {k:?} is not trimmed");
    }
    if let Some(c) = &item.category {
        assert!(!c.is_empty());
    }
    // Validation is idempotent: a loaded item is already in its normal form.
    assert_eq!(item.clone().validate().ok().as_ref(), Some(&item));
    // What the store writes and reads back (serde_json values).
    let value = serde_json::to_value(&item).expect("an item serialises");
    let back: CatalogItem = serde_json::from_value(value).expect("and reads back");
    assert_eq!(back, item);
    let _ = item.embedding_text();
}

/// Arbitrary bytes through the product catalog loaders (JSON Lines and CSV): each must
/// return a typed error or items that are valid, already normalised and that survive the
/// store's JSON round trip unchanged.
pub fn catalog_load(data: &[u8]) {
    loaded(CatalogItem::from_jsonl(data))
        .into_iter()
        .for_each(check_product);
    loaded(CatalogItem::from_csv(data))
        .into_iter()
        .for_each(check_product);
}

fn check_category(c: &str) {
    assert!(!c.is_empty(), "empty category");
    assert_eq!(c.to_lowercase(), c, "category {c:?} is not lowercase");
    assert_eq!(c.split_whitespace().collect::<Vec<_>>().join(" "), c);
    assert!(c.chars().count() <= MAX_TERM_CHARS);
    assert!(!c.chars().any(char::is_control));
}

fn check_ad(ad: Ad) {
    assert!(PostId::new(ad.id.clone()).is_ok(), "ad id {:?}", ad.id);
    assert!(!ad.advertiser.trim().is_empty());
    assert!(!ad.title.trim().is_empty());
    check_category(&ad.category);
    ad.excluded_categories
        .iter()
        .for_each(|c| check_category(c));
    assert_eq!(
        normalize_terms(&ad.interests).ok().as_ref(),
        Some(&ad.interests),
        "interests are not normalised"
    );
    if let (Some(s), Some(e)) = (ad.start, ad.end) {
        assert!(e > s);
    }
    if let Some(cap) = ad.frequency_cap {
        assert_ne!(cap.per_day, Some(0));
        assert_ne!(cap.lifetime, Some(0));
    }
    assert_eq!(ad.clone().validate().ok().as_ref(), Some(&ad));
    let value = serde_json::to_value(&ad).expect("an ad serialises");
    let back: Ad = serde_json::from_value(value).expect("and reads back");
    assert_eq!(back, ad);
    let _ = ad.is_live(Timestamp::from_millis(0));
}

/// Arbitrary bytes through the ad loaders (JSON Lines and CSV): each must return a typed
/// error or ads that are valid, already normalised and that survive the store's JSON round
/// trip unchanged.
pub fn ads_load(data: &[u8]) {
    loaded(Ad::from_jsonl(data)).into_iter().for_each(check_ad);
    loaded(Ad::from_csv(data)).into_iter().for_each(check_ad);
}
