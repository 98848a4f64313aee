//! `forget_user`: every item of the user's partition, the items elsewhere that name the
//! user (their events by id, their posts, category lists, neighbour lists), their cached
//! answers, and the captions of their images no other post uses. Index entries go with the
//! items they index.

use super::codec::*;
use super::neighbours::{read_lists, write_list};
use super::DynamoStore;
use crate::error::Result;
use crate::ids::{EventId, PostId, UserId};
use crate::store::{user_cache_prefix, ForgetReport};
use std::collections::BTreeSet;

pub(super) async fn forget_user(store: &DynamoStore, user: &UserId) -> Result<ForgetReport> {
    let mut report = ForgetReport::default();
    let mine = store.partition(&user_pk(user), "").await?;
    let mut doomed: Vec<Item> = Vec::new();
    let mut posts: Vec<PostId> = Vec::new();
    let mut own_list = false;
    let mut listed_by: Vec<UserId> = Vec::new();
    let mut audiences: Vec<String> = Vec::new();
    for it in &mine {
        let sk = get_s(it, SK)?;
        doomed.push(key(user_pk(user), sk));
        if sk.starts_with("I#") {
            if get_i64(it, "c").unwrap_or(0) > 0 {
                report.interests += 1;
            }
        } else if sk.starts_with("A#") {
            report.active_signals += 1;
        } else if sk.starts_with("E#") {
            report.events += 1;
            doomed.push(key(event_pk(&EventId::new(get_s(it, "id")?)?), EVENT_SK));
        } else if let Some(p) = sk.strip_prefix("PO#") {
            posts.push(PostId::new(p)?);
        } else if let Some(c) = sk.strip_prefix("O#") {
            report.opt_outs += 1;
            doomed.push(key(category_pk(c), user.as_str()));
        } else if sk == NEIGHBOURS_SK {
            own_list = true;
        } else if let Some(owner) = sk.strip_prefix("NB#") {
            listed_by.push(UserId::new(owner)?);
        } else if let Some(ad) = sk.strip_prefix("AM#") {
            audiences.push(ad.to_string());
        }
    }

    // The user's own neighbour list, and the markers it left in its neighbours' partitions.
    if own_list {
        for list in read_lists(store, std::slice::from_ref(user)).await? {
            report.neighbours += 1;
            for n in &list.neighbours {
                doomed.push(key(user_pk(&n.user), listed_by_sk(user)));
            }
        }
    }
    // Entries naming the user in others' lists: each list rewritten without them.
    for mut list in read_lists(store, &listed_by).await? {
        let before = list.neighbours.len();
        list.neighbours.retain(|n| &n.user != user);
        let removed = before - list.neighbours.len();
        if removed > 0 {
            report.neighbours += removed as u64;
            write_list(store, &list).await?;
        }
    }

    // Stored audiences naming the user, each rewritten without them.
    report.audiences = store.forget_audience_member(user, &audiences).await?;

    // Authored posts, and the captions of their images that no remaining post uses.
    let mut images = BTreeSet::new();
    let post_items = store
        .batch_get(posts.iter().map(|p| key(post_pk(p), POST_SK)).collect())
        .await?;
    for it in &post_items {
        let p = post_from_item(it)?;
        if p.author.as_ref() == Some(user) {
            report.posts += 1;
            doomed.push(key(post_pk(&p.id), POST_SK));
            if let Some(img) = &p.image_sha256 {
                doomed.push(key(caption_pk(img), image_use_sk(&p.id)));
                images.insert(img.clone());
            }
        }
    }
    let gone: BTreeSet<String> = posts.iter().map(image_use_sk).collect();
    for img in images {
        let users = store.partition(&caption_pk(&img), "P#").await?;
        let shared = users
            .iter()
            .any(|u| get_s(u, SK).is_ok_and(|sk| !gone.contains(sk)));
        if !shared
            && store
                .get(key(caption_pk(&img), CAPTION_SK))
                .await?
                .is_some()
        {
            report.captions += 1;
            doomed.push(key(caption_pk(&img), CAPTION_SK));
        }
    }

    // Cached answers built from the user's data share one partition.
    let prefix = user_cache_prefix(user);
    for it in store.partition(&cache_pk(&prefix), &prefix).await? {
        report.cached_answers += 1;
        doomed.push(key(get_s(&it, PK)?, get_s(&it, SK)?));
    }

    // One batch may not name a key twice.
    let mut seen = BTreeSet::new();
    doomed.retain(|k| {
        seen.insert((
            get_s(k, PK).unwrap_or_default().to_string(),
            get_s(k, SK).unwrap_or_default().to_string(),
        ))
    });
    store.delete_keys(doomed).await?;
    Ok(report)
}
