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
use std::collections::HashSet;

/// Longest interest term accepted, in characters (after whitespace is collapsed). Longer
/// given terms are rejected with [`Error::InvalidInput`]; longer extracted ones are dropped.
pub const MAX_TERM_CHARS: usize = 100;

/// Longest caption the engine accepts, in bytes of UTF-8: 64 KiB, some thirty times the
/// longest caption the big photo platforms allow, and small enough that extracting its
/// interests stays well under a millisecond per kilobyte. A longer caption is rejected with
/// [`Error::InvalidInput`] before anything is stored. [`NounExtractor::extract`] itself takes
/// any length (in linear time).
pub const MAX_CAPTION_BYTES: usize = 64 * 1024;

/// Most interests one post may carry: given ones beyond this are rejected with
/// [`Error::InvalidInput`] (counted before de-duplication, so the check costs nothing);
/// extracted ones beyond it are dropped, the first ones kept. Every interest is a profile
/// row touched by every like of the post, so this bounds the work of one event.
pub const MAX_INTERESTS_PER_POST: usize = 1_000;

/// Captions longer than this (in bytes) are read by the extractor on tokio's blocking
/// threads rather than on the async worker that handles the event: about a few hundred
/// microseconds of tagging, the most one poll should take.
pub(crate) const INLINE_EXTRACT_BYTES: usize = 1024;

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
    let mut out = Dedup::default();
    for raw in terms {
        let term = normalize_one(raw.as_ref())?;
        out.insert(term);
    }
    Ok(out.into_vec())
}

/// [`normalize_terms`] for an extractor's output: terms that would be rejected (empty,
/// too long, control characters) are dropped rather than failing the post, and at most
/// `cap` distinct terms are kept, the first ones.
pub(crate) fn normalize_extracted<I, S>(terms: I, cap: usize) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = Dedup::default();
    for raw in terms {
        if out.len() >= cap {
            break;
        }
        if let Ok(term) = normalize_one(raw.as_ref()) {
            out.insert(term);
        }
    }
    out.into_vec()
}

fn normalize_one(raw: &str) -> Result<String> {
    let mut term = String::with_capacity(raw.len().min(4 * MAX_TERM_CHARS));
    for (i, word) in raw.split_whitespace().enumerate() {
        if i > 0 {
            term.push(' ');
        }
        term.push_str(word);
    }
    let term = term.to_lowercase();
    if term.is_empty() {
        return Err(Error::invalid("an interest term is empty"));
    }
    if term.chars().nth(MAX_TERM_CHARS).is_some() {
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
    Ok(term)
}

/// Distinct terms in first-seen order, with a hash set for the membership test so that
/// de-duplicating `n` terms is linear (a `Vec::contains` per term would be quadratic).
/// The set uses the standard DoS-resistant hasher: the terms come from callers.
#[derive(Default)]
struct Dedup {
    seen: HashSet<work::Counted>,
    order: Vec<String>,
}

impl Dedup {
    fn insert(&mut self, term: String) {
        if self.seen.insert(work::Counted(term.clone())) {
            self.order.push(term);
        }
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    fn into_vec(self) -> Vec<String> {
        self.order
    }
}

/// Work counting for growth tests: under `cfg(test)` each call of [`add`](work::add) (and
/// each hash or comparison of a [`Counted`](work::Counted)) adds to a per-thread counter, so
/// a test can show an algorithm's work grows linearly with its input without timing
/// anything. In other builds everything here compiles to nothing.
pub(crate) mod work {
    use std::hash::{Hash, Hasher};

    #[cfg(test)]
    thread_local! {
        static UNITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// Counts `n` units of work.
    #[inline(always)]
    pub(crate) fn add(n: usize) {
        #[cfg(test)]
        UNITS.with(|u| u.set(u.get() + n as u64));
        #[cfg(not(test))]
        let _ = n;
    }

    /// The units counted on this thread since the last call.
    #[cfg(test)]
    pub(crate) fn take() -> u64 {
        UNITS.with(|u| u.replace(0))
    }

    /// A string whose hashing and comparisons count one unit each.
    #[derive(Eq)]
    pub(crate) struct Counted(pub(crate) String);

    impl PartialEq for Counted {
        fn eq(&self, other: &Self) -> bool {
            add(1);
            self.0 == other.0
        }
    }

    impl Hash for Counted {
        fn hash<H: Hasher>(&self, state: &mut H) {
            add(1);
            self.0.hash(state);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Work of `f` on this thread, in [`work`] units.
    fn units(f: impl FnOnce()) -> u64 {
        work::take();
        f();
        work::take()
    }

    #[test]
    fn normalize_terms_is_linear() {
        // Distinct terms are the worst case for a linear scan per term: n²/2 comparisons.
        let terms = |n: usize| (0..n).map(|i| format!("term {i}")).collect::<Vec<_>>();
        let (small, large) = (terms(2_000), terms(16_000));
        let w1 = units(|| assert_eq!(normalize_terms(&small).unwrap().len(), 2_000));
        let w8 = units(|| assert_eq!(normalize_terms(&large).unwrap().len(), 16_000));
        assert!(w1 >= 2_000, "the counter counts: {w1}");
        // Linear: 8x the input, about 8x the work (hash-set probes vary a little); a
        // quadratic de-duplication would do about 64x.
        assert!(w8 <= 12 * w1, "8x the terms took {w8} units against {w1}");
        // Repeats keep the first spelling, in order, whatever the input's size.
        let mut repeated = large.clone();
        repeated.extend(large.iter().rev().cloned());
        assert_eq!(normalize_terms(&repeated).unwrap(), large);
    }

    #[test]
    fn extracted_terms_are_capped_and_cleaned() {
        let long = "x".repeat(MAX_TERM_CHARS + 1);
        let terms = ["Dog", "", &long, "a\u{7}b", "dog", "cat", "bird"];
        assert_eq!(normalize_extracted(terms, 10), ["dog", "cat", "bird"]);
        assert_eq!(normalize_extracted(terms, 2), ["dog", "cat"]);
        assert!(normalize_terms([long.as_str()]).is_err());
        let exact = "y".repeat(MAX_TERM_CHARS);
        assert_eq!(normalize_terms([exact.as_str()]).unwrap(), [exact]);
    }
}
