//! The in-memory index behind similar users, ads for a user and audiences.
//!
//! Users are unit vectors over interned terms. A user's weights all decay by the same factor
//! over time, so the direction of the vector, and every cosine between users, only changes
//! when the user does something: vectors are computed once per change, never per query.
//!
//! Each term has a posting list of `(user, weight)`, kept sorted by weight (heaviest first)
//! plus an unsorted tail of recent changes. Candidate generation walks the heads of the lists
//! of the query's terms, in proportion to each term's share of the query, and the best
//! candidates are rescored exactly. A changed user gets a new version; older postings are
//! skipped and dropped when their list is next compacted.

use super::terms::Vocab;
use super::{Ad, AdMatch, AdsConfig, MatchKind, MatchedInterest};
use crate::ids::UserId;
use crate::profile::{Decay, InterestRecord};
use crate::time::Timestamp;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A user's profile as a unit vector, terms ascending.
#[derive(Clone, Debug, Default)]
pub(crate) struct UserVec {
    pub terms: Vec<u32>,
    pub weights: Vec<f32>,
}

impl UserVec {
    fn dot(&self, other: &UserVec) -> f32 {
        let (mut i, mut j, mut s) = (0, 0, 0f32);
        while i < self.terms.len() && j < other.terms.len() {
            match self.terms[i].cmp(&other.terms[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    s += self.weights[i] * other.weights[j];
                    i += 1;
                    j += 1;
                }
            }
        }
        s
    }

    fn weight(&self, term: u32) -> Option<f32> {
        self.terms
            .binary_search(&term)
            .ok()
            .map(|i| self.weights[i])
    }

    /// Terms strongest first.
    fn by_weight(&self) -> Vec<(u32, f32)> {
        let mut v: Vec<(u32, f32)> = self
            .terms
            .iter()
            .copied()
            .zip(self.weights.iter().copied())
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

#[derive(Clone, Copy, Debug)]
struct Posting {
    user: u32,
    version: u32,
    weight: f32,
}

#[derive(Debug, Default)]
struct Postings {
    /// Heaviest first.
    sorted: Vec<Posting>,
    /// Added since the last compaction, in arrival order.
    tail: Vec<Posting>,
    /// Postings (in either part) superseded by a newer version of their user.
    stale: usize,
}

impl Postings {
    fn len(&self) -> usize {
        self.sorted.len() + self.tail.len()
    }

    fn needs_compaction(&self) -> bool {
        self.tail.len() > 256.max(self.sorted.len() / 8) || self.stale * 4 > self.len()
    }

    fn compact(&mut self, versions: &[u32]) {
        let mut all: Vec<Posting> = self
            .sorted
            .drain(..)
            .chain(self.tail.drain(..))
            .filter(|p| versions[p.user as usize] == p.version)
            .collect();
        all.sort_unstable_by(|a, b| b.weight.total_cmp(&a.weight).then(a.user.cmp(&b.user)));
        self.sorted = all;
        self.stale = 0;
    }
}

#[derive(Debug)]
struct UserSlot {
    id: UserId,
    vec: UserVec,
    /// The profile's norm when the vector was made, and when: for showing real weights.
    norm: f64,
    at: Timestamp,
    /// Ads the user clicked (ad slot, when, [`click_key`] of the event id), oldest first.
    clicks: Vec<(u32, Timestamp, u32)>,
}

#[derive(Debug)]
struct AdSlot {
    ad: Arc<Ad>,
    terms: Vec<u32>,
    /// The id's first 8 bytes, big-endian, zero-padded: orders like the id unless equal.
    id_key: u64,
}

/// The first 8 bytes of an id as a number that sorts like the id (see [`AdSlot::id_key`]).
fn id_key(id: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = id.len().min(8);
    b[..n].copy_from_slice(&id.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

/// Per-thread scratch space for accumulating scores over all users without allocating.
#[derive(Default)]
struct Scratch {
    acc: Vec<f32>,
    touched: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Everything ads and similar users read, built from the store and kept current.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub vocab: Vocab,
    users: Vec<UserSlot>,
    /// Each user slot's version, bumped when its vector changes. Dense, apart from the
    /// slots: the candidate walk checks one per posting, and a slot is too large to keep in
    /// cache at a million users.
    versions: Vec<u32>,
    user_ids: HashMap<UserId, u32>,
    /// Slots of forgotten users, for reuse: a forgotten user's id leaves memory at once.
    free_slots: Vec<u32>,
    postings: Vec<Postings>,
    ads: Vec<AdSlot>,
    /// Per ad slot, the square root of its number of targeting terms (at least 1): dense,
    /// for scoring every candidate ad.
    ad_sqrt_terms: Vec<f32>,
    ad_ids: HashMap<String, u32>,
    ads_by_term: HashMap<u32, Vec<u32>>,
    /// Embedder similarity from a term to ad targeting terms at or above the threshold.
    semantic: HashMap<u32, Vec<(u32, f32)>>,
    /// Changes whenever `semantic` is cleared or the index is replaced by a rebuild (whose
    /// term ids differ): neighbours computed from an older epoch are not stored.
    semantic_epoch: u64,
}

/// A click's identity in [`UserSlot::clicks`]: a hash of its event id (FNV-1a, folded to 32
/// bits), so that replaying a click the index already holds adds nothing.
fn click_key(event_id: &str) -> u32 {
    let h = event_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (h ^ (h >> 32)) as u32
}

/// What an index holds, by name (not by slot or term id), for comparing two indexes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexSnapshot {
    /// Users with interests: term -> weight in the user's unit vector.
    pub users: BTreeMap<String, BTreeMap<String, f64>>,
    /// Ad id -> user id -> how many clicks of that user on that ad the index holds.
    pub clicks: BTreeMap<String, BTreeMap<String, usize>>,
    /// Every ad, by id, as the index serves it.
    pub ads: BTreeMap<String, Ad>,
    /// Semantic neighbours computed so far: term -> (ad targeting term, similarity).
    pub semantic: BTreeMap<String, Vec<(String, f32)>>,
}

/// Makes a user's unit vector from their stored interest rows, decayed to `now`.
pub(crate) fn user_vector(
    vocab: &mut Vocab,
    records: &[InterestRecord],
    now: Timestamp,
    decay: Decay,
) -> (UserVec, f64) {
    vector_from(records, now, decay, |t| Some(vocab.intern(t))).unwrap_or_default()
}

/// [`user_vector`] for a vocabulary that already holds every term of the rows (with its
/// matching keys), under a read lock; `None` when one is missing and must be interned.
pub(crate) fn user_vector_interned(
    vocab: &Vocab,
    records: &[InterestRecord],
    now: Timestamp,
    decay: Decay,
) -> Option<(UserVec, f64)> {
    vector_from(records, now, decay, |t| {
        vocab.get(t).filter(|&id| vocab.keys(id).is_some())
    })
}

fn vector_from(
    records: &[InterestRecord],
    now: Timestamp,
    decay: Decay,
    mut id: impl FnMut(&str) -> Option<u32>,
) -> Option<(UserVec, f64)> {
    let mut pairs: Vec<(u32, f64)> = Vec::with_capacity(records.len());
    for r in records {
        let w = r.weight_at(now, decay);
        if w.is_finite() && w > 0.0 {
            pairs.push((id(r.term.as_str())?, w));
        }
    }
    pairs.sort_unstable_by_key(|p| p.0);
    pairs.dedup_by_key(|p| p.0);
    let norm = pairs.iter().map(|p| p.1 * p.1).sum::<f64>().sqrt();
    if norm <= 0.0 || !norm.is_finite() {
        return Some((UserVec::default(), 0.0));
    }
    Some((
        UserVec {
            terms: pairs.iter().map(|p| p.0).collect(),
            weights: pairs.iter().map(|p| (p.1 / norm) as f32).collect(),
        },
        norm,
    ))
}

/// A user's profile as a unit vector keyed by term, decayed to `now`, in the index's
/// arithmetic (f32 weights): what stateless audiences score against.
pub(crate) fn named_vector(
    records: &[InterestRecord],
    now: Timestamp,
    decay: Decay,
) -> HashMap<String, f32> {
    let mut w: HashMap<&str, f64> = HashMap::with_capacity(records.len());
    for r in records {
        let x = r.weight_at(now, decay);
        if x.is_finite() && x > 0.0 {
            w.entry(r.term.as_str()).or_insert(x);
        }
    }
    let norm = w.values().map(|x| x * x).sum::<f64>().sqrt();
    if norm <= 0.0 || !norm.is_finite() {
        return HashMap::new();
    }
    w.into_iter()
        .map(|(t, x)| (t.to_string(), (x / norm) as f32))
        .collect()
}

/// Who clicked what among a user's similar users: (similarity, ad slots clicked, any
/// order, repeats allowed), the input of [`Index::ads_for_vector`]'s lookalike signal.
pub(crate) type Lookalike = [(f32, Vec<u32>)];

/// A scored user (slot, score).
pub(crate) type Scored = (u32, f32);

impl Index {
    pub fn user_count(&self) -> usize {
        self.users
            .iter()
            .filter(|u| !u.vec.terms.is_empty())
            .count()
    }

    pub fn ad_count(&self) -> usize {
        self.ads.len()
    }

    /// Users ever indexed (with or without interests now).
    pub fn slots(&self) -> usize {
        self.users.len()
    }

    pub fn user_slot(&self, user: &UserId) -> Option<u32> {
        self.user_ids.get(user).copied()
    }

    pub fn user_id(&self, slot: u32) -> &UserId {
        &self.users[slot as usize].id
    }

    fn slot_for(&mut self, user: &UserId) -> u32 {
        if let Some(&s) = self.user_ids.get(user) {
            return s;
        }
        if let Some(s) = self.free_slots.pop() {
            // Its postings are stale: its version was bumped when it was emptied.
            self.users[s as usize].id = user.clone();
            self.user_ids.insert(user.clone(), s);
            return s;
        }
        let s = self.users.len() as u32;
        self.users.push(UserSlot {
            id: user.clone(),
            vec: UserVec::default(),
            norm: 0.0,
            at: Timestamp::from_millis(0),
            clicks: Vec::new(),
        });
        self.versions.push(0);
        self.user_ids.insert(user.clone(), s);
        s
    }

    /// Replaces a user's vector (an empty one removes the user from similarity).
    pub fn set_user(&mut self, user: &UserId, vec: UserVec, norm: f64, at: Timestamp) {
        self.put_user(user, vec, norm, at, true);
    }

    /// [`set_user`](Self::set_user) without compaction, for bulk loads that end with
    /// [`compact_all`](Self::compact_all).
    pub fn set_user_bulk(&mut self, user: &UserId, vec: UserVec, norm: f64, at: Timestamp) {
        self.put_user(user, vec, norm, at, false);
    }

    fn put_user(&mut self, user: &UserId, vec: UserVec, norm: f64, at: Timestamp, compact: bool) {
        let slot = self.slot_for(user);
        let old_terms = std::mem::take(&mut self.users[slot as usize].vec.terms);
        for &t in &old_terms {
            self.postings[t as usize].stale += 1;
        }
        // The slot's version (kept apart, dense, for the posting walks) marks its older
        // postings stale.
        let version = self.versions[slot as usize].wrapping_add(1);
        self.versions[slot as usize] = version;
        if self.postings.len() < self.vocab.len() {
            self.postings
                .resize_with(self.vocab.len(), Postings::default);
        }
        for (&t, &w) in vec.terms.iter().zip(&vec.weights) {
            self.postings[t as usize].tail.push(Posting {
                user: slot,
                version,
                weight: w,
            });
        }
        let mut touched: Vec<u32> = vec.terms.clone();
        touched.extend(old_terms);
        let u = &mut self.users[slot as usize];
        u.vec = vec;
        u.norm = norm;
        u.at = at;
        for t in touched {
            if compact && self.postings[t as usize].needs_compaction() {
                self.postings[t as usize].compact(&self.versions);
            }
        }
    }

    /// Forgets a user entirely: vector, clicks and id. The slot is freed for another user.
    pub fn remove_user(&mut self, user: &UserId) {
        if self.user_ids.contains_key(user) {
            self.set_user(user, UserVec::default(), 0.0, Timestamp::from_millis(0));
            if let Some(slot) = self.user_ids.remove(user) {
                let u = &mut self.users[slot as usize];
                u.clicks = Vec::new();
                u.id = UserId::vacant();
                self.free_slots.push(slot);
            }
        }
    }

    /// Compacts every posting list (after a bulk load).
    pub fn compact_all(&mut self) {
        if self.postings.len() < self.vocab.len() {
            self.postings
                .resize_with(self.vocab.len(), Postings::default);
        }
        for p in &mut self.postings {
            p.compact(&self.versions);
        }
    }

    /// Adds or replaces an ad.
    pub fn put_ad(&mut self, ad: Ad) {
        let terms: Vec<u32> = ad.interests.iter().map(|t| self.vocab.intern(t)).collect();
        if self.postings.len() < self.vocab.len() {
            self.postings
                .resize_with(self.vocab.len(), Postings::default);
        }
        let slot = match self.ad_ids.get(&ad.id) {
            Some(&s) => {
                for t in std::mem::take(&mut self.ads[s as usize].terms) {
                    if let Some(list) = self.ads_by_term.get_mut(&t) {
                        list.retain(|&a| a != s);
                    }
                }
                s
            }
            None => {
                let s = self.ads.len() as u32;
                self.ad_ids.insert(ad.id.clone(), s);
                self.ads.push(AdSlot {
                    ad: Arc::new(ad.clone()),
                    terms: Vec::new(),
                    id_key: 0,
                });
                self.ad_sqrt_terms.push(1.0);
                s
            }
        };
        for &t in &terms {
            let list = self.ads_by_term.entry(t).or_default();
            if !list.contains(&slot) {
                list.push(slot);
            }
        }
        self.ad_sqrt_terms[slot as usize] = (terms.len().max(1) as f32).sqrt();
        self.ads[slot as usize] = AdSlot {
            id_key: id_key(&ad.id),
            ad: Arc::new(ad),
            terms,
        };
    }

    pub fn ad(&self, id: &str) -> Option<&Arc<Ad>> {
        self.ad_ids.get(id).map(|&s| &self.ads[s as usize].ad)
    }

    /// Ad targeting terms, for computing semantic neighbours.
    pub fn ad_terms(&self) -> Vec<u32> {
        let mut t: Vec<u32> = self.ads_by_term.keys().copied().collect();
        t.sort_unstable();
        t
    }

    /// Records a click of a user on an ad (ignored for unknown ads). Idempotent: a click
    /// with the same event id, ad and time is held once (rebuilds replay clicks that the
    /// new index may already have loaded).
    pub fn add_click(&mut self, user: &UserId, ad: &str, at: Timestamp, event_id: &str) {
        let Some(&a) = self.ad_ids.get(ad) else {
            return;
        };
        let key = click_key(event_id);
        let slot = self.slot_for(user);
        let clicks = &mut self.users[slot as usize].clicks;
        let pos = clicks.partition_point(|c| c.1 <= at);
        let mut same_time = clicks[..pos].iter().rev().take_while(|c| c.1 == at);
        if same_time.any(|c| c.0 == a && c.2 == key) {
            return;
        }
        clicks.insert(pos, (a, at, key));
    }

    /// Terms of a user still needing semantic neighbours.
    pub fn missing_semantic(&self, user: &UserId) -> Vec<u32> {
        let Some(&s) = self.user_ids.get(user) else {
            return Vec::new();
        };
        self.users[s as usize]
            .vec
            .terms
            .iter()
            .copied()
            .filter(|t| !self.semantic.contains_key(t))
            .collect()
    }

    pub fn set_semantic(&mut self, term: u32, neighbours: Vec<(u32, f32)>) {
        self.semantic.insert(term, neighbours);
    }

    /// Forgets computed semantic neighbours (when the ads' terms change).
    pub fn clear_semantic(&mut self) {
        self.semantic.clear();
        self.semantic_epoch += 1;
    }

    /// Identifies this index's term ids and ad terms (see [`Index::semantic_epoch`]): take it
    /// with the terms whose neighbours are computed, and store them only if it is unchanged.
    pub fn semantic_epoch(&self) -> u64 {
        self.semantic_epoch
    }

    /// Takes over from `old`: a later epoch than any `old` handed out.
    pub fn succeed(&mut self, old: &Index) {
        self.semantic_epoch = self.semantic_epoch.max(old.semantic_epoch) + 1;
    }

    /// What the index holds, by name: see [`IndexSnapshot`].
    pub fn snapshot(&self) -> IndexSnapshot {
        let mut out = IndexSnapshot::default();
        for u in &self.users {
            if !u.vec.terms.is_empty() {
                let terms = u.vec.terms.iter().zip(&u.vec.weights);
                out.users.insert(
                    u.id.to_string(),
                    terms
                        .map(|(&t, &w)| (self.vocab.term(t).to_string(), f64::from(w)))
                        .collect(),
                );
            }
            for c in &u.clicks {
                let ad = self.ads[c.0 as usize].ad.id.clone();
                *out.clicks
                    .entry(ad)
                    .or_default()
                    .entry(u.id.to_string())
                    .or_default() += 1;
            }
        }
        for a in &self.ads {
            out.ads.insert(a.ad.id.clone(), (*a.ad).clone());
        }
        for (&t, near) in &self.semantic {
            let near = near
                .iter()
                .map(|&(a, s)| (self.vocab.term(a).to_string(), s))
                .collect();
            out.semantic.insert(self.vocab.term(t).to_string(), near);
        }
        out
    }

    /// The `k` users most similar to `slot`, best first, scanning at most about `budget`
    /// postings for candidates.
    pub fn similar(&self, slot: u32, k: usize, budget: usize) -> Vec<Scored> {
        // A caller's k (from a binding: up to 2^64 − 1) never sizes anything: there are no
        // more neighbours than other users.
        let k = k.min(self.users.len());
        let me = &self.users[slot as usize];
        if me.vec.terms.is_empty() || k == 0 {
            return Vec::new();
        }
        let query = me.vec.by_weight();
        let candidates = self.accumulate(&query, Some(budget), |u| u != slot);
        // Candidates rescored exactly: one per 20 postings scanned (1,000 at the default
        // budget), at least 200. Partial scores from the heads of the lists rank the true
        // neighbours loosely; rescoring more of them is cheap (a sparse dot product each).
        let pool = (budget / 20).max(k.saturating_mul(4)).max(200);
        let mut top = top_n(candidates, pool);
        for c in &mut top {
            c.1 = me.vec.dot(&self.users[c.0 as usize].vec);
        }
        top.retain(|c| c.1 > 0.0);
        sort_scored(&mut top);
        top.truncate(k);
        top
    }

    /// Scores users against a query vector (unit, by weight). With a budget the heads of
    /// the posting lists are walked; without, every posting (an exact dot product).
    fn accumulate(
        &self,
        query: &[(u32, f32)],
        budget: Option<usize>,
        keep: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        SCRATCH.with(|cell| {
            let mut s = cell.borrow_mut();
            let Scratch { acc, touched } = &mut *s;
            if acc.len() < self.users.len() {
                acc.resize(self.users.len(), 0.0);
            }
            let total: f32 = query.iter().map(|q| q.1 * q.1).sum::<f32>().max(1e-12);
            for &(t, qw) in query {
                let Some(list) = self.postings.get(t as usize) else {
                    continue;
                };
                let head = match budget {
                    Some(b) => ((b as f32 * qw * qw / total) as usize).max(64),
                    None => usize::MAX,
                };
                // Tail postings count only when they would rank within the head had the
                // list been compacted: a long list's tail can hold thousands of recent
                // changes, and scoring them all made the candidates grow with the update
                // rate. (The tail is still scanned, cheaply, until the next compaction.)
                let cut = match list.sorted.get(head.saturating_sub(1)) {
                    Some(p) if head < list.sorted.len() => p.weight,
                    _ => f32::NEG_INFINITY,
                };
                let tail = list.tail.iter().filter(|p| p.weight >= cut);
                for p in list.sorted.iter().take(head).chain(tail) {
                    if self.versions[p.user as usize] != p.version {
                        continue;
                    }
                    let a = &mut acc[p.user as usize];
                    if *a == 0.0 {
                        touched.push(p.user);
                    }
                    *a += qw * p.weight;
                }
            }
            let mut out = Vec::with_capacity(touched.len());
            for &u in touched.iter() {
                let a = std::mem::take(&mut acc[u as usize]);
                if a > 0.0 && keep(u) {
                    out.push((u, a));
                }
            }
            touched.clear();
            out
        })
    }

    /// The interests two users share, largest contribution to their cosine first.
    pub fn shared_terms(&self, a: u32, b: u32, n: usize) -> Vec<String> {
        let vb = &self.users[b as usize].vec;
        let query: Vec<(u32, f32)> = vb
            .terms
            .iter()
            .copied()
            .zip(vb.weights.iter().copied())
            .collect();
        self.matched_terms(a, &query, n)
    }

    /// A query vector for an audience: the terms (and the terms related to them by lemma or
    /// compound, at half weight), then `seeds`' vectors averaged in with `seed_share` of the
    /// total, normalised. Returns `None` when nothing is known of any term.
    pub fn audience_query(
        &self,
        terms: &[String],
        seeds: &[u32],
        seed_share: f32,
    ) -> Option<Vec<(u32, f32)>> {
        let mut q: HashMap<u32, f32> = HashMap::new();
        for term in terms {
            let lemma = super::terms::lemma_words(term).join(" ");
            let ids: Vec<u32> = [self.vocab.get(term), self.vocab.get(&lemma)]
                .into_iter()
                .flatten()
                .collect();
            for id in ids {
                *q.entry(id).or_default() = 1.0;
                self.vocab.related(id, |t, kind| {
                    let w = if kind == MatchKind::Lemma { 1.0 } else { 0.5 };
                    let e = q.entry(t).or_default();
                    *e = e.max(w);
                });
            }
        }
        normalize(&mut q);
        let seeds: Vec<&UserVec> = seeds
            .iter()
            .map(|&s| &self.users[s as usize].vec)
            .filter(|v| !v.terms.is_empty())
            .collect();
        if !seeds.is_empty() {
            let mut centroid: HashMap<u32, f32> = HashMap::new();
            for v in &seeds {
                for (&t, &w) in v.terms.iter().zip(&v.weights) {
                    *centroid.entry(t).or_default() += w;
                }
            }
            normalize(&mut centroid);
            let own = if q.is_empty() { 0.0 } else { 1.0 - seed_share };
            for w in q.values_mut() {
                *w *= own;
            }
            for (t, w) in centroid {
                *q.entry(t).or_default() += w * seed_share;
            }
            normalize(&mut q);
        }
        if q.is_empty() {
            return None;
        }
        let mut v: Vec<(u32, f32)> = q.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Some(v)
    }

    /// Every user matching the query, best first (exact cosine), without those `exclude`
    /// rejects.
    pub fn audience(&self, query: &[(u32, f32)], exclude: impl Fn(u32) -> bool) -> Vec<Scored> {
        let mut all = self.accumulate(query, None, |u| !exclude(u));
        sort_scored(&mut all);
        all
    }

    /// The user's interests that contribute most to a query (at most `n`).
    pub fn matched_terms(&self, slot: u32, query: &[(u32, f32)], n: usize) -> Vec<String> {
        let v = &self.users[slot as usize].vec;
        let mut c: Vec<(u32, f32)> = query
            .iter()
            .filter_map(|&(t, qw)| v.weight(t).map(|w| (t, w * qw)))
            .collect();
        c.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        c.into_iter()
            .take(n)
            .map(|(t, _)| self.vocab.term(t).to_string())
            .collect()
    }

    /// Users who clicked an ad.
    pub fn clickers(&self, ad: &str) -> Vec<u32> {
        let Some(&a) = self.ad_ids.get(ad) else {
            return Vec::new();
        };
        (0..self.users.len() as u32)
            .filter(|&u| self.users[u as usize].clicks.iter().any(|c| c.0 == a))
            .collect()
    }

    /// The slot of an ad, by id.
    pub fn ad_slot(&self, id: &str) -> Option<u32> {
        self.ad_ids.get(id).copied()
    }

    /// Categories of ads, by slot.
    pub fn categories_of(&self, ads: impl IntoIterator<Item = u32>) -> HashSet<&str> {
        ads.into_iter()
            .filter_map(|a| self.ads.get(a as usize))
            .map(|a| a.ad.category.as_str())
            .collect()
    }

    /// Whether a term still needs its semantic neighbours computed.
    pub fn lacks_semantic(&self, term: u32) -> bool {
        !self.semantic.contains_key(&term)
    }

    /// The terms of an audience query by name, for stateless serving, unnormalised, each
    /// with whether it is an ad targeting term: each term and its lemma (weight 1), the
    /// lemma of each word of a compound (0.5), and the ad terms related to the term (same
    /// lemma at 1, compound at 0.5), as [`audience_query`](Self::audience_query) weighs
    /// them. Compounds that only users have ("tennis" to a user's "tennis racket") are not
    /// reached: the terms users have are not known without a scan.
    pub fn audience_terms_by_name(&self, terms: &[String]) -> BTreeMap<String, (f32, bool)> {
        let mut q: BTreeMap<String, (f32, bool)> = BTreeMap::new();
        let put = |q: &mut BTreeMap<String, (f32, bool)>, t: &str, w: f32| {
            let is_ad = self
                .vocab
                .get(t)
                .is_some_and(|id| self.ads_by_term.contains_key(&id));
            let e = q.entry(t.to_string()).or_insert((0.0, is_ad));
            e.0 = e.0.max(w);
        };
        for term in terms {
            let words = super::terms::lemma_words(term);
            let lemma = words.join(" ");
            put(&mut q, term, 1.0);
            put(&mut q, &lemma, 1.0);
            if words.len() > 1 {
                for w in &words {
                    put(&mut q, w, 0.5);
                }
            }
            let mut related: Vec<(u32, f32)> = Vec::new();
            if let Some(l) = self.vocab.get(&lemma) {
                related.extend(self.vocab.with_lemma(l).iter().map(|&t| (t, 1.0)));
                if words.len() == 1 {
                    related.extend(self.vocab.with_word(l).iter().map(|&t| (t, 0.5)));
                }
            }
            if words.len() > 1 {
                for w in &words {
                    if let Some(wid) = self.vocab.get(w) {
                        related.extend(
                            self.vocab
                                .with_lemma(wid)
                                .iter()
                                .filter(|&&t| {
                                    self.vocab.keys(t).is_some_and(|k| k.words.len() == 1)
                                })
                                .map(|&t| (t, 0.5)),
                        );
                    }
                }
            }
            for (t, w) in related {
                if self.ads_by_term.contains_key(&t) {
                    put(&mut q, self.vocab.term(t), w);
                }
            }
        }
        q
    }

    /// Categories of the ads a user clicked.
    fn clicked_categories(&self, slot: u32) -> HashSet<&str> {
        self.users[slot as usize]
            .clicks
            .iter()
            .map(|c| self.ads[c.0 as usize].ad.category.as_str())
            .collect()
    }

    /// Ads for a user, best first, with their explanations.
    ///
    /// Scores are accumulated per ad in dense scratch arrays (no allocation per candidate);
    /// only the ads that make the top `k` are checked against the filter's caps and
    /// opt-outs and explained.
    pub fn ads_for(&self, slot: u32, k: usize, f: &AdFilter<'_>, cfg: &AdsConfig) -> Vec<AdMatch> {
        if k.min(self.ads.len()) == 0 {
            return Vec::new();
        }
        // (b) Lookalike: ads the user's similar users clicked, weighted by similarity.
        let neighbours = self.similar(slot, cfg.lookalike_neighbors, cfg.candidate_budget / 8);
        let lookalike: Vec<(f32, Vec<u32>)> = neighbours
            .iter()
            .map(|&(n, sim)| {
                (
                    sim,
                    self.users[n as usize].clicks.iter().map(|c| c.0).collect(),
                )
            })
            .collect();
        let clicked = self.clicked_categories(slot);
        self.ads_for_vector(
            &self.users[slot as usize].vec,
            &lookalike,
            &clicked,
            k,
            f,
            cfg,
        )
    }

    /// [`ads_for`](Self::ads_for) for a vector that need not be in the index, with the
    /// lookalike signal and the categories the user clicked given: stateless serving reads
    /// them from the store (the user's own rows, the neighbour table, clicks).
    pub fn ads_for_vector(
        &self,
        vec: &UserVec,
        lookalike: &Lookalike,
        clicked: &HashSet<&str>,
        k: usize,
        f: &AdFilter<'_>,
        cfg: &AdsConfig,
    ) -> Vec<AdMatch> {
        // No more results than ads, before `top` is sized from k.
        let k = k.min(self.ads.len());
        if k == 0 {
            return Vec::new();
        }
        let query = vec.by_weight();
        let sources = self.match_sources(&query);

        let mass: f32 = lookalike.iter().map(|n| n.0).sum();
        let mut engaged: HashMap<u32, (f32, usize)> = HashMap::new();
        for (sim, clicks) in lookalike {
            let mut seen: Vec<u32> = clicks
                .iter()
                .copied()
                .filter(|&a| (a as usize) < self.ads.len())
                .collect();
            seen.sort_unstable();
            seen.dedup();
            for a in seen {
                let e = engaged.entry(a).or_default();
                e.0 += sim;
                e.1 += 1;
            }
        }

        // (a) Interest match: per ad, the sum over the user's terms (in query order) of the
        // best match strength times the term's weight. Within one user term the sources are
        // walked strongest first, so an ad's first hit in that term is its best.
        let mut by_strength = sources.clone();
        let mut start = 0;
        while start < by_strength.len() {
            let t = by_strength[start].user_term;
            let end = start
                + by_strength[start..]
                    .iter()
                    .take_while(|s| s.user_term == t)
                    .count();
            by_strength[start..end].sort_by(|x, y| y.strength.total_cmp(&x.strength));
            start = end;
        }
        let chosen: Vec<AdScore> = AD_SCRATCH.with(|cell| {
            let mut s = cell.borrow_mut();
            let AdScratch {
                cells,
                epoch,
                engaged_flag,
                touched,
            } = &mut *s;
            if cells.len() < self.ads.len() {
                cells.resize(self.ads.len(), (0.0, 0));
                engaged_flag.resize(self.ads.len(), false);
            }
            // One epoch per user term; an ad whose stamp predates this call's first epoch
            // has not been matched yet, and its sum starts afresh.
            let terms = by_strength
                .windows(2)
                .filter(|w| w[0].user_term != w[1].user_term)
                .count()
                + 1;
            if epoch.checked_add(terms as u32 + 1).is_none() {
                cells.iter_mut().for_each(|c| c.1 = 0);
                *epoch = 0;
            }
            let first = *epoch + 1;
            let mut i = 0;
            while i < by_strength.len() {
                let (user_term, uw) = (by_strength[i].user_term, by_strength[i].uw);
                *epoch += 1;
                let e = *epoch;
                while i < by_strength.len() && by_strength[i].user_term == user_term {
                    let src = &by_strength[i];
                    if let Some(ads) = self.ads_by_term.get(&src.ad_term) {
                        let contribution = src.strength * uw;
                        for &a in ads {
                            let c = &mut cells[a as usize];
                            if c.1 < first {
                                *c = (contribution, e);
                                touched.push(a);
                            } else if c.1 != e {
                                *c = (c.0 + contribution, e);
                            }
                        }
                    }
                    i += 1;
                }
            }
            for &a in engaged.keys() {
                if cells[a as usize].1 < first {
                    cells[a as usize] = (0.0, first);
                    touched.push(a);
                }
                engaged_flag[a as usize] = true;
            }
            // The best k allowed ads, best first; ties by ad id.
            let mut top: Vec<AdScore> = Vec::with_capacity(k + 1);
            for a in touched.drain(..) {
                let interest = (cells[a as usize].0 / self.ad_sqrt_terms[a as usize]).min(1.0);
                let lookalike = if engaged_flag[a as usize] && mass > 0.0 {
                    engaged[&a].0 / mass
                } else {
                    0.0
                };
                let score = cfg.interest_weight * f64::from(interest)
                    + cfg.lookalike_weight * f64::from(lookalike);
                if score <= 0.0 {
                    continue;
                }
                if top.len() == k {
                    let worst = &top[k - 1];
                    if score < worst.score
                        || (score == worst.score && !self.ad_id_before(a, worst.ad))
                    {
                        continue;
                    }
                }
                if !self.ad_allowed(a, f, clicked) {
                    continue;
                }
                let c = AdScore {
                    score,
                    ad: a,
                    interest,
                };
                let pos = top.partition_point(|x| {
                    x.score > score || (x.score == score && self.ad_id_before(x.ad, a))
                });
                top.insert(pos, c);
                top.truncate(k);
            }
            for &a in engaged.keys() {
                engaged_flag[a as usize] = false;
            }
            top
        });

        chosen
            .into_iter()
            .map(|c| {
                let (eng, count) = engaged.get(&c.ad).copied().unwrap_or((0.0, 0));
                let lookalike = if mass > 0.0 { eng / mass } else { 0.0 };
                let mut m = self.ad_matches(c.ad, &sources);
                m.sort_by(|x, y| (y.3 * y.4).total_cmp(&(x.3 * x.4)).then(x.0.cmp(&y.0)));
                AdMatch {
                    ad: (*self.ads[c.ad as usize].ad).clone(),
                    score: c.score,
                    interest_score: f64::from(c.interest),
                    lookalike_score: f64::from(lookalike),
                    matched: m
                        .iter()
                        .map(|&(ut, at, kind, strength, uw)| MatchedInterest {
                            interest: self.vocab.term(ut).to_string(),
                            ad_term: self.vocab.term(at).to_string(),
                            kind,
                            strength: f64::from(strength),
                            weight: f64::from(uw),
                        })
                        .collect(),
                    similar_users_engaged: count,
                    neighbours_computed_at: None,
                }
            })
            .collect()
    }

    /// Every targeting term a user's query can match, grouped by user term in query order:
    /// the term itself, its lemma and compound relatives, then its semantic neighbours.
    fn match_sources(&self, query: &[(u32, f32)]) -> Vec<MatchSource> {
        let mut out = Vec::with_capacity(query.len() * 4);
        for &(t, w) in query {
            let mut push = |ad_term: u32, kind: MatchKind, strength: f32| {
                out.push(MatchSource {
                    user_term: t,
                    ad_term,
                    kind,
                    strength,
                    uw: w,
                })
            };
            push(t, MatchKind::Exact, 1.0);
            self.vocab.related(t, |r, kind| {
                let s = if kind == MatchKind::Lemma { 0.9 } else { 0.5 };
                push(r, kind, s);
            });
            if let Some(near) = self.semantic.get(&t) {
                for &(r, sim) in near {
                    if r != t {
                        push(r, MatchKind::Semantic, sim * 0.8);
                    }
                }
            }
        }
        out
    }

    /// One ad's matches: for each user term (in query order) its strongest match, the
    /// first one found on a tie.
    fn ad_matches(&self, ad: u32, sources: &[MatchSource]) -> Vec<TermMatch> {
        let terms = &self.ads[ad as usize].terms;
        let mut list: Vec<TermMatch> = Vec::new();
        for s in sources {
            if !terms.contains(&s.ad_term) {
                continue;
            }
            let entry = (s.user_term, s.ad_term, s.kind, s.strength, s.uw);
            match list.iter_mut().find(|m| m.0 == s.user_term) {
                Some(m) if m.3 >= s.strength => {}
                Some(m) => *m = entry,
                None => list.push(entry),
            }
        }
        list
    }

    /// Whether ad `a`'s id sorts before ad `b`'s.
    fn ad_id_before(&self, a: u32, b: u32) -> bool {
        let (x, y) = (&self.ads[a as usize], &self.ads[b as usize]);
        x.id_key
            .cmp(&y.id_key)
            .then_with(|| x.ad.id.cmp(&y.ad.id))
            .is_lt()
    }

    /// Whether an ad may be shown to the user: live, not opted out of, not excluded by a
    /// category the user clicked, under its frequency cap.
    fn ad_allowed(&self, a: u32, f: &AdFilter<'_>, clicked: &HashSet<&str>) -> bool {
        let ad = &self.ads[a as usize].ad;
        if !ad.is_live(f.now)
            || f.opted_out.contains(ad.category.as_str())
            || ad
                .excluded_categories
                .iter()
                .any(|c| clicked.contains(c.as_str()))
        {
            return false;
        }
        if let Some(cap) = &ad.frequency_cap {
            let (today, total) = f.impressions.get(ad.id.as_str()).copied().unwrap_or((0, 0));
            if !cap.allows(today, total) {
                return false;
            }
        }
        true
    }
}

/// A targeting term one of the user's terms can match, and how.
#[derive(Clone)]
struct MatchSource {
    user_term: u32,
    ad_term: u32,
    kind: MatchKind,
    strength: f32,
    uw: f32,
}

/// A candidate ad's score.
#[derive(Clone, Copy)]
struct AdScore {
    score: f64,
    ad: u32,
    interest: f32,
}

/// Per-thread scratch space for scoring every ad without allocating.
#[derive(Default)]
struct AdScratch {
    /// Per ad: the interest sum so far, and the `epoch` of the user term that last
    /// matched it (together, for one cache line per match).
    cells: Vec<(f32, u32)>,
    /// Counts user terms scored, across calls.
    epoch: u32,
    /// Ads clicked by the user's similar users (set and cleared by each call).
    engaged_flag: Vec<bool>,
    /// This call's candidate ads.
    touched: Vec<u32>,
}

thread_local! {
    static AD_SCRATCH: RefCell<AdScratch> = RefCell::new(AdScratch::default());
}

/// One user term's best match on an ad: (user term, ad term, kind, strength, user weight).
type TermMatch = (u32, u32, MatchKind, f32, f32);

/// What keeps an ad from a user besides targeting: time, opt-outs, caps.
pub(crate) struct AdFilter<'a> {
    pub now: Timestamp,
    /// Categories the user opted out of.
    pub opted_out: &'a HashSet<String>,
    /// Impressions per ad id: (last 24 hours, ever).
    pub impressions: &'a HashMap<String, (u64, u64)>,
}

fn normalize(v: &mut HashMap<u32, f32>) {
    let n = v.values().map(|w| w * w).sum::<f32>().sqrt();
    if n > 0.0 {
        for w in v.values_mut() {
            *w /= n;
        }
    }
}

fn sort_scored(v: &mut [Scored]) {
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

fn top_n(mut v: Vec<Scored>, n: usize) -> Vec<Scored> {
    if v.len() > n {
        v.select_nth_unstable_by(n - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(term: &str, w: f64) -> InterestRecord {
        InterestRecord::single(term, w, Timestamp::from_millis(0), Decay::none())
    }

    fn put(ix: &mut Index, user: &str, terms: &[(&str, f64)]) {
        let recs: Vec<_> = terms.iter().map(|(t, w)| rec(t, *w)).collect();
        let (v, n) = user_vector(
            &mut ix.vocab,
            &recs,
            Timestamp::from_millis(0),
            Decay::none(),
        );
        ix.set_user(&UserId::new(user).unwrap(), v, n, Timestamp::from_millis(0));
    }

    #[test]
    fn a_forgotten_user_leaves_no_slot_and_the_slot_serves_the_next_user() {
        let mut ix = Index::default();
        put(&mut ix, "ana", &[("surfboard", 1.0), ("wave", 1.0)]);
        put(&mut ix, "ben", &[("surfboard", 1.0)]);
        let ana = UserId::new("ana").unwrap();
        ix.add_click(&ana, "ad-1", Timestamp::from_millis(1), "click-1");
        let slot = ix.user_slot(&ana).unwrap();
        ix.remove_user(&ana);
        assert_eq!(ix.user_slot(&ana), None);
        assert!(
            ix.users.iter().all(|u| u.id != ana),
            "the id stays in memory"
        );
        assert!(ix.users[slot as usize].clicks.is_empty());
        // The next user takes the slot; ana's old postings must not score for them.
        put(&mut ix, "cleo", &[("cat", 1.0)]);
        assert_eq!(ix.user_slot(&UserId::new("cleo").unwrap()), Some(slot));
        let ben = ix.user_slot(&UserId::new("ben").unwrap()).unwrap();
        assert!(ix.similar(ben, 5, 1000).is_empty());
        assert_eq!(ix.user_count(), 2);
    }

    #[test]
    fn ads_for_matches_the_reference_implementation() {
        use crate::ads::{AdStatus, FrequencyCap};
        // A small world with ties, lemmas, compounds, semantic neighbours, clicks, caps,
        // dates, opt-outs and exclusions.
        let words = [
            "surfboard",
            "surfboards",
            "wave",
            "beach",
            "tennis",
            "tennis racket",
            "racket",
            "cat",
            "cats",
            "cat food",
            "pizza",
            "pizza oven",
            "oven",
            "man",
            "table",
            "street",
        ];
        let cats = ["surf", "tennis", "pets", "food", "home"];
        let mut seed = 0x5eed_u64;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % n as u64) as usize
        };
        let mut ix = Index::default();
        for u in 0..120 {
            let terms: Vec<(&str, f64)> = (0..1 + next(6))
                .map(|_| (words[next(words.len())], 1.0 + next(3) as f64))
                .collect();
            put(&mut ix, &format!("u{u}"), &terms);
        }
        ix.compact_all();
        let now = Timestamp::from_millis(1_000_000);
        for a in 0..150 {
            let terms: Vec<&str> = (0..1 + next(4)).map(|_| words[next(words.len())]).collect();
            let mut ad =
                Ad::new(format!("ad{}", a % 97), "x", "t", cats[next(cats.len())]).interests(terms);
            match next(8) {
                0 => ad = ad.frequency_cap(FrequencyCap::per_day(1)),
                1 => ad = ad.status(AdStatus::Paused),
                2 => ad = ad.between(None, Some(Timestamp::from_millis(10))),
                3 => ad = ad.excluded_categories([cats[next(cats.len())]]),
                _ => {}
            }
            // Ids repeat: later ads replace earlier ones, as add_ads does.
            ix.put_ad(ad.validate().unwrap());
        }
        for _ in 0..200 {
            let u = UserId::new(format!("u{}", next(120))).unwrap();
            let (ad, event) = (format!("ad{}", next(97)), format!("c{}", next(1 << 30)));
            ix.add_click(&u, &ad, Timestamp::from_millis(5), &event);
        }
        let ad_terms = ix.ad_terms();
        for t in 0..ix.vocab.len() as u32 {
            if next(3) == 0 {
                let near: Vec<(u32, f32)> = (0..next(3))
                    .map(|_| (ad_terms[next(ad_terms.len())], 0.6 + 0.1 * next(4) as f32))
                    .collect();
                ix.set_semantic(t, near);
            }
        }
        let opted_out: HashSet<String> = ["pets".to_string()].into();
        let mut impressions: HashMap<String, (u64, u64)> = HashMap::new();
        for a in 0..97 {
            if next(2) == 0 {
                impressions.insert(format!("ad{a}"), (next(2) as u64, 3));
            }
        }
        let none = HashSet::new();
        let filters = [
            AdFilter {
                now,
                opted_out: &none,
                impressions: &HashMap::new(),
            },
            AdFilter {
                now,
                opted_out: &opted_out,
                impressions: &impressions,
            },
        ];
        let configs = [
            AdsConfig::default(),
            AdsConfig {
                lookalike_weight: 0.0,
                ..AdsConfig::default()
            },
            AdsConfig {
                interest_weight: 0.0,
                ..AdsConfig::default()
            },
        ];
        let mut compared = 0;
        for slot in 0..ix.users.len() as u32 {
            for f in &filters {
                for cfg in &configs {
                    for k in [1, 3, 10, 200] {
                        let want = reference_ads_for(&ix, slot, k, f, cfg);
                        assert_eq!(ix.ads_for(slot, k, f, cfg), want, "user slot {slot}, k {k}");
                        compared += want.len();
                    }
                }
            }
        }
        assert!(compared > 10_000, "{compared}");
    }

    /// `Index::ads_for` as first written (one map entry and one `AdMatch` per candidate):
    /// the optimised version must return exactly what it returns.
    fn reference_ads_for(
        this: &Index,
        slot: u32,
        k: usize,
        f: &AdFilter<'_>,
        cfg: &AdsConfig,
    ) -> Vec<AdMatch> {
        if k == 0 {
            return Vec::new();
        }
        let user = &this.users[slot as usize];
        let query = user.vec.by_weight();

        // (a) Interest match: per ad, the best match of each user term.
        let mut matches: HashMap<u32, Vec<TermMatch>> = HashMap::new();
        let mut add = |ad_term: u32, user_term: u32, kind: MatchKind, strength: f32, uw: f32| {
            if let Some(ads) = this.ads_by_term.get(&ad_term) {
                for &a in ads {
                    let list = matches.entry(a).or_default();
                    match list.iter_mut().find(|m| m.0 == user_term) {
                        Some(m) if m.3 >= strength => {}
                        Some(m) => *m = (user_term, ad_term, kind, strength, uw),
                        None => list.push((user_term, ad_term, kind, strength, uw)),
                    }
                }
            }
        };
        for &(t, w) in &query {
            add(t, t, MatchKind::Exact, 1.0, w);
            this.vocab.related(t, |r, kind| {
                let s = if kind == MatchKind::Lemma { 0.9 } else { 0.5 };
                add(r, t, kind, s, w);
            });
            if let Some(near) = this.semantic.get(&t) {
                for &(r, sim) in near {
                    if r != t {
                        add(r, t, MatchKind::Semantic, sim * 0.8, w);
                    }
                }
            }
        }

        // (b) Lookalike: ads the user's similar users clicked, weighted by similarity.
        let neighbours = this.similar(slot, cfg.lookalike_neighbors, cfg.candidate_budget / 8);
        let mass: f32 = neighbours.iter().map(|n| n.1).sum();
        let mut engaged: HashMap<u32, (f32, usize)> = HashMap::new();
        for &(n, sim) in &neighbours {
            let mut seen: Vec<u32> = this.users[n as usize].clicks.iter().map(|c| c.0).collect();
            seen.sort_unstable();
            seen.dedup();
            for a in seen {
                let e = engaged.entry(a).or_default();
                e.0 += sim;
                e.1 += 1;
            }
        }

        let clicked = this.clicked_categories(slot);
        let mut out: Vec<AdMatch> = Vec::new();
        let candidates: HashSet<u32> = matches.keys().chain(engaged.keys()).copied().collect();
        for a in candidates {
            let slot_ad = &this.ads[a as usize];
            let ad = &slot_ad.ad;
            if !ad.is_live(f.now)
                || f.opted_out.contains(ad.category.as_str())
                || ad
                    .excluded_categories
                    .iter()
                    .any(|c| clicked.contains(c.as_str()))
            {
                continue;
            }
            if let Some(cap) = &ad.frequency_cap {
                let (today, total) = f.impressions.get(ad.id.as_str()).copied().unwrap_or((0, 0));
                if !cap.allows(today, total) {
                    continue;
                }
            }
            let mut m = matches.remove(&a).unwrap_or_default();
            let n_terms = slot_ad.terms.len().max(1) as f32;
            let interest: f32 = m.iter().map(|x| x.3 * x.4).sum::<f32>() / n_terms.sqrt();
            let (eng, count) = engaged.get(&a).copied().unwrap_or((0.0, 0));
            let lookalike = if mass > 0.0 { eng / mass } else { 0.0 };
            let score = cfg.interest_weight * f64::from(interest.min(1.0))
                + cfg.lookalike_weight * f64::from(lookalike);
            if score <= 0.0 {
                continue;
            }
            m.sort_by(|x, y| (y.3 * y.4).total_cmp(&(x.3 * x.4)).then(x.0.cmp(&y.0)));
            out.push(AdMatch {
                ad: (**ad).clone(),
                score,
                interest_score: f64::from(interest.min(1.0)),
                lookalike_score: f64::from(lookalike),
                matched: m
                    .iter()
                    .map(|&(ut, at, kind, strength, uw)| MatchedInterest {
                        interest: this.vocab.term(ut).to_string(),
                        ad_term: this.vocab.term(at).to_string(),
                        kind,
                        strength: f64::from(strength),
                        weight: f64::from(uw),
                    })
                    .collect(),
                similar_users_engaged: count,
                neighbours_computed_at: None,
            });
        }
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.ad.id.cmp(&b.ad.id))
        });
        out.truncate(k);
        out
    }

    #[test]
    fn similar_users_are_exact_cosines_and_updates_supersede() {
        let mut ix = Index::default();
        put(&mut ix, "a", &[("dog", 3.0), ("park", 1.0)]);
        put(&mut ix, "b", &[("dog", 1.0), ("park", 3.0)]);
        put(&mut ix, "c", &[("cat", 1.0)]);
        ix.compact_all();
        let a = ix.user_slot(&UserId::new("a").unwrap()).unwrap();
        let sim = ix.similar(a, 5, 1000);
        assert_eq!(sim.len(), 1);
        assert!((sim[0].1 - 0.6).abs() < 1e-6, "{sim:?}");
        // b changes taste: the old postings must not count any more.
        put(&mut ix, "b", &[("cat", 1.0)]);
        assert!(ix.similar(a, 5, 1000).is_empty());
        put(&mut ix, "c", &[("dog", 1.0)]);
        let sim = ix.similar(a, 5, 1000);
        assert_eq!(ix.user_id(sim[0].0).as_str(), "c");
        assert!((sim[0].1 - 3.0 / 10f32.sqrt()).abs() < 1e-6);
        assert_eq!(ix.shared_terms(a, sim[0].0, 5), ["dog"]);
    }

    #[test]
    fn a_heavy_posting_in_the_tail_is_found_with_a_small_budget() {
        let mut ix = Index::default();
        put(&mut ix, "q", &[("dog", 1.0)]);
        for i in 0..1000 {
            put(
                &mut ix,
                &format!("u{i}"),
                &[("dog", 1.0), (&format!("t{i}"), 3.0)],
            );
        }
        ix.compact_all();
        // A user who is all dog arrives after compaction: its posting sits in the tail,
        // behind 1,000 lighter ones, and the walk takes only the head's first 64.
        put(&mut ix, "star", &[("dog", 1.0)]);
        assert!(!ix.postings.iter().all(|p| p.tail.is_empty()));
        let q = ix.user_slot(&UserId::new("q").unwrap()).unwrap();
        let sim = ix.similar(q, 1, 64);
        assert_eq!(ix.user_id(sim[0].0).as_str(), "star", "{sim:?}");
        assert!((sim[0].1 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn many_updates_compact_and_stay_exact() {
        let mut ix = Index::default();
        for i in 0..2000 {
            put(
                &mut ix,
                &format!("u{i}"),
                &[("dog", 1.0 + (i % 7) as f64), ("x", 1.0)],
            );
        }
        for i in 0..2000 {
            put(
                &mut ix,
                &format!("u{i}"),
                &[("dog", 1.0), ("y", 1.0 + (i % 3) as f64)],
            );
        }
        let s = ix.user_slot(&UserId::new("u0").unwrap()).unwrap();
        let sim = ix.similar(s, 3, 100_000);
        assert!(sim.iter().all(|x| x.1 > 0.99), "{sim:?}");
        assert!(ix.postings.iter().all(|p| p.stale * 4 <= p.len().max(4)));
    }
}
