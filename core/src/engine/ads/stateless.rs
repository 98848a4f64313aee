//! Stateless serving ([`Serving::Stateless`]) and the in-process neighbour builder.
//!
//! Nothing here reads every user: a request reads the user's own rows, their clicks,
//! opt-outs and impressions, their precomputed neighbour list and those neighbours' clicks.
//! Audiences read the users of their terms (`users_with_term`) and score each one's profile.

use super::{
    ad_item, Engine, NeighbourStats, MAX_NEIGHBOURS, NEIGHBOUR_BATCH, READ_CONCURRENCY, TERM_PAGE,
};
use crate::ads::index::{named_vector, user_vector_interned, AdFilter, Index};
use crate::ads::{AdMatch, AudienceMember, AudienceQuery, SimilarUser};
use crate::domain::EventKind;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::interests::normalize_terms;
use crate::profile::InterestRecord;
use crate::store::{Neighbour, NeighbourList};
use crate::time::Timestamp;
use futures::future::try_join_all;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// "Ever", for click counts and the click history: the engine refuses events before 1970.
const EVER: Timestamp = Timestamp::from_millis(0);

impl Engine {
    /// Computes every user's `k` most similar users and writes them to the store's
    /// neighbour table ([`Store::put_neighbours`](crate::Store::put_neighbours)), stamped
    /// with the engine's clock: what [`Serving::Stateless`](crate::Serving) serves
    /// similar users and lookalikes from. For small deployments; at scale a batch job
    /// writes the same table (see `docs/scaling.md`).
    ///
    /// The build pages through the store ([`Store::scan_interests`](crate::Store::scan_interests))
    /// into a transient index (the memory of [`Serving::InMemoryIndex`](crate::Serving),
    /// released when done), ranks each user's neighbours as
    /// [`similar_users`](Self::similar_users) does, and writes the lists in batches of
    /// 500. A user without similar users gets an empty list, which clears an old one.
    /// Run it on a schedule (for example nightly): served lists are as old as the last
    /// run, and results say so ([`SimilarUser::computed_at`],
    /// [`AdMatch::neighbours_computed_at`]). `k` should cover the largest `k` served and
    /// [`AdsConfig::lookalike_neighbors`](crate::ads::AdsConfig) (default 30); at most
    /// [`MAX_NEIGHBOURS`](super::MAX_NEIGHBOURS).
    ///
    /// ```
    /// use sociallens::{Engine, Post, Serving};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = sociallens::open_store("memory://")?;
    /// let writer = Engine::builder().shared_store(store.clone()).build()?;
    /// writer.record_like("ana", Post::new("p1").with_interests(["surfboard", "wave"])).await?;
    /// writer.record_like("ben", Post::new("p2").with_interests(["surfboard"])).await?;
    /// let stats = writer.build_neighbours(50).await?;
    /// assert_eq!((stats.users, stats.neighbours), (2, 2));
    /// // Another process serves from the table without loading any user.
    /// let server = Engine::builder().shared_store(store).serving(Serving::stateless()).build()?;
    /// let peers = server.similar_users("ana", 5).await?;
    /// assert_eq!(peers[0].user.as_str(), "ben");
    /// assert_eq!(peers[0].computed_at, Some(stats.computed_at));
    /// # Ok::<(), sociallens::Error>(()) }).unwrap();
    /// ```
    pub async fn build_neighbours(&self, k: usize) -> Result<NeighbourStats> {
        if k == 0 || k > MAX_NEIGHBOURS {
            return Err(Error::invalid(format!(
                "build_neighbours needs k between 1 and {MAX_NEIGHBOURS}, got {k}"
            )));
        }
        let computed_at = self.now();
        let mut ix = Index::default();
        self.load_users(&mut ix, computed_at).await?;
        let ix = Arc::new(ix);
        // The budget similar_users uses, so that both rank alike.
        let budget = self.inner.ads_config.candidate_budget.max(ix.slots() / 16);
        let mut stats = NeighbourStats {
            users: 0,
            neighbours: 0,
            computed_at,
        };
        let slots = ix.slots() as u32;
        let mut start = 0u32;
        while start < slots {
            let end = start.saturating_add(NEIGHBOUR_BATCH as u32).min(slots);
            let ix = ix.clone();
            let lists = tokio::task::spawn_blocking(move || {
                (start..end)
                    .map(|s| NeighbourList {
                        user: ix.user_id(s).clone(),
                        neighbours: ix
                            .similar(s, k, budget)
                            .into_iter()
                            .map(|(n, score)| Neighbour {
                                user: ix.user_id(n).clone(),
                                // A dot product of unit vectors may pass 1 by a rounding.
                                score: f64::from(score.min(1.0)),
                                shared_terms: ix.shared_terms(s, n, 5),
                            })
                            .collect(),
                        computed_at,
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
            stats.users += lists.len();
            stats.neighbours += lists.iter().map(|l| l.neighbours.len()).sum::<usize>();
            self.inner.store.put_neighbours(&lists).await?;
            start = end;
        }
        Ok(stats)
    }

    /// The user's stored neighbour list, if any.
    async fn stored_list(&self, user: &UserId) -> Result<Option<NeighbourList>> {
        Ok(self
            .inner
            .store
            .neighbours(std::slice::from_ref(user))
            .await?
            .into_iter()
            .next())
    }

    /// [`similar_users`](Self::similar_users) in stateless serving: the user's stored list.
    pub(super) async fn stored_similar_users(
        &self,
        user: &UserId,
        k: usize,
    ) -> Result<Vec<SimilarUser>> {
        let Some(list) = self.stored_list(user).await? else {
            return Ok(Vec::new());
        };
        let at = list.computed_at;
        Ok(list
            .neighbours
            .into_iter()
            .take(k)
            .map(|n| {
                let mut shared = n.shared_terms;
                shared.truncate(5);
                SimilarUser {
                    user: n.user,
                    score: n.score,
                    shared,
                    computed_at: Some(at),
                }
            })
            .collect())
    }

    /// The ids of the ads a user ever clicked.
    async fn clicked_ads(&self, user: &UserId) -> Result<Vec<String>> {
        Ok(self
            .inner
            .store
            .user_item_counts(user, EventKind::Click, EVER)
            .await?
            .into_iter()
            .filter_map(|c| c.item.strip_prefix("ad:").map(str::to_string))
            .collect())
    }

    /// The lookalike signal from the neighbour table: the user's first
    /// `lookalike_neighbors` neighbours with the ads each clicked, and when they were
    /// computed.
    async fn stored_lookalike(
        &self,
        user: &UserId,
    ) -> Result<(Vec<(f32, Vec<String>)>, Option<Timestamp>)> {
        let Some(list) = self.stored_list(user).await? else {
            return Ok((Vec::new(), None));
        };
        let top: Vec<Neighbour> = list
            .neighbours
            .into_iter()
            .take(self.inner.ads_config.lookalike_neighbors)
            .collect();
        let mut clicks: Vec<Vec<String>> = Vec::with_capacity(top.len());
        for chunk in top.chunks(READ_CONCURRENCY) {
            let reads: Vec<_> = chunk.iter().map(|n| self.clicked_ads(&n.user)).collect();
            clicks.extend(try_join_all(reads).await?);
        }
        let signal = top
            .iter()
            .zip(clicks)
            .map(|(n, c)| (n.score as f32, c))
            .collect();
        Ok((signal, Some(list.computed_at)))
    }

    /// Interns the terms of `records` into the inventory's vocabulary (their lemma and
    /// compound relations to ad terms), unless they all are already.
    fn intern_terms(&self, records: &[InterestRecord]) {
        let (now, decay) = (self.now(), self.inner.decay);
        if user_vector_interned(&self.inner.ads.read().vocab, records, now, decay).is_some() {
            return;
        }
        let mut ix = self.inner.ads.write();
        for r in records {
            ix.vocab.intern(&r.term);
        }
    }

    /// [`ads_for`](Self::ads_for) in stateless serving.
    pub(super) async fn stateless_ads_for(&self, user: &UserId, k: usize) -> Result<Vec<AdMatch>> {
        if k.min(self.ads_index().await?.ad_count()) == 0 {
            return Ok(Vec::new());
        }
        let store = &self.inner.store;
        let (now, decay) = (self.now(), self.inner.decay);
        let records = store.interests(user).await?;
        if !records.iter().any(|r| r.weight_at(now, decay) > 0.0) {
            // As with the index: no interests, no ads (not even lookalikes).
            return Ok(Vec::new());
        }
        self.intern_terms(&records);
        if self.inner.embedder.is_some() {
            let terms: Vec<&str> = records.iter().map(|r| r.term.as_str()).collect();
            self.ensure_semantic_of(|ix| {
                terms
                    .iter()
                    .filter_map(|t| ix.vocab.get(t))
                    .filter(|&t| ix.lacks_semantic(t))
                    .collect()
            })
            .await?;
        }
        let (opted_out, impressions) = self.ad_filter_inputs(user, now).await?;
        let own_clicks = self.clicked_ads(user).await?;
        let (lookalike, computed_at) = self.stored_lookalike(user).await?;
        loop {
            let ix = self.inner.ads.read();
            let Some((vec, _)) = user_vector_interned(&ix.vocab, &records, now, decay) else {
                // The inventory was reloaded since the terms were interned.
                drop(ix);
                self.intern_terms(&records);
                continue;
            };
            let slots: Vec<(f32, Vec<u32>)> = lookalike
                .iter()
                .map(|(sim, ads)| (*sim, ads.iter().filter_map(|a| ix.ad_slot(a)).collect()))
                .collect();
            let clicked = ix.categories_of(own_clicks.iter().filter_map(|a| ix.ad_slot(a)));
            let filter = AdFilter {
                now,
                opted_out: &opted_out,
                impressions: &impressions,
            };
            let mut out =
                ix.ads_for_vector(&vec, &slots, &clicked, k, &filter, &self.inner.ads_config);
            for m in &mut out {
                m.neighbours_computed_at = computed_at;
            }
            return Ok(out);
        }
    }

    /// Adds every user with a stored interest in `term`, page by page; whether there was
    /// any.
    async fn all_users_with_term(&self, term: &str, into: &mut BTreeSet<UserId>) -> Result<bool> {
        let mut after: Option<UserId> = None;
        let mut any = false;
        loop {
            let page = self
                .inner
                .store
                .users_with_term(term, after.as_ref(), TERM_PAGE)
                .await?;
            let full = page.len() >= TERM_PAGE;
            any |= !page.is_empty();
            after = page.last().map(|p| p.0.clone());
            into.extend(page.into_iter().map(|p| p.0));
            if !full {
                return Ok(any);
            }
        }
    }

    /// The users who clicked an ad, from the click history.
    async fn ad_clickers(&self, ad: &str) -> Result<Vec<UserId>> {
        let item = ad_item(ad);
        let far = Timestamp::from_millis(i64::MAX);
        let mut users: Vec<UserId> = self
            .inner
            .store
            .item_events(EVER, far)
            .await?
            .into_iter()
            .filter(|e| e.kind == EventKind::Click && e.item.as_deref() == Some(item.as_str()))
            .map(|e| e.user)
            .collect();
        users.sort();
        users.dedup();
        Ok(users)
    }

    /// Unit vectors of users, read from the store, in the order given.
    async fn named_vectors(&self, users: &[UserId]) -> Result<Vec<HashMap<String, f32>>> {
        let (now, decay) = (self.now(), self.inner.decay);
        let store = &self.inner.store;
        let mut out = Vec::with_capacity(users.len());
        for chunk in users.chunks(READ_CONCURRENCY) {
            let reads: Vec<_> = chunk.iter().map(|u| store.interests(u)).collect();
            out.extend(
                try_join_all(reads)
                    .await?
                    .iter()
                    .map(|records| named_vector(records, now, decay)),
            );
        }
        Ok(out)
    }

    /// Audiences in stateless serving: the query as the index makes it (terms, their
    /// lemmas and related ad terms; for an ad, its clickers' centroid mixed in), the
    /// candidates from `users_with_term` of the query's own terms plus, for an ad, its
    /// clickers' stored neighbours; each candidate scored on their current profile.
    ///
    /// An ad with a stored audience ([`Store::put_audience`](crate::Store::put_audience),
    /// written by a batch job) is served from it instead: its members best first, less
    /// those who opted out of the ad's category since (checked now, not when it was
    /// computed). Stored members carry no `matched` interests: the batch job keeps none.
    pub(super) async fn stateless_audience(
        &self,
        query: &AudienceQuery,
        limit: usize,
    ) -> Result<(Vec<AudienceMember>, usize)> {
        if let AudienceQuery::Ad(id) = query {
            if let Some(stored) = self.inner.store.audience(id, usize::MAX).await? {
                let category = {
                    let ix = self.ads_index().await?;
                    Self::audience_category(&ix, query)?
                };
                let opted_out: HashSet<UserId> = match &category {
                    Some(c) => self
                        .inner
                        .store
                        .opted_out_users(c)
                        .await?
                        .into_iter()
                        .collect(),
                    None => HashSet::new(),
                };
                let kept: Vec<AudienceMember> = stored
                    .members
                    .into_iter()
                    .filter(|m| !opted_out.contains(&m.user))
                    .map(|m| AudienceMember {
                        user: m.user,
                        score: m.score,
                        matched: Vec::new(),
                    })
                    .collect();
                let total = kept.len();
                return Ok((kept.into_iter().take(limit).collect(), total));
            }
        }
        let (category, own) = {
            let ix = self.ads_index().await?;
            let category = Self::audience_category(&ix, query)?;
            let terms = match query {
                AudienceQuery::Interests(t) => normalize_terms(t)?,
                AudienceQuery::Ad(id) => Self::audience_ad(&ix, id)?.interests.clone(),
            };
            (category, ix.audience_terms_by_name(&terms))
        };
        let store = &self.inner.store;
        let opted_out: HashSet<UserId> = match &category {
            Some(c) => store.opted_out_users(c).await?.into_iter().collect(),
            None => HashSet::new(),
        };
        let seeds = match query {
            AudienceQuery::Ad(id) => self.ad_clickers(id).await?,
            AudienceQuery::Interests(_) => Vec::new(),
        };
        // Candidates: the users of the query's own terms, and for an ad its clickers'
        // stored neighbours (the lookalike part). A term nobody has and no ad targets
        // leaves the query, as the index never knows it.
        let mut candidates: BTreeSet<UserId> = BTreeSet::new();
        let mut q: HashMap<String, f32> = HashMap::new();
        for (term, (w, is_ad)) in &own {
            let found = self.all_users_with_term(term, &mut candidates).await?;
            if found || *is_ad {
                q.insert(term.clone(), *w);
            }
        }
        normalize(&mut q);
        let seed_vecs: Vec<HashMap<String, f32>> = self
            .named_vectors(&seeds)
            .await?
            .into_iter()
            .filter(|v| !v.is_empty())
            .collect();
        if !seed_vecs.is_empty() {
            // As Index::audience_query mixes them: half the query, half the centroid.
            let mut centroid: HashMap<String, f32> = HashMap::new();
            for v in &seed_vecs {
                for (t, w) in v {
                    *centroid.entry(t.clone()).or_default() += w;
                }
            }
            normalize(&mut centroid);
            let share = if q.is_empty() { 0.0 } else { 0.5 };
            q.values_mut().for_each(|w| *w *= share);
            for (t, w) in centroid {
                *q.entry(t).or_default() += w * 0.5;
            }
            normalize(&mut q);
        }
        if !seeds.is_empty() {
            for list in store.neighbours(&seeds).await? {
                candidates.extend(list.neighbours.into_iter().map(|n| n.user));
            }
        }
        let seed_set: HashSet<&UserId> = seeds.iter().collect();
        let candidates: Vec<UserId> = candidates
            .into_iter()
            .filter(|u| !seed_set.contains(u) && !opted_out.contains(u))
            .collect();
        let min_score = self.inner.ads_config.audience_min_score as f32;
        let mut scored: Vec<(f32, usize, Vec<String>)> = Vec::new();
        for (chunk_start, chunk) in candidates
            .chunks(NEIGHBOUR_BATCH)
            .enumerate()
            .map(|(i, c)| (i * NEIGHBOUR_BATCH, c))
        {
            for (i, v) in self.named_vectors(chunk).await?.into_iter().enumerate() {
                let mut parts: Vec<(&str, f32)> = q
                    .iter()
                    .filter_map(|(t, qw)| v.get(t).map(|w| (t.as_str(), qw * w)))
                    .collect();
                let score: f32 = parts.iter().map(|p| p.1).sum();
                if score > 0.0 && score >= min_score {
                    parts.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
                    let matched = parts.iter().take(5).map(|p| p.0.to_string()).collect();
                    scored.push((score, chunk_start + i, matched));
                }
            }
        }
        // Best first; ties in user-id order.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let total = scored.len();
        let members = scored
            .into_iter()
            .take(limit)
            .map(|(score, i, matched)| AudienceMember {
                user: candidates[i].clone(),
                score: f64::from(score.min(1.0)),
                matched,
            })
            .collect();
        Ok((members, total))
    }
}

fn normalize(v: &mut HashMap<String, f32>) {
    let n = v.values().map(|w| w * w).sum::<f32>().sqrt();
    if n > 0.0 {
        v.values_mut().for_each(|w| *w /= n);
    }
}
