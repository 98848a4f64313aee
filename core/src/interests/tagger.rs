//! An averaged-perceptron part-of-speech tagger with NLTK's feature templates, normalisation,
//! tag dictionary and tie-breaking (the tagger TextBlob uses).
//!
//! Features are hashed (FNV-1a, 64-bit) as they are built, so tagging allocates almost
//! nothing; the model keeps the weights of each feature contiguous.

use super::fasthash::{FxHashMap, U64Map};
use crate::error::{Error, Result};
use std::borrow::Cow;
use std::path::Path;

const START: [&str; 2] = ["-START-", "-START2-"];
const END: [&str; 2] = ["-END-", "-END2-"];

/// The model embedded in the crate: textblob-aptagger 0.2.0's weights (MIT), converted by
/// `scripts/build_interest_data.py`.
static EMBEDDED: &[u8] = include_bytes!("../../data/aptagger-0.2.0.bin");

const K: u64 = 0x517c_c1b7_2722_0a95;

/// Tag names live for the whole process: models have a few dozen, shared by every model
/// loaded, so results can carry `&'static str` tags without copying.
fn intern(tag: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static TAGS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut tags = TAGS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(t) = tags.get(tag) {
        return t;
    }
    let leaked: &'static str = Box::leak(tag.to_string().into_boxed_str());
    tags.insert(leaked);
    leaked
}

/// Hash of a string: 8 bytes at a time (xor, multiply, xor-shift), then murmur3's finaliser.
/// `scripts/build_interest_data.py` computes the same function for the embedded model.
pub(crate) fn string_hash(bytes: &[u8]) -> u64 {
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    let mut step = |chunk: u64| {
        h = (h ^ chunk).wrapping_mul(K);
        h ^= h >> 29;
    };
    for c in &mut chunks {
        step(u64::from_le_bytes(c.try_into().unwrap_or_default()));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        step(u64::from_le_bytes(buf));
    }
    fmix(h)
}

fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

const K2: u64 = 0x9e37_79b9_7f4a_7c15;

/// NLTK's feature templates in its order, with how many arguments each takes. A feature
/// string is "name arg arg"; its key combines the template's number with its arguments'
/// [`string_hash`]es, so each context word is hashed once per sentence, not once per template.
const TEMPLATES: [(&str, usize); 14] = [
    ("bias", 0),
    ("i suffix", 1),
    ("i pref1", 1),
    ("i-1 tag", 1),
    ("i-2 tag", 1),
    ("i tag+i-2 tag", 2),
    ("i word", 1),
    ("i-1 tag+i word", 2),
    ("i-1 word", 1),
    ("i-1 suffix", 1),
    ("i-2 word", 1),
    ("i+1 word", 1),
    ("i+1 suffix", 1),
    ("i+2 word", 1),
];

/// The key of template `template` with these argument hashes.
fn feature_key(template: usize, parts: &[u64]) -> u64 {
    let mut h = (template as u64 + 1).wrapping_mul(K);
    for p in parts {
        h = (h ^ p).wrapping_mul(K2);
        h ^= h >> 29;
    }
    fmix(h ^ parts.len() as u64)
}

/// The key of a feature string, or `None` if no template produces it (it can never fire).
pub(crate) fn feature_key_of(feature: &str) -> Option<u64> {
    let mut best: Option<(usize, Vec<u64>)> = None;
    for (n, (name, arity)) in TEMPLATES.iter().enumerate() {
        if *arity == 0 && feature == *name {
            best = Some((n, Vec::new()));
        } else if *arity > 0 {
            if let Some(rest) = feature.strip_prefix(name).and_then(|r| r.strip_prefix(' ')) {
                let parts: Vec<&str> = rest.split(' ').collect();
                let longer = best
                    .as_ref()
                    .is_none_or(|(b, _)| name.len() > TEMPLATES[*b].0.len());
                if parts.len() == *arity && longer {
                    best = Some((n, parts.iter().map(|p| string_hash(p.as_bytes())).collect()));
                }
            }
        }
    }
    best.map(|(n, parts)| feature_key(n, &parts))
}

/// A trained averaged-perceptron tagger.
///
/// ```
/// use sociallens::interests::tagger::PerceptronTagger;
/// let tagger = PerceptronTagger::embedded();
/// let tags = tagger.tag(&["a", "dog", "sitting", "on", "a", "bench"]);
/// assert_eq!(tags, ["DT", "NN", "VBG", "IN", "DT", "NN"]);
/// ```
#[derive(Clone)]
pub struct PerceptronTagger {
    /// Tags, sorted, so that a higher index is the alphabetically larger tag.
    classes: Vec<&'static str>,
    /// [`string_hash`] of each class name, for the previous-tag features.
    class_hashes: Vec<u64>,
    tagdict: FxHashMap<String, u8>,
    /// feature key → range in `entries`.
    features: U64Map<(u32, u32)>,
    entries: Entries,
}

impl std::fmt::Debug for PerceptronTagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerceptronTagger")
            .field("classes", &self.classes.len())
            .field("tagdict", &self.tagdict.len())
            .field("features", &self.features.len())
            .finish()
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| Error::Model("tagger model is truncated".into()))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn str(&mut self, n: usize) -> Result<String> {
        String::from_utf8(self.take(n)?.to_vec())
            .map_err(|_| Error::Model("tagger model has invalid UTF-8".into()))
    }
    fn zigzag(&mut self) -> Result<i64> {
        let mut z: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            z |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err(Error::Model("tagger model has a bad varint".into()))
    }
}

impl PerceptronTagger {
    /// The embedded model (textblob-aptagger 0.2.0, MIT). Parsed once per call; keep it.
    pub fn embedded() -> Self {
        Self::from_bytes(EMBEDDED).expect("the embedded tagger model is valid")
    }

    /// Reads the compact binary format written by `scripts/build_interest_data.py`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { b: bytes, at: 0 };
        if r.take(4)? != b"SLPT" || r.u8()? != 3 {
            return Err(Error::Model(
                "not a sociallens tagger model (version 3)".into(),
            ));
        }
        let n = r.u8()? as usize;
        let mut classes = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.u8()? as usize;
            classes.push(intern(&r.str(len)?));
        }
        let n = r.u32()? as usize;
        let mut tagdict = FxHashMap::with_capacity_and_hasher(n, Default::default());
        for _ in 0..n {
            let len = r.u16()? as usize;
            let word = r.str(len)?;
            tagdict.insert(word, r.u8()?);
        }
        let n = r.u32()? as usize;
        let mut features = U64Map::with_capacity_and_hasher(n, Default::default());
        let mut entries = Entries::with_capacity(n * 4);
        for _ in 0..n {
            let h = r.u64()?;
            let k = r.u8()? as usize;
            let start = entries.len() as u32;
            for _ in 0..k {
                let class = r.u8()?;
                let milli = r.zigzag()?;
                // Division gives the same double Python parsed from the 3-decimal weight.
                entries.push((class, milli as f64 / 1000.0));
            }
            features.insert(h, (start, entries.len() as u32));
        }
        let tagger = Self {
            class_hashes: classes.iter().map(|c| string_hash(c.as_bytes())).collect(),
            classes,
            tagdict,
            features,
            entries,
        };
        tagger.check()?;
        Ok(tagger)
    }

    /// Loads NLTK's averaged-perceptron model exported as JSON: a folder with
    /// `weights.json` (feature → {tag: weight}), `tagdict.json` (word → tag) and
    /// `classes.json` (the tags). With NLTK's own model, [`NounExtractor::textblob`]
    /// reproduces TextBlob exactly.
    ///
    /// [`NounExtractor::textblob`]: crate::interests::NounExtractor::textblob
    pub fn from_nltk_json(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let read = |name: &str| -> Result<serde_json::Value> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::Model(format!("cannot read tagger file {}: {e}", path.display()))
            })?;
            serde_json::from_str(&text)
                .map_err(|e| Error::Model(format!("{} is not valid JSON: {e}", path.display())))
        };
        let bad = |what: &str| Error::Model(format!("tagger JSON: {what}"));
        let mut classes: Vec<String> = read("classes.json")?
            .as_array()
            .ok_or_else(|| bad("classes.json is not a list"))?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| bad("a class is not a string"))
            })
            .collect::<Result<_>>()?;
        classes.sort();
        classes.dedup();
        let classes: Vec<&'static str> = classes.iter().map(|c| intern(c)).collect();
        let index = |tag: &str| -> Result<u8> {
            classes
                .binary_search_by(|c| (*c).cmp(tag))
                .map(|i| i as u8)
                .map_err(|_| bad(&format!("unknown tag {tag}")))
        };
        let mut tagdict = FxHashMap::default();
        for (word, tag) in read("tagdict.json")?
            .as_object()
            .ok_or_else(|| bad("tagdict.json is not an object"))?
        {
            let tag = tag
                .as_str()
                .ok_or_else(|| bad("a tagdict tag is not a string"))?;
            tagdict.insert(word.clone(), index(tag)?);
        }
        let mut features = U64Map::default();
        let mut entries = Entries::with_capacity(0);
        for (feat, per_class) in read("weights.json")?
            .as_object()
            .ok_or_else(|| bad("weights.json is not an object"))?
        {
            let Some(key) = feature_key_of(feat) else {
                continue;
            };
            let start = entries.len() as u32;
            for (tag, w) in per_class
                .as_object()
                .ok_or_else(|| bad("a feature's weights are not an object"))?
            {
                let w = w.as_f64().ok_or_else(|| bad("a weight is not a number"))?;
                entries.push((index(tag)?, w));
            }
            features.insert(key, (start, entries.len() as u32));
        }
        let tagger = Self {
            class_hashes: classes.iter().map(|c| string_hash(c.as_bytes())).collect(),
            classes,
            tagdict,
            features,
            entries,
        };
        tagger.check()?;
        Ok(tagger)
    }

    fn check(&self) -> Result<()> {
        if self.classes.is_empty() || self.classes.len() > 255 {
            return Err(Error::Model(
                "tagger model has no (or too many) classes".into(),
            ));
        }
        let n = self.classes.len() as u8;
        if self.entries.class.iter().any(|c| *c >= n) || self.tagdict.values().any(|c| *c >= n) {
            return Err(Error::Model(
                "tagger model refers to an unknown class".into(),
            ));
        }
        Ok(())
    }

    /// The tag names, sorted.
    pub fn classes(&self) -> &[&'static str] {
        &self.classes
    }

    /// Tags one sentence's tokens (punctuation included: it is context).
    pub fn tag<S: AsRef<str>>(&self, tokens: &[S]) -> Vec<&'static str> {
        self.tag_ids(tokens)
            .into_iter()
            .map(|c| self.classes[c as usize])
            .collect()
    }

    /// Like [`tag`](Self::tag), returning class indexes.
    pub(crate) fn tag_ids<S: AsRef<str>>(&self, tokens: &[S]) -> Vec<u8> {
        let n = tokens.len() + 4;
        let mut word_h = Vec::with_capacity(n);
        let mut suffix_h = Vec::with_capacity(n);
        let mut push = |w: &str| {
            word_h.push(string_hash(w.as_bytes()));
            suffix_h.push(string_hash(suffix3(w).as_bytes()));
        };
        START.iter().for_each(|s| push(s));
        tokens.iter().for_each(|t| push(&normalize(t.as_ref())));
        END.iter().for_each(|s| push(s));
        let mut out = Vec::with_capacity(tokens.len());
        let start_h = [
            string_hash(START[0].as_bytes()),
            string_hash(START[1].as_bytes()),
        ];
        let (mut prev, mut prev2) = (start_h[0], start_h[1]);
        let mut scores = vec![0f64; self.classes.len()];
        for (i, word) in tokens.iter().enumerate() {
            let word = word.as_ref();
            let class = match self.tagdict.get(word) {
                Some(&c) => c,
                None => {
                    let c = Context {
                        i: i + 2,
                        word: &word_h,
                        suffix: &suffix_h,
                    };
                    self.predict(word, &c, (prev, prev2), &mut scores)
                }
            };
            out.push(class);
            prev2 = prev;
            prev = self.class_hashes[class as usize];
        }
        out
    }

    fn predict(
        &self,
        word: &str,
        c: &Context<'_>,
        (prev, prev2): (u64, u64),
        scores: &mut [f64],
    ) -> u8 {
        scores.iter_mut().for_each(|s| *s = 0.0);
        let i = c.i;
        let h = |s: &str| string_hash(s.as_bytes());
        // The order matters: scores accumulate in floating point in this order.
        let keys = [
            feature_key(0, &[]),
            feature_key(1, &[h(suffix3(word))]),
            feature_key(2, &[h(first_char(word))]),
            feature_key(3, &[prev]),
            feature_key(4, &[prev2]),
            feature_key(5, &[prev, prev2]),
            feature_key(6, &[c.word[i]]),
            feature_key(7, &[prev, c.word[i]]),
            feature_key(8, &[c.word[i - 1]]),
            feature_key(9, &[c.suffix[i - 1]]),
            feature_key(10, &[c.word[i - 2]]),
            feature_key(11, &[c.word[i + 1]]),
            feature_key(12, &[c.suffix[i + 1]]),
            feature_key(13, &[c.word[i + 2]]),
        ];
        for k in keys {
            if let Some(&(s, e)) = self.features.get(&k) {
                let (s, e) = (s as usize, e as usize);
                for (&class, &w) in self.entries.class[s..e]
                    .iter()
                    .zip(&self.entries.weight[s..e])
                {
                    scores[class as usize] += w;
                }
            }
        }
        // max over (score, label): ties go to the alphabetically larger tag.
        let mut best = 0usize;
        for (c, &s) in scores.iter().enumerate() {
            if s >= scores[best] {
                best = c;
            }
        }
        best as u8
    }
}

/// Weights of all features, class and weight in separate arrays (9 bytes an entry instead
/// of a padded 16: the scoring loop reads them from memory for every token).
#[derive(Clone)]
struct Entries {
    class: Vec<u8>,
    weight: Vec<f64>,
}

impl Entries {
    fn with_capacity(n: usize) -> Self {
        Self {
            class: Vec::with_capacity(n),
            weight: Vec::with_capacity(n),
        }
    }
    fn len(&self) -> usize {
        self.class.len()
    }
    fn push(&mut self, (class, weight): (u8, f64)) {
        self.class.push(class);
        self.weight.push(weight);
    }
}

/// String hashes of one sentence's normalised context words and of their suffixes.
struct Context<'a> {
    i: usize,
    word: &'a [u64],
    suffix: &'a [u64],
}

/// The last three characters (Python's `word[-3:]`).
fn suffix3(s: &str) -> &str {
    match s.char_indices().rev().nth(2) {
        Some((i, _)) => &s[i..],
        None => s,
    }
}

fn first_char(s: &str) -> &str {
    s.chars().next().map(|c| &s[..c.len_utf8()]).unwrap_or("")
}

/// NLTK's normalisation of context words (borrowed when already normal).
fn normalize(word: &str) -> Cow<'_, str> {
    let mut chars = word.chars();
    let first = chars.next();
    if word.contains('-') && first != Some('-') {
        Cow::Borrowed("!HYPHEN")
    } else if !word.is_empty() && word.chars().all(|c| c.is_numeric()) && word.chars().count() == 4
    {
        Cow::Borrowed("!YEAR")
    } else if first.is_some_and(|c| c.is_numeric()) {
        Cow::Borrowed("!DIGITS")
    } else if word.bytes().all(|b| b.is_ascii_lowercase()) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(word.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_match_python() {
        assert_eq!(suffix3("surfboard"), "ard");
        assert_eq!(suffix3("ok"), "ok");
        assert_eq!(suffix3("café"), "afé");
        assert_eq!(normalize("t-shirt"), "!HYPHEN");
        assert_eq!(normalize("-x"), "-x");
        assert_eq!(normalize("1999"), "!YEAR");
        assert_eq!(normalize("3rd"), "!DIGITS");
        assert_eq!(normalize("Dog"), "dog");
        assert_eq!(first_char("é1"), "é");
    }

    #[test]
    fn bad_models_are_typed_errors() {
        assert!(PerceptronTagger::from_bytes(b"").is_err());
        assert!(PerceptronTagger::from_bytes(b"SLPT\x02\x05").is_err());
        assert!(PerceptronTagger::from_bytes(b"SLPT\x01\x05").is_err());
        let mut truncated = EMBEDDED.to_vec();
        truncated.truncate(EMBEDDED.len() / 2);
        assert!(PerceptronTagger::from_bytes(&truncated).is_err());
        assert!(PerceptronTagger::from_nltk_json("/nonexistent").is_err());
    }

    #[test]
    fn empty_input() {
        assert!(PerceptronTagger::embedded().tag::<&str>(&[]).is_empty());
    }
}
