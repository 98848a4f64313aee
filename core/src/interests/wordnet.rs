//! The slice of WordNet 3.0 the extractor uses: noun lemmas (with compounds of up to three
//! words), which nouns are also verbs/adjectives/adverbs, words that are never nouns, and
//! irregular plurals. Embedded from `core/data/wordnet-3.0-nouns.txt` (see its NOTICE).

use super::fasthash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::OnceLock;

static EMBEDDED: &str = include_str!("../../data/wordnet-3.0-nouns.txt");

/// Noun knowledge from WordNet.
///
/// ```
/// use sociallens::interests::wordnet::WordNet;
/// let wn = WordNet::embedded();
/// assert_eq!(wn.lemma("giraffes").as_deref(), Some("giraffe"));
/// assert_eq!(wn.lemma("knives").as_deref(), Some("knife"));
/// assert_eq!(wn.lemma("glasses").as_deref(), Some("glasses"));
/// assert!(wn.is_noun("hot dog"));
/// ```
#[derive(Debug)]
pub struct WordNet {
    nouns: HashSet<&'static str>,
    also_other: HashSet<&'static str>,
    never_noun: HashSet<&'static str>,
    verbs: HashSet<&'static str>,
    adjectives: HashSet<&'static str>,
    exceptions: HashMap<&'static str, Vec<&'static str>>,
}

/// WordNet's suffix rules for nouns, in its order.
const NOUN_RULES: [(&str, &str); 9] = [
    ("s", ""),
    ("ses", "s"),
    ("ves", "f"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
];

impl WordNet {
    /// The embedded data, parsed once per process.
    pub fn embedded() -> &'static WordNet {
        static WN: OnceLock<WordNet> = OnceLock::new();
        WN.get_or_init(|| WordNet::parse(EMBEDDED))
    }

    fn parse(text: &'static str) -> Self {
        let mut wn = WordNet {
            nouns: HashSet::with_capacity_and_hasher(120_000, Default::default()),
            also_other: HashSet::default(),
            never_noun: HashSet::default(),
            verbs: HashSet::with_capacity_and_hasher(9_000, Default::default()),
            adjectives: HashSet::with_capacity_and_hasher(21_000, Default::default()),
            exceptions: HashMap::default(),
        };
        let mut section = "";
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('#') {
                section = name;
                continue;
            }
            match section {
                "nouns" => {
                    wn.nouns.insert(line);
                }
                "also-other-pos" => {
                    wn.also_other.insert(line);
                }
                "never-noun" => {
                    wn.never_noun.insert(line);
                }
                "verbs" => {
                    wn.verbs.insert(line);
                }
                "adjectives" => {
                    wn.adjectives.insert(line);
                }
                "noun-exceptions" => {
                    if let Some((inflected, base)) = line.split_once('\t') {
                        wn.exceptions.entry(inflected).or_default().push(base);
                    }
                }
                _ => {}
            }
        }
        wn
    }

    /// Whether WordNet has this (lowercase) word or compound as a noun.
    pub fn is_noun(&self, word: &str) -> bool {
        self.nouns.contains(word)
    }

    /// Whether WordNet has the word as a noun and as nothing else.
    pub fn only_noun(&self, word: &str) -> bool {
        self.nouns.contains(word) && !self.also_other.contains(word)
    }

    /// Whether WordNet has the word, but never as a noun.
    pub fn never_noun(&self, word: &str) -> bool {
        self.never_noun.contains(word)
    }

    /// Whether WordNet has the (lowercase, one-word) word as an adjective.
    pub fn is_adjective(&self, word: &str) -> bool {
        self.adjectives.contains(word)
    }

    /// Whether the word is an `-ing` or `-ed` form of a verb WordNet knows
    /// ("riding" → ride, "running" → run, "parked" → park, "lying" → lie).
    pub fn is_verb_form(&self, word: &str) -> bool {
        let stem = if let Some(s) = word.strip_suffix("ing") {
            s
        } else if let Some(s) = word.strip_suffix("ed") {
            s
        } else {
            return false;
        };
        if stem.len() < 2 {
            return false;
        }
        if self.verbs.contains(stem) {
            return true;
        }
        let b = stem.as_bytes();
        if b.len() >= 2
            && b[b.len() - 1] == b[b.len() - 2]
            && self.verbs.contains(&stem[..stem.len() - 1])
        {
            return true;
        }
        let with = |base: &str, end: &str| self.verbs.contains(format!("{base}{end}").as_str());
        with(stem, "e")
            || stem.strip_suffix('y').is_some_and(|s| with(s, "ie"))
            || stem.strip_suffix('i').is_some_and(|s| with(s, "y"))
    }

    /// The singular of a word tagged as a plural noun: WordNet's irregular plurals, then its
    /// suffix rules (boxes → box, cows → cow), then the word itself if WordNet has it.
    /// Words in `keep` (plural-only nouns such as glasses or scissors) stay as they are.
    pub fn singular(&self, word: &str, keep: &dyn Fn(&str) -> bool) -> Option<String> {
        if keep(word) {
            return Some(word.to_string());
        }
        if let Some(bases) = self.exceptions.get(word) {
            if let Some(b) = bases.iter().find(|b| self.nouns.contains(*b)) {
                return Some(b.to_string());
            }
        }
        NOUN_RULES
            .iter()
            .filter_map(|(old, new)| word.strip_suffix(old).map(|stem| format!("{stem}{new}")))
            .find(|f| self.nouns.contains(f.as_str()))
            .or_else(|| self.nouns.contains(word).then(|| word.to_string()))
    }

    /// WordNet's `morphy` for nouns: the base form of a (lowercase) noun, or `None` if
    /// WordNet does not know it. A form that is itself a noun comes first, so plural-only
    /// words (glasses, scissors, jeans) stay as they are.
    pub fn lemma(&self, word: &str) -> Option<String> {
        if let Some(bases) = self.exceptions.get(word) {
            return std::iter::once(word)
                .chain(bases.iter().copied())
                .find(|f| self.nouns.contains(f))
                .map(String::from);
        }
        if self.nouns.contains(word) {
            return Some(word.to_string());
        }
        NOUN_RULES
            .iter()
            .filter_map(|(old, new)| word.strip_suffix(old).map(|stem| format!("{stem}{new}")))
            .find(|f| self.nouns.contains(f.as_str()))
    }
}
