//! Ranking catalog items against a user's interests, and grounding LLM ideas in the catalog.

use super::catalog::CatalogItem;
use super::embed::cosine;
use super::ideas::ProductIdea;
use crate::domain::Interest;
use serde::{Deserialize, Serialize};

/// Where a recommendation came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Catalog retrieval against the user's interests.
    Catalog,
    /// An LLM's idea, grounded to a catalog item (or not, see `in_catalog`).
    Llm,
}

impl Source {
    /// The lowercase name used in the bindings ("catalog", "llm").
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Catalog => "catalog",
            Source::Llm => "llm",
        }
    }
}

/// One recommended product, with why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// The catalog item, or `None` for an LLM idea no catalog item is close to.
    pub item: Option<CatalogItem>,
    /// The item's title, or the idea's name.
    pub name: String,
    /// How well it fits, in 0..=1.
    pub score: f64,
    /// The user's interests it answers.
    pub matched_interests: Vec<String>,
    /// The LLM's reason, for LLM ideas.
    pub reason: Option<String>,
    /// Where it came from.
    pub source: Source,
    /// Whether it is a product of the catalog.
    pub in_catalog: bool,
}

/// Semantic similarities, when an embedder is configured.
pub(crate) struct Semantic<'a> {
    /// One unit vector per catalog item, in order.
    pub items: &'a [std::sync::Arc<Vec<f32>>],
    /// One unit vector per interest, in order.
    pub interests: &'a [std::sync::Arc<Vec<f32>>],
}

/// Below this cosine an interest and an item are unrelated; from `SEMANTIC_FULL` up they
/// match fully. Calibrated on all-MiniLM-L6-v2, where a one-word interest and a product
/// title it fits score 0.4–0.75 and unrelated pairs below 0.25.
const SEMANTIC_FLOOR: f32 = 0.2;
const SEMANTIC_FULL: f32 = 0.6;
/// A match at least this strong counts the interest as matched.
const MATCHED: f64 = 0.5;
/// Each item already picked from a category scales the next one's score by this.
const SAME_CATEGORY: f64 = 0.8;

fn contains_phrase(hay: &str, phrase: &str) -> bool {
    hay.match_indices(phrase).any(|(i, _)| {
        let before = hay[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after = hay[i + phrase.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric() || c == 's');
        before && after
    })
}

/// How strongly one interest matches one item by words: its category or a keyword (1.0),
/// its title (0.9), its description (0.6).
pub(crate) fn keyword_match(term: &str, item: &CatalogItem, title: &str, description: &str) -> f64 {
    if item.keywords.iter().any(|k| k == term)
        || item
            .category
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(term))
    {
        1.0
    } else if contains_phrase(title, term) {
        0.9
    } else if contains_phrase(description, term) {
        0.6
    } else {
        0.0
    }
}

/// Ranks items for interests (weights already decayed), best first, diversified across
/// categories; items matching nothing are left out.
pub(crate) fn rank(
    interests: &[Interest],
    items: &[CatalogItem],
    semantic: Option<&Semantic<'_>>,
    k: usize,
) -> Vec<Recommendation> {
    let total: f64 = interests.iter().map(|i| i.weight.max(0.0)).sum();
    if total <= 0.0 || k == 0 {
        return Vec::new();
    }
    let mut scored: Vec<(f64, Vec<String>, usize)> = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let title = item.title.to_lowercase();
        let description = item.description.to_lowercase();
        let mut score = 0.0;
        let mut matched = Vec::new();
        for (j, interest) in interests.iter().enumerate() {
            let mut m = keyword_match(&interest.term, item, &title, &description);
            if let Some(sem) = semantic {
                let cos = cosine(&sem.items[n], &sem.interests[j]);
                let s = ((cos - SEMANTIC_FLOOR) / (SEMANTIC_FULL - SEMANTIC_FLOOR)).clamp(0.0, 1.0)
                    as f64;
                m = m.max(s);
            }
            score += interest.weight.max(0.0) * m;
            if m >= MATCHED {
                matched.push(interest.term.clone());
            }
        }
        if score > 0.0 && !matched.is_empty() {
            scored.push((score / total, matched, n));
        }
    }
    // Greedy diversification: the best item, then the best after discounting categories
    // already shown.
    let mut picked: Vec<Recommendation> = Vec::new();
    let mut per_category: std::collections::HashMap<String, i32> = Default::default();
    while picked.len() < k && !scored.is_empty() {
        let adjusted = |(s, _, n): &(f64, Vec<String>, usize)| {
            let cat = items[*n].category.clone().unwrap_or_default();
            s * SAME_CATEGORY.powi(*per_category.get(&cat).unwrap_or(&0))
        };
        let best = (0..scored.len())
            .max_by(|&a, &b| {
                adjusted(&scored[a])
                    .total_cmp(&adjusted(&scored[b]))
                    .then_with(|| items[scored[b].2].id.cmp(&items[scored[a].2].id))
            })
            .unwrap_or(0);
        let (score, matched, n) = scored.swap_remove(best);
        *per_category
            .entry(items[n].category.clone().unwrap_or_default())
            .or_default() += 1;
        picked.push(Recommendation {
            item: Some(items[n].clone()),
            name: items[n].title.clone(),
            score,
            matched_interests: matched,
            reason: None,
            source: Source::Catalog,
            in_catalog: true,
        });
    }
    picked
}

/// Word overlap between an idea and an item (Jaccard over lowercase words, plurals folded).
fn word_overlap(a: &str, b: &str) -> f64 {
    let words = |s: &str| -> std::collections::HashSet<String> {
        s.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
            .map(|w| w.trim_end_matches('s').to_string())
            .collect()
    };
    let (x, y) = (words(a), words(b));
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    x.intersection(&y).count() as f64 / x.union(&y).count() as f64
}

/// Vectors of the ideas, and of the catalog items in order.
pub(crate) type IdeaVectors<'a> = (&'a [Vec<f32>], &'a [std::sync::Arc<Vec<f32>>]);

/// Grounds each LLM idea to the closest catalog item: by embedding similarity (at least
/// `min_cosine`) when vectors are given, else by word overlap (at least 0.5). An idea with no
/// close item stays an idea, `in_catalog: false`.
pub(crate) fn ground(
    ideas: &[ProductIdea],
    items: &[CatalogItem],
    idea_vectors: Option<IdeaVectors<'_>>,
    min_cosine: f32,
) -> Vec<Recommendation> {
    let mut out: Vec<Recommendation> = Vec::new();
    for (i, idea) in ideas.iter().enumerate() {
        let best = items
            .iter()
            .enumerate()
            .map(|(n, item)| {
                let sim = match idea_vectors {
                    Some((ideas_v, items_v)) => {
                        let c = cosine(&ideas_v[i], &items_v[n]);
                        if c >= min_cosine {
                            c as f64
                        } else {
                            0.0
                        }
                    }
                    None => {
                        let o = word_overlap(
                            &idea.name,
                            &format!("{} {}", item.title, item.keywords.join(" ")),
                        );
                        if o >= 0.5 {
                            o
                        } else {
                            0.0
                        }
                    }
                };
                (sim, n)
            })
            .filter(|(s, _)| *s > 0.0)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let rec = match best {
            Some((sim, n)) => Recommendation {
                item: Some(items[n].clone()),
                name: items[n].title.clone(),
                score: sim,
                matched_interests: idea.matched_interests.clone(),
                reason: idea.reason.clone(),
                source: Source::Llm,
                in_catalog: true,
            },
            None => Recommendation {
                item: None,
                name: idea.name.clone(),
                score: 0.0,
                matched_interests: idea.matched_interests.clone(),
                reason: idea.reason.clone(),
                source: Source::Llm,
                in_catalog: false,
            },
        };
        let duplicate = rec.item.as_ref().is_some_and(|it| {
            out.iter()
                .any(|r| r.item.as_ref().is_some_and(|o| o.id == it.id))
        });
        if !duplicate {
            out.push(rec);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn interest(term: &str, weight: f64) -> Interest {
        Interest {
            term: term.into(),
            weight,
            count: 1,
            last_seen: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn keyword_ranking_and_diversity() {
        let items = vec![
            CatalogItem::new("a", "Surfboard wax")
                .category("surf")
                .keywords(["surfboard"]),
            CatalogItem::new("b", "Surfboard leash")
                .category("surf")
                .keywords(["surfboard"]),
            CatalogItem::new("c", "Dog bed").category("pets"),
            CatalogItem::new("d", "Kitchen knife").category("kitchen"),
        ];
        let interests = [interest("surfboard", 3.0), interest("dog", 2.0)];
        let recs = rank(&interests, &items, None, 3);
        let ids: Vec<_> = recs
            .iter()
            .map(|r| r.item.as_ref().unwrap().id.as_str())
            .collect();
        // Two surf items score 0.6 each, the dog bed 0.36; the second surf item is discounted
        // to 0.48, still above it.
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(recs[2].matched_interests, ["dog"]);
        assert!(recs.iter().all(|r| r.score > 0.0 && r.score <= 1.0));
        assert!(rank(&[], &items, None, 3).is_empty());
    }

    #[test]
    fn whole_words_only() {
        assert!(contains_phrase("hot dog bun", "dog"));
        assert!(contains_phrase("dogs toys", "dog"));
        assert!(!contains_phrase("hotdog", "dog"));
        assert!(!contains_phrase("dogma", "dog"));
    }

    #[test]
    fn grounding_by_words() {
        let items = vec![CatalogItem::new("a", "Surfboard wax").keywords(["surf"])];
        let ideas = vec![
            ProductIdea {
                name: "Surfboard Wax".into(),
                category: None,
                reason: Some("r".into()),
                matched_interests: vec!["surfboard".into()],
            },
            ProductIdea {
                name: "Yacht".into(),
                category: None,
                reason: None,
                matched_interests: vec![],
            },
        ];
        let recs = ground(&ideas, &items, None, 0.6);
        assert!(recs[0].in_catalog && recs[0].reason.as_deref() == Some("r"));
        assert!(!recs[1].in_catalog && recs[1].item.is_none());
    }
}
