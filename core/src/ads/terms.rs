//! Interned terms with their matching keys: the vocabulary shared by user profiles and ads.

use crate::interests::wordnet::WordNet;
use std::collections::HashMap;

/// A term's keys for loose matching.
#[derive(Clone, Debug, Default)]
pub(crate) struct TermKeys {
    /// The term with every word lemmatised ("tennis rackets" → "tennis racket").
    pub lemma: u32,
    /// The lemma of each word, for compound matches; one entry for a single word.
    pub words: Vec<u32>,
}

/// Strings ↔ dense ids, with reverse maps from lemma key and from word to full terms.
#[derive(Debug, Default)]
pub(crate) struct Vocab {
    ids: HashMap<Box<str>, u32>,
    terms: Vec<Box<str>>,
    keys: Vec<Option<TermKeys>>,
    /// Lemma key → full terms with that key.
    by_lemma: HashMap<u32, Vec<u32>>,
    /// Word lemma → multi-word terms containing it.
    by_word: HashMap<u32, Vec<u32>>,
}

/// Lemmatises each word of a term with WordNet (words it does not know stay as they are).
pub(crate) fn lemma_words(term: &str) -> Vec<String> {
    let wn = WordNet::embedded();
    term.split(' ')
        .map(|w| wn.lemma(w).unwrap_or_else(|| w.to_string()))
        .collect()
}

impl Vocab {
    /// The id of a term already interned.
    pub fn get(&self, term: &str) -> Option<u32> {
        self.ids.get(term).copied()
    }

    /// The term of an id.
    pub fn term(&self, id: u32) -> &str {
        &self.terms[id as usize]
    }

    /// How many ids exist.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    fn plain(&mut self, term: &str) -> u32 {
        if let Some(&id) = self.ids.get(term) {
            return id;
        }
        let id = self.terms.len() as u32;
        self.terms.push(term.into());
        self.keys.push(None);
        self.ids.insert(term.into(), id);
        id
    }

    /// Interns a term and computes its matching keys.
    pub fn intern(&mut self, term: &str) -> u32 {
        let id = self.plain(term);
        if self.keys[id as usize].is_none() {
            let words = lemma_words(term);
            let lemma = self.plain(&words.join(" "));
            let word_ids: Vec<u32> = words.iter().map(|w| self.plain(w)).collect();
            self.by_lemma.entry(lemma).or_default().push(id);
            if word_ids.len() > 1 {
                for &w in &word_ids {
                    let list = self.by_word.entry(w).or_default();
                    if list.last() != Some(&id) {
                        list.push(id);
                    }
                }
            }
            self.keys[id as usize] = Some(TermKeys {
                lemma,
                words: word_ids,
            });
        }
        id
    }

    /// The keys of an interned term (`None` for a key-only id).
    pub fn keys(&self, id: u32) -> Option<&TermKeys> {
        self.keys.get(id as usize).and_then(Option::as_ref)
    }

    /// Full terms sharing a lemma key.
    pub fn with_lemma(&self, lemma: u32) -> &[u32] {
        self.by_lemma.get(&lemma).map_or(&[], Vec::as_slice)
    }

    /// Multi-word terms containing a word (by lemma).
    pub fn with_word(&self, word: u32) -> &[u32] {
        self.by_word.get(&word).map_or(&[], Vec::as_slice)
    }

    /// Terms related to `id` other than itself: same lemma key, or a compound relation (one
    /// is a word of the other). Calls `f(term, kind)` for each.
    pub fn related(&self, id: u32, mut f: impl FnMut(u32, super::MatchKind)) {
        let Some(keys) = self.keys(id) else { return };
        for &t in self.with_lemma(keys.lemma) {
            if t != id {
                f(t, super::MatchKind::Lemma);
            }
        }
        if keys.words.len() > 1 {
            // "tennis racket" relates to the single words "tennis" and "racket".
            for &w in &keys.words {
                for &t in self.with_lemma(w) {
                    if t != id && self.keys(t).is_some_and(|k| k.words.len() == 1) {
                        f(t, super::MatchKind::Compound);
                    }
                }
            }
        } else {
            for &t in self.with_word(keys.lemma) {
                if t != id {
                    f(t, super::MatchKind::Compound);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ads::MatchKind;

    #[test]
    fn lemma_and_compound_relations() {
        let mut v = Vocab::default();
        let board = v.intern("surfboard");
        let boards = v.intern("surfboards");
        let tennis = v.intern("tennis");
        let racket = v.intern("tennis racket");
        let mut rel = Vec::new();
        v.related(boards, |t, k| rel.push((v.term(t).to_string(), k)));
        assert_eq!(rel, [("surfboard".to_string(), MatchKind::Lemma)]);
        let mut rel = Vec::new();
        v.related(tennis, |t, k| rel.push((t, k)));
        assert_eq!(rel, [(racket, MatchKind::Compound)]);
        let mut rel = Vec::new();
        v.related(racket, |t, k| rel.push((t, k)));
        assert_eq!(rel, [(tennis, MatchKind::Compound)]);
        assert_eq!(v.get("surfboard"), Some(board));
    }
}
