//! Interests: the terms a caption is about.
//!
//! [`NounExtractor`] is the built-in extractor (pure Rust, data embedded in the crate, no
//! download). The engine accepts any [`InterestExtractor`]; interests given explicitly on a
//! [`Post`](crate::Post) go through [`normalize_terms`] and bypass extraction.

mod extract;
pub mod tagger;
pub mod tokenize;
pub mod wordnet;

pub use extract::{
    default_stoplist, Mode, Noun, NounExtractor, TaggedWord, BACKGROUND_NOUNS, EXTRA_COMPOUNDS,
    PERSON_NOUNS, STRUCTURAL_NOUNS,
};
pub use tagger::PerceptronTagger;

use crate::error::{Error, Result};

/// Longest interest term accepted, in characters.
pub const MAX_TERM_CHARS: usize = 100;

/// Something that turns a caption into interest terms.
///
/// ```
/// use sociallens::{InterestExtractor, Result};
///
/// /// Hashtags as interests, for platforms where users tag their posts.
/// struct Hashtags;
///
/// impl InterestExtractor for Hashtags {
///     fn extract(&self, caption: &str) -> Result<Vec<String>> {
///         Ok(caption
///             .split_whitespace()
///             .filter_map(|w| w.strip_prefix('#'))
///             .map(str::to_lowercase)
///             .collect())
///     }
/// }
/// assert_eq!(Hashtags.extract("sunset #Beach #surf")?, ["beach", "surf"]);
/// # Ok::<(), sociallens::Error>(())
/// ```
pub trait InterestExtractor: Send + Sync {
    /// The interests of one caption.
    fn extract(&self, caption: &str) -> Result<Vec<String>>;
}

/// Cleans caller-given interest terms: trims, lowercases, collapses inner whitespace and
/// keeps the first of repeated terms (a caption's repetitions count once).
///
/// ```
/// use sociallens::interests::normalize_terms;
/// let terms = normalize_terms(["Teddy  Bear", "dog", " DOG "])?;
/// assert_eq!(terms, ["teddy bear", "dog"]);
/// assert!(normalize_terms(["  "]).is_err());
/// # Ok::<(), sociallens::Error>(())
/// ```
pub fn normalize_terms<I, S>(terms: I) -> Result<Vec<String>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out: Vec<String> = Vec::new();
    for raw in terms {
        let term = raw
            .as_ref()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if term.is_empty() {
            return Err(Error::invalid("an interest term is empty"));
        }
        if term.chars().count() > MAX_TERM_CHARS {
            return Err(Error::invalid(format!(
                "interest term {:?}... is longer than {MAX_TERM_CHARS} characters",
                term.chars().take(20).collect::<String>()
            )));
        }
        if term.chars().any(char::is_control) {
            return Err(Error::invalid(format!(
                "interest term {term:?} contains control characters"
            )));
        }
        if !out.contains(&term) {
            out.push(term);
        }
    }
    Ok(out)
}

/// Hashers for the extractor's tables: keys are short words (or already hashes), looked up
/// many times per caption, where the standard library's DoS-resistant hasher costs more
/// than the lookup. The data is fixed, so there is nothing for an attacker to collide.
pub(crate) mod fasthash {
    use std::hash::{BuildHasherDefault, Hasher};

    /// Multiply-rotate hashing of the bytes (the scheme rustc uses internally).
    #[derive(Default, Clone, Copy)]
    pub struct Fx(u64);

    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    impl Fx {
        #[inline]
        fn add(&mut self, word: u64) {
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
    }

    impl Hasher for Fx {
        #[inline]
        fn write(&mut self, bytes: &[u8]) {
            let mut chunks = bytes.chunks_exact(8);
            for c in &mut chunks {
                self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
            }
            let rest = chunks.remainder();
            if !rest.is_empty() {
                let mut buf = [0u8; 8];
                buf[..rest.len()].copy_from_slice(rest);
                self.add(u64::from_le_bytes(buf));
            }
        }
        #[inline]
        fn write_u8(&mut self, i: u8) {
            self.add(i as u64);
        }
        #[inline]
        fn write_u64(&mut self, i: u64) {
            self.add(i);
        }
        #[inline]
        fn write_usize(&mut self, i: usize) {
            self.add(i as u64);
        }
        #[inline]
        fn finish(&self) -> u64 {
            self.0
        }
    }

    /// Keys that are already well-mixed 64-bit hashes pass through.
    #[derive(Default, Clone, Copy)]
    pub struct Identity(u64);

    impl Hasher for Identity {
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 << 8) | b as u64;
            }
        }
        #[inline]
        fn write_u64(&mut self, i: u64) {
            self.0 = i;
        }
        #[inline]
        fn finish(&self) -> u64 {
            self.0
        }
    }

    pub type FxBuild = BuildHasherDefault<Fx>;
    pub type IdentityBuild = BuildHasherDefault<Identity>;
    pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;
    pub type FxHashSet<K> = std::collections::HashSet<K, FxBuild>;
    pub type U64Map<V> = std::collections::HashMap<u64, V, IdentityBuild>;
}
