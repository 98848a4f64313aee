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
