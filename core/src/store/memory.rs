//! An in-process store: for tests, simulations and short-lived jobs. Nothing survives the process.

use super::{
    apply_event, check_audience, check_neighbour_lists, decode_cursor, merge_post,
    user_cache_prefix, AudienceEntry, CachedCaption, CatalogRecord, EventTxn, ForgetReport,
    InterestAdd, ItemCount, ItemKind, NeighbourList, OptOutRecord, Page, PostRecord, Recorded,
    Store, StoredAudience,
};
use crate::domain::{Event, EventKind};
use crate::error::Result;
use crate::ids::{EventId, PostId, UserId};
use crate::profile::{Decay, InterestRecord};
use crate::time::Timestamp;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Tables {
    interests: HashMap<UserId, BTreeMap<String, InterestRecord>>,
    events: HashMap<EventId, Event>,
    /// Each user's event ids, so per-user reads do not scan every event.
    events_by_user: HashMap<UserId, Vec<EventId>>,
    active: HashMap<(UserId, EventKind, PostId), EventId>,
    posts: HashMap<PostId, PostRecord>,
    captions: HashMap<String, CachedCaption>,
    items: BTreeMap<(&'static str, String), CatalogRecord>,
    cache: HashMap<String, (String, Timestamp)>,
    opt_outs: BTreeMap<(UserId, String), Timestamp>,
    /// Precomputed neighbour lists, by user.
    neighbours: HashMap<UserId, NeighbourList>,
    /// Precomputed audiences, by ad.
    audiences: BTreeMap<String, StoredAudience>,
}

impl Tables {
    fn user_events<'a>(&'a self, user: &UserId) -> impl Iterator<Item = &'a Event> + 'a {
        self.events_by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.events.get(id))
    }
}

/// Keeps everything in memory behind one lock; every operation is atomic.
///
/// ```
/// use sociallens::{Engine, MemoryStore, Post};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let engine = Engine::builder().store(MemoryStore::new()).build()?;
/// engine.record_like("u1", Post::new("p1").with_interests(["dog"])).await?;
/// assert_eq!(engine.interests("u1", 5).await?[0].term, "dog");
/// # Ok::<(), sociallens::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // Nothing in this store panics while holding the lock with half-written state, so a
        // poisoned lock still guards consistent data.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the rows of every table that mention `user` in any field, by scanning the
    /// tables themselves (the conformance suite checks `forget_user` with it).
    pub fn rows_mentioning(&self, user: &str) -> u64 {
        let t = self.lock();
        let mentions = |s: &str| s.contains(user);
        let mut n = 0u64;
        n += t
            .interests
            .iter()
            .filter(|(u, _)| mentions(u.as_str()))
            .map(|(_, m)| m.len() as u64)
            .sum::<u64>();
        n += t
            .events
            .values()
            .filter(|e| mentions(&serde_json::to_string(e).unwrap_or_default()))
            .count() as u64;
        n += t
            .active
            .keys()
            .filter(|(u, _, _)| mentions(u.as_str()))
            .count() as u64;
        n += t
            .posts
            .values()
            .filter(|p| p.author.as_ref().is_some_and(|a| mentions(a.as_str())))
            .count() as u64;
        n += t
            .opt_outs
            .keys()
            .filter(|(u, _)| mentions(u.as_str()))
            .count() as u64;
        for list in t.neighbours.values() {
            n += u64::from(mentions(list.user.as_str()));
            n += list
                .neighbours
                .iter()
                .filter(|x| mentions(x.user.as_str()))
                .count() as u64;
        }
        for a in t.audiences.values() {
            n += a
                .members
                .iter()
                .filter(|m| mentions(m.user.as_str()))
                .count() as u64;
        }
        n
    }
}

struct Txn<'a> {
    t: &'a mut Tables,
}

impl EventTxn for Txn<'_> {
    fn event(&mut self, id: &EventId) -> Result<Option<Event>> {
        Ok(self.t.events.get(id).cloned())
    }
    fn insert_event(&mut self, event: &Event) -> Result<()> {
        if self
            .t
            .events
            .insert(event.id.clone(), event.clone())
            .is_none()
        {
            self.t
                .events_by_user
                .entry(event.user.clone())
                .or_default()
                .push(event.id.clone());
        }
        Ok(())
    }
    fn active(&mut self, user: &UserId, kind: EventKind, post: &PostId) -> Result<Option<EventId>> {
        Ok(self
            .t
            .active
            .get(&(user.clone(), kind, post.clone()))
            .cloned())
    }
    fn set_active(
        &mut self,
        user: &UserId,
        kind: EventKind,
        post: &PostId,
        event: Option<&EventId>,
    ) -> Result<()> {
        let key = (user.clone(), kind, post.clone());
        match event {
            Some(id) => self.t.active.insert(key, id.clone()),
            None => self.t.active.remove(&key),
        };
        Ok(())
    }
    fn add_interest(&mut self, user: &UserId, term: &str, add: &InterestAdd) -> Result<()> {
        let rec = self
            .t
            .interests
            .entry(user.clone())
            .or_default()
            .entry(term.to_string())
            .or_insert_with(|| InterestRecord {
                term: term.to_string(),
                parts: Vec::new(),
                count: 0,
                last_seen: add.seen.unwrap_or(add.part.anchor),
            });
        rec.parts.retain(|p| p.anchor >= add.drop_before);
        rec.add_part(add.part);
        rec.count = rec.count.saturating_add(add.count_change);
        if let Some(seen) = add.seen {
            rec.last_seen = rec.last_seen.max(seen);
        }
        Ok(())
    }
    fn settle_interest(&mut self, user: &UserId, term: &str) -> Result<Option<InterestRecord>> {
        let Some(m) = self.t.interests.get_mut(user) else {
            return Ok(None);
        };
        let rec = match m.get(term) {
            Some(r) if r.count > 0 => Some(r.clone()),
            Some(_) => {
                m.remove(term);
                None
            }
            None => None,
        };
        if m.is_empty() {
            self.t.interests.remove(user);
        }
        Ok(rec)
    }
    fn set_last_seen(&mut self, user: &UserId, term: &str, at: Timestamp) -> Result<()> {
        if let Some(r) = self.t.interests.get_mut(user).and_then(|m| m.get_mut(term)) {
            r.last_seen = at;
        }
        Ok(())
    }
    fn counting_events(&mut self, user: &UserId) -> Result<Vec<Event>> {
        let t = &*self.t;
        Ok(t.user_events(user)
            .filter(|e| match e.kind {
                EventKind::Click | EventKind::Impression => true,
                EventKind::Like | EventKind::Upload => e.post.as_ref().is_some_and(|p| {
                    t.active.get(&(user.clone(), e.kind, p.clone())) == Some(&e.id)
                }),
                EventKind::Unlike => false,
            })
            .cloned()
            .collect())
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn record_event(&self, event: Event, decay: Decay) -> Result<Recorded> {
        let mut t = self.lock();
        // apply_event checks everything before its first write and writes to memory
        // cannot fail, so an error never leaves half an event behind.
        apply_event(&mut Txn { t: &mut t }, event, decay)
    }

    async fn interests(&self, user: &UserId) -> Result<Vec<InterestRecord>> {
        Ok(self
            .lock()
            .interests
            .get(user)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn event(&self, id: &EventId) -> Result<Option<Event>> {
        Ok(self.lock().events.get(id).cloned())
    }

    async fn user_events(&self, user: &UserId, limit: usize) -> Result<Vec<Event>> {
        let t = self.lock();
        let mut events: Vec<Event> = t.user_events(user).cloned().collect();
        events.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
        events.truncate(limit);
        Ok(events)
    }

    async fn put_post(&self, post: &PostRecord) -> Result<()> {
        let mut t = self.lock();
        let merged = merge_post(t.posts.get(&post.id).cloned(), post);
        t.posts.insert(post.id.clone(), merged);
        Ok(())
    }

    async fn post(&self, id: &PostId) -> Result<Option<PostRecord>> {
        Ok(self.lock().posts.get(id).cloned())
    }

    async fn cached_caption(&self, image_sha256: &str) -> Result<Option<CachedCaption>> {
        Ok(self.lock().captions.get(image_sha256).cloned())
    }

    async fn put_cached_caption(&self, entry: &CachedCaption) -> Result<()> {
        self.lock()
            .captions
            .insert(entry.image_sha256.clone(), entry.clone());
        Ok(())
    }

    async fn put_items(&self, items: &[CatalogRecord]) -> Result<()> {
        let mut t = self.lock();
        for item in items {
            t.items
                .insert((item.kind.as_str(), item.id.clone()), item.clone());
        }
        Ok(())
    }

    async fn items(&self, kind: ItemKind) -> Result<Vec<CatalogRecord>> {
        Ok(self
            .lock()
            .items
            .values()
            .filter(|i| i.kind == kind)
            .cloned()
            .collect())
    }

    async fn remove_item(&self, kind: ItemKind, id: &str) -> Result<bool> {
        Ok(self
            .lock()
            .items
            .remove(&(kind.as_str(), id.to_string()))
            .is_some())
    }

    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>> {
        let mut t = self.lock();
        match t.cache.get(key) {
            Some((v, expires)) if *expires >= now => Ok(Some(v.clone())),
            Some(_) => {
                t.cache.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn cache_put(
        &self,
        key: &str,
        value: &str,
        _now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        // Expired entries go when read (cache_get): a purge per put would make bulk puts
        // quadratic.
        self.lock()
            .cache
            .insert(key.to_string(), (value.to_string(), expires_at));
        Ok(())
    }

    async fn forget_user(&self, user: &UserId) -> Result<ForgetReport> {
        let mut t = self.lock();
        let mut report = ForgetReport {
            interests: t
                .interests
                .remove(user)
                .map(|m| m.len() as u64)
                .unwrap_or(0),
            ..ForgetReport::default()
        };
        for id in t.events_by_user.remove(user).unwrap_or_default() {
            if t.events.remove(&id).is_some() {
                report.events += 1;
            }
        }
        let before = t.active.len();
        t.active.retain(|(u, _, _), _| u != user);
        report.active_signals = (before - t.active.len()) as u64;
        let authored: Vec<PostRecord> = t
            .posts
            .values()
            .filter(|p| p.author.as_ref() == Some(user))
            .cloned()
            .collect();
        for p in &authored {
            t.posts.remove(&p.id);
        }
        report.posts = authored.len() as u64;
        let before = t.opt_outs.len();
        t.opt_outs.retain(|(u, _), _| u != user);
        report.opt_outs = (before - t.opt_outs.len()) as u64;
        let prefix = user_cache_prefix(user);
        let before = t.cache.len();
        t.cache.retain(|k, _| !k.starts_with(&prefix));
        report.cached_answers = (before - t.cache.len()) as u64;
        report.neighbours = forget_neighbours(&mut t.neighbours, user);
        t.audiences.retain(|_, a| {
            let before = a.members.len();
            a.members.retain(|m| &m.user != user);
            report.audiences += (before - a.members.len()) as u64;
            !a.members.is_empty()
        });
        for hash in authored.iter().filter_map(|p| p.image_sha256.as_ref()) {
            let shared = t
                .posts
                .values()
                .any(|p| p.image_sha256.as_ref() == Some(hash));
            if !shared && t.captions.remove(hash).is_some() {
                report.captions += 1;
            }
        }
        Ok(report)
    }

    async fn scan_interests(
        &self,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, Vec<InterestRecord>)>> {
        let t = self.lock();
        let mut users: Vec<&UserId> = t
            .interests
            .iter()
            .filter(|(u, m)| !m.is_empty() && after.is_none_or(|a| *u > a))
            .map(|(u, _)| u)
            .collect();
        users.sort();
        users.truncate(limit);
        Ok(users
            .into_iter()
            .map(|u| (u.clone(), t.interests[u].values().cloned().collect()))
            .collect())
    }

    async fn item_events(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        let t = self.lock();
        let mut out: Vec<Event> = t
            .events
            .values()
            .filter(|e| matches!(e.kind, EventKind::Click | EventKind::Impression))
            .filter(|e| e.at >= from && e.at < to)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn user_item_counts(
        &self,
        user: &UserId,
        kind: EventKind,
        since: Timestamp,
    ) -> Result<Vec<ItemCount>> {
        let t = self.lock();
        let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for e in t.user_events(user) {
            if e.kind == kind {
                if let Some(item) = &e.item {
                    let c = counts.entry(item.clone()).or_default();
                    c.1 += 1;
                    if e.at >= since {
                        c.0 += 1;
                    }
                }
            }
        }
        Ok(counts
            .into_iter()
            .map(|(item, (recent, total))| ItemCount {
                item,
                recent,
                total,
            })
            .collect())
    }

    async fn set_opt_out(
        &self,
        user: &UserId,
        category: &str,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<()> {
        let mut t = self.lock();
        let key = (user.clone(), category.to_string());
        if opted_out {
            t.opt_outs.entry(key).or_insert(at);
        } else {
            t.opt_outs.remove(&key);
        }
        Ok(())
    }

    async fn opt_outs(&self, user: &UserId) -> Result<Vec<String>> {
        let t = self.lock();
        Ok(t.opt_outs
            .range((user.clone(), String::new())..)
            .take_while(|((u, _), _)| u == user)
            .map(|((_, c), _)| c.clone())
            .collect())
    }

    async fn opted_out_users(&self, category: &str) -> Result<Vec<UserId>> {
        let t = self.lock();
        Ok(t.opt_outs
            .keys()
            .filter(|(_, c)| c == category)
            .map(|(u, _)| u.clone())
            .collect())
    }

    async fn put_neighbours(&self, lists: &[NeighbourList]) -> Result<()> {
        check_neighbour_lists(lists)?;
        let mut t = self.lock();
        for list in lists {
            if list.neighbours.is_empty() {
                t.neighbours.remove(&list.user);
            } else {
                t.neighbours.insert(list.user.clone(), list.clone());
            }
        }
        Ok(())
    }

    async fn neighbours(&self, users: &[UserId]) -> Result<Vec<NeighbourList>> {
        let t = self.lock();
        Ok(users
            .iter()
            .filter_map(|u| t.neighbours.get(u).cloned())
            .collect())
    }

    async fn users_with_term(
        &self,
        term: &str,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, InterestRecord)>> {
        // A scan of every profile: this backend is for tests and small jobs; the persistent
        // ones answer from an index on (term, user).
        let t = self.lock();
        let mut out: Vec<(UserId, InterestRecord)> = t
            .interests
            .iter()
            .filter(|(u, _)| after.is_none_or(|a| *u > a))
            .filter_map(|(u, m)| m.get(term).map(|r| (u.clone(), r.clone())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.truncate(limit);
        Ok(out)
    }

    async fn scan_captions(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<CachedCaption>> {
        let after: Option<String> = cursor.map(decode_cursor).transpose()?;
        let t = self.lock();
        let items = smallest_after(t.captions.iter(), after.as_ref(), limit);
        Page::after_last(items, limit, |c| c.image_sha256.clone())
    }

    async fn scan_posts(&self, cursor: Option<&str>, limit: usize) -> Result<Page<PostRecord>> {
        let after: Option<PostId> = cursor.map(decode_cursor).transpose()?;
        let t = self.lock();
        let items = smallest_after(t.posts.iter(), after.as_ref(), limit);
        Page::after_last(items, limit, |p| p.id.clone())
    }

    async fn scan_events(&self, cursor: Option<&str>, limit: usize) -> Result<Page<Event>> {
        let after: Option<EventId> = cursor.map(decode_cursor).transpose()?;
        let t = self.lock();
        let items = smallest_after(t.events.iter(), after.as_ref(), limit);
        Page::after_last(items, limit, |e| e.id.clone())
    }

    async fn item_events_page(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Event>> {
        let after: Option<EventId> = cursor.map(decode_cursor).transpose()?;
        let t = self.lock();
        let in_range = t.events.iter().filter(|(_, e)| {
            matches!(e.kind, EventKind::Click | EventKind::Impression) && e.at >= from && e.at < to
        });
        let items = smallest_after(in_range, after.as_ref(), limit);
        Page::after_last(items, limit, |e| e.id.clone())
    }

    async fn scan_opt_outs(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<OptOutRecord>> {
        let after: Option<(UserId, String)> = cursor.map(decode_cursor).transpose()?;
        let t = self.lock();
        let range = match &after {
            Some(k) => t
                .opt_outs
                .range::<(UserId, String), _>((
                    std::ops::Bound::Excluded(k.clone()),
                    std::ops::Bound::Unbounded,
                ))
                .take(limit)
                .collect::<Vec<_>>(),
            None => t.opt_outs.iter().take(limit).collect(),
        };
        let items = range
            .into_iter()
            .map(|((u, c), at)| OptOutRecord {
                user: u.clone(),
                category: c.clone(),
                at: *at,
            })
            .collect();
        Page::after_last(items, limit, |o| (o.user.clone(), o.category.clone()))
    }

    async fn scan_neighbours(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<NeighbourList>> {
        let after: Option<UserId> = cursor.map(decode_cursor).transpose()?;
        let t = self.lock();
        let items = smallest_after(t.neighbours.iter(), after.as_ref(), limit);
        Page::after_last(items, limit, |l| l.user.clone())
    }

    async fn put_audience(
        &self,
        ad_id: &str,
        members: &[AudienceEntry],
        computed_at: Timestamp,
    ) -> Result<()> {
        check_audience(ad_id, members)?;
        let mut t = self.lock();
        if members.is_empty() {
            t.audiences.remove(ad_id);
        } else {
            t.audiences.insert(
                ad_id.to_string(),
                StoredAudience {
                    ad_id: ad_id.to_string(),
                    members: members.to_vec(),
                    computed_at,
                },
            );
        }
        Ok(())
    }

    async fn audience(&self, ad_id: &str, limit: usize) -> Result<Option<StoredAudience>> {
        Ok(self.lock().audiences.get(ad_id).map(|a| {
            let mut a = a.clone();
            a.members.truncate(limit);
            a
        }))
    }

    async fn scan_audiences(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<StoredAudience>> {
        let after: Option<String> = cursor.map(decode_cursor).transpose()?;
        let t = self.lock();
        let items = smallest_after(t.audiences.iter(), after.as_ref(), limit);
        Page::after_last(items, limit, |a| a.ad_id.clone())
    }
}

/// The values of the `limit` smallest keys after `after`, in key order: one pass over a
/// hash map's entries (this backend is for tests and small jobs).
fn smallest_after<'a, K: Ord + 'a, V: Clone + 'a>(
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    after: Option<&K>,
    limit: usize,
) -> Vec<V> {
    let mut keyed: Vec<(&K, &V)> = entries
        .filter(|(k, _)| after.is_none_or(|a| *k > a))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(b.0));
    keyed
        .into_iter()
        .take(limit)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Removes a forgotten user's own list and every entry naming them in other lists (a list
/// left empty goes too); counts as [`ForgetReport::neighbours`] says.
fn forget_neighbours(lists: &mut HashMap<UserId, NeighbourList>, user: &UserId) -> u64 {
    let mut n = u64::from(lists.remove(user).is_some());
    lists.retain(|_, list| {
        let before = list.neighbours.len();
        list.neighbours.retain(|x| &x.user != user);
        n += (before - list.neighbours.len()) as u64;
        !list.neighbours.is_empty()
    });
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opt_outs_are_dated_by_the_callers_clock() {
        let store = MemoryStore::new();
        let at = Timestamp::from_millis(1_000_000_000_000);
        let user = UserId::new("ana").unwrap();
        store.set_opt_out(&user, "surf", true, at).await.unwrap();
        let t = store.lock();
        assert_eq!(t.opt_outs.get(&(user, "surf".to_string())), Some(&at));
    }
}
