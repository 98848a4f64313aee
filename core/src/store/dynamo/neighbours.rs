//! The neighbour table and the term -> users lookup of stateless serving (SPEC12 §2).
//!
//! A list is one item (`U#<user>`, `N`); for each neighbour named in it, a marker
//! (`U#<neighbour>`, `NB#<user>`) records who lists them, so `forget_user` finds and
//! rewrites every list naming the forgotten user without a scan.

use super::codec::*;
use super::DynamoStore;
use crate::error::Result;
use crate::ids::UserId;
use crate::profile::InterestRecord;
use crate::store::{check_neighbour_lists, NeighbourList};
use std::collections::{BTreeSet, HashMap};

fn list_item(list: &NeighbourList) -> Result<Item> {
    let mut item = key(user_pk(&list.user), NEIGHBOURS_SK);
    item.insert("nl".into(), s(serde_json::to_string(&list.neighbours)?));
    item.insert("ca".into(), n_i64(list.computed_at.as_millis()));
    Ok(item)
}

pub(super) fn list_from_item(item: &Item) -> Result<NeighbourList> {
    let pk = get_s(item, PK)?;
    Ok(NeighbourList {
        user: UserId::new(pk.strip_prefix("U#").unwrap_or(pk))?,
        neighbours: serde_json::from_str(get_s(item, "nl")?)?,
        computed_at: get_ts(item, "ca")?,
    })
}

/// The stored lists of `users`, in no particular order.
pub(super) async fn read_lists(
    store: &DynamoStore,
    users: &[UserId],
) -> Result<Vec<NeighbourList>> {
    let keys: Vec<Item> = users
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|u| key(user_pk(u), NEIGHBOURS_SK))
        .collect();
    store
        .batch_get(keys)
        .await?
        .iter()
        .map(list_from_item)
        .collect()
}

/// Writes (or, when empty, deletes) one list item; markers are the caller's.
pub(super) async fn write_list(store: &DynamoStore, list: &NeighbourList) -> Result<()> {
    if list.neighbours.is_empty() {
        store
            .delete_keys(vec![key(user_pk(&list.user), NEIGHBOURS_SK)])
            .await
    } else {
        store.put(list_item(list)?).await
    }
}

impl DynamoStore {
    /// `Store::put_neighbours`: markers for new neighbours are written before the list and
    /// stale ones removed after it, so a list never names someone without a marker.
    pub(super) async fn put_neighbour_lists(&self, lists: &[NeighbourList]) -> Result<()> {
        check_neighbour_lists(lists)?;
        let mut last: HashMap<&UserId, &NeighbourList> = HashMap::new();
        for l in lists {
            last.insert(&l.user, l);
        }
        let users: Vec<UserId> = last.keys().map(|u| (*u).clone()).collect();
        let old: HashMap<UserId, NeighbourList> = read_lists(self, &users)
            .await?
            .into_iter()
            .map(|l| (l.user.clone(), l))
            .collect();
        let mut markers = Vec::new();
        let mut stale = Vec::new();
        for (owner, list) in &last {
            let new: BTreeSet<&UserId> = list.neighbours.iter().map(|n| &n.user).collect();
            for n in &new {
                let mut m = key(user_pk(n), listed_by_sk(owner));
                m.insert("ca".into(), n_i64(list.computed_at.as_millis()));
                markers.push(m);
            }
            if let Some(o) = old.get(*owner) {
                for n in &o.neighbours {
                    if !new.contains(&n.user) {
                        stale.push(key(user_pk(&n.user), listed_by_sk(owner)));
                    }
                }
            }
        }
        self.put_items_batch(markers).await?;
        let mut items = Vec::new();
        let mut cleared = Vec::new();
        for list in last.values() {
            if list.neighbours.is_empty() {
                cleared.push(key(user_pk(&list.user), NEIGHBOURS_SK));
            } else {
                items.push(list_item(list)?);
            }
        }
        self.put_items_batch(items).await?;
        cleared.extend(stale);
        self.delete_keys(cleared).await
    }

    /// `Store::neighbours`.
    pub(super) async fn neighbour_lists(&self, users: &[UserId]) -> Result<Vec<NeighbourList>> {
        let mut by_user: HashMap<UserId, NeighbourList> = read_lists(self, users)
            .await?
            .into_iter()
            .map(|l| (l.user.clone(), l))
            .collect();
        let mut out = Vec::new();
        for u in users {
            // A user asked twice is answered once, at the first place.
            if let Some(l) = by_user.remove(u) {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// `Store::users_with_term`: the 16 shards of the `terms` index read in parallel and
    /// merged.
    pub(super) async fn term_users(
        &self,
        term: &str,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<(UserId, InterestRecord)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let live = |items: &[Item]| {
            items
                .iter()
                .filter(|i| get_i64(i, "c").unwrap_or(0) > 0)
                .count()
                >= limit
        };
        let items = self
            .sharded_query(
                GSI_TERMS,
                "g1pk",
                "g1sk",
                |shard| format!("T#{term}#{shard}"),
                after.map(|u| u.as_str()),
                live,
            )
            .await?;
        let mut out = Vec::new();
        for it in &items {
            if let Some(rec) = interest_from_item(it)? {
                if rec.term == term {
                    out.push((UserId::new(get_s(it, "u")?)?, rec));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.truncate(limit);
        Ok(out)
    }
}
