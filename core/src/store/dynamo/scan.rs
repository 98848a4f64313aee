//! Paged scans for export (SPEC13): each record type is one filtered `Scan` of the table
//! whose `LastEvaluatedKey` is the cursor; clicks and impressions page through the `clicks`
//! index day by day and shard by shard. Stored audiences live here too.
//!
//! A `Scan`'s `Limit` counts the items it reads before the filter, so a call asks for what
//! the page still lacks until it is full or the table ends: a page never holds more than the
//! limit, and a cursor is always the key where DynamoDB stopped.

use super::codec::*;
use super::neighbours::list_from_item;
use super::DynamoStore;
use crate::domain::Event;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::store::{
    check_audience, decode_cursor, encode_cursor, AudienceEntry, CachedCaption, NeighbourList,
    OptOutRecord, Page, PostRecord, StoredAudience,
};
use crate::time::Timestamp;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, BTreeSet};

/// Members per audience item: keeps an item far below DynamoDB's 400 KB.
const AUDIENCE_CHUNK: usize = 1000;
/// The most items one request asks for.
const MAX_REQUEST: usize = 1000;

/// A resume key with string attributes only (every key attribute of this table is one).
type KeyMap = BTreeMap<String, String>;

fn to_keymap(k: &Item) -> Result<KeyMap> {
    k.iter()
        .map(|(n, v)| match v {
            AttributeValue::S(s) => Ok((n.clone(), s.clone())),
            _ => Err(Error::Storage {
                message: format!("DynamoDB resume key attribute {n} is not a string"),
                source: None,
            }),
        })
        .collect()
}

/// A table cursor: a resume key naming both key attributes.
fn decode_key(cursor: &str) -> Result<Item> {
    let k: KeyMap = decode_cursor(cursor)?;
    if !(k.contains_key(PK) && k.contains_key(SK)) {
        return Err(Error::invalid("not a cursor of this store's scans"));
    }
    Ok(from_keymap(&k))
}

fn from_keymap(k: &KeyMap) -> Item {
    k.iter().map(|(n, v)| (n.clone(), s(v.as_str()))).collect()
}

pub(crate) fn audience_pk(ad_id: &str) -> String {
    format!("AU#{ad_id}")
}
fn audience_sk(chunk: usize) -> String {
    format!("AU#{chunk:05}")
}
/// The marker `U#<user>` / `AM#<ad>`: the user is in the ad's stored audience, so
/// `forget_user` finds every audience naming them without a scan.
pub(crate) fn audience_member_sk(ad_id: &str) -> String {
    format!("AM#{ad_id}")
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ItemCursor {
    /// The day's sort key in the day list.
    day: String,
    shard: u32,
    key: Option<KeyMap>,
}

impl DynamoStore {
    /// One page of the items a filtered table scan selects.
    async fn scan_filtered(
        &self,
        filter: &str,
        values: &[(&str, &str)],
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Item>, Option<String>)> {
        let client = self.client().await?;
        let mut start: Option<Item> = cursor.map(decode_key).transpose()?;
        let mut out = Vec::new();
        let limit = limit.max(1);
        loop {
            let want = (limit - out.len()).min(MAX_REQUEST) as i32;
            let mut q = client
                .scan()
                .table_name(&self.inner.table)
                .filter_expression(filter)
                .limit(want)
                .consistent_read(true)
                .set_exclusive_start_key(start.clone());
            for (n, v) in values {
                q = q.expression_attribute_values(*n, s(*v));
            }
            let page = self.call("Scan", || q.clone().send()).await?;
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() || out.len() >= limit {
                let next = start.as_ref().map(to_keymap).transpose()?;
                return Ok((out, next.map(|k| encode_cursor(&k)).transpose()?));
            }
        }
    }

    pub(super) async fn scan_caption_items(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<CachedCaption>> {
        let (items, next) = self
            .scan_filtered(
                "begins_with(pk, :p) AND sk = :s",
                &[(":p", "C#"), (":s", CAPTION_SK)],
                cursor,
                limit,
            )
            .await?;
        let items = items.iter().map(caption_from_item).collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    pub(super) async fn scan_post_items(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<PostRecord>> {
        let (items, next) = self
            .scan_filtered(
                "begins_with(pk, :p) AND sk = :s",
                &[(":p", "P#"), (":s", POST_SK)],
                cursor,
                limit,
            )
            .await?;
        let items = items.iter().map(post_from_item).collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    pub(super) async fn scan_event_items(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Event>> {
        let (items, next) = self
            .scan_filtered(
                "begins_with(pk, :p) AND sk = :s",
                &[(":p", "EV#"), (":s", EVENT_SK)],
                cursor,
                limit,
            )
            .await?;
        let items = items.iter().map(event_from_item).collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    pub(super) async fn scan_opt_out_items(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<OptOutRecord>> {
        let (items, next) = self
            .scan_filtered(
                "begins_with(pk, :p) AND begins_with(sk, :s)",
                &[(":p", "U#"), (":s", "O#")],
                cursor,
                limit,
            )
            .await?;
        let items = items
            .iter()
            .map(|it| {
                let pk = get_s(it, PK)?;
                Ok(OptOutRecord {
                    user: UserId::new(pk.strip_prefix("U#").unwrap_or(pk))?,
                    category: get_s(it, SK)?["O#".len()..].to_string(),
                    at: get_ts(it, "at")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    pub(super) async fn scan_neighbour_items(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<NeighbourList>> {
        let (items, next) = self
            .scan_filtered(
                "begins_with(pk, :p) AND sk = :s",
                &[(":p", "U#"), (":s", NEIGHBOURS_SK)],
                cursor,
                limit,
            )
            .await?;
        let items = items.iter().map(list_from_item).collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    pub(super) async fn item_events_paged(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Event>> {
        if to <= from {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let client = self.client().await?;
        let last = Timestamp::from_millis(to.as_millis() - 1);
        let q = client
            .query()
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :b")
            .expression_attribute_values(":pk", s(DAYS_PK))
            .expression_attribute_values(":a", s(ts_key(Timestamp::from_millis(day_of(from)))))
            .expression_attribute_values(":b", s(ts_key(Timestamp::from_millis(day_of(last)))));
        let mut days: Vec<String> = self
            .query("Query", q, usize::MAX)
            .await?
            .iter()
            .map(|d| Ok(get_s(d, SK)?.to_string()))
            .collect::<Result<_>>()?;
        days.sort();
        let mut pos: ItemCursor = match cursor {
            Some(c) => decode_cursor(c)?,
            None => match days.first() {
                Some(d) => ItemCursor {
                    day: d.clone(),
                    shard: 0,
                    key: None,
                },
                None => {
                    return Ok(Page {
                        items: Vec::new(),
                        next: None,
                    })
                }
            },
        };
        let limit = limit.max(1);
        let mut out = Vec::new();
        loop {
            let want = (limit - out.len()).min(MAX_REQUEST) as i32;
            let q = client
                .query()
                .index_name(GSI_CLICKS)
                .key_condition_expression("g3pk = :pk AND g3sk BETWEEN :a AND :b")
                .expression_attribute_values(":pk", s(format!("X#{}#{}", pos.day, pos.shard)))
                .expression_attribute_values(":a", s(ts_key(from)))
                // Every event id sorts before U+10FFFF.
                .expression_attribute_values(":b", s(format!("{}#\u{10FFFF}", ts_key(last))))
                .limit(want)
                .set_exclusive_start_key(pos.key.as_ref().map(from_keymap));
            let page = self
                .call("Query", || q.clone().table_name(&self.inner.table).send())
                .await?;
            for it in page.items.unwrap_or_default() {
                let e = event_from_item(&it)?;
                if e.at >= from && e.at < to {
                    out.push(e);
                }
            }
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => pos.key = Some(to_keymap(&k)?),
                None => {
                    // This (day, shard) is done: on to the next shard, then the next day.
                    pos.key = None;
                    if pos.shard + 1 < SHARDS {
                        pos.shard += 1;
                    } else {
                        match days.iter().find(|d| **d > pos.day) {
                            Some(d) => {
                                pos.day = d.clone();
                                pos.shard = 0;
                            }
                            None => {
                                return Ok(Page {
                                    items: out,
                                    next: None,
                                })
                            }
                        }
                    }
                }
            }
            if out.len() >= limit {
                return Ok(Page {
                    items: out,
                    next: Some(encode_cursor(&pos)?),
                });
            }
        }
    }

    /// Every chunk item of an ad's audience, in chunk order.
    async fn audience_chunks(&self, ad_id: &str) -> Result<Vec<Item>> {
        let mut chunks = self.partition(&audience_pk(ad_id), "AU#").await?;
        chunks.sort_by(|a, b| get_s(a, SK).ok().cmp(&get_s(b, SK).ok()));
        Ok(chunks)
    }

    async fn read_audience(&self, ad_id: &str) -> Result<Option<StoredAudience>> {
        let chunks = self.audience_chunks(ad_id).await?;
        let Some(first) = chunks.first() else {
            return Ok(None);
        };
        let computed_at = get_ts(first, "ca")?;
        let mut members = Vec::new();
        for c in &chunks {
            let part: Vec<AudienceEntry> = serde_json::from_str(get_s(c, "m")?)?;
            members.extend(part);
        }
        Ok(Some(StoredAudience {
            ad_id: ad_id.to_string(),
            members,
            computed_at,
        }))
    }

    /// Writes an audience: markers of the new members first, then the chunks, then deletes
    /// of chunks and markers no longer needed (so a member is never listed without a marker,
    /// and `forget_user` always finds them).
    pub(super) async fn write_audience(
        &self,
        ad_id: &str,
        members: &[AudienceEntry],
        computed_at: Timestamp,
    ) -> Result<()> {
        check_audience(ad_id, members)?;
        let old = self.read_audience(ad_id).await?;
        let old_chunks = self.audience_chunks(ad_id).await?.len();
        let new_users: BTreeSet<&UserId> = members.iter().map(|m| &m.user).collect();
        let markers: Vec<Item> = new_users
            .iter()
            .map(|u| key(user_pk(u), audience_member_sk(ad_id)))
            .collect();
        self.put_items_batch(markers).await?;
        let chunks: Vec<&[AudienceEntry]> = members.chunks(AUDIENCE_CHUNK).collect();
        let mut items = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let mut it = key(audience_pk(ad_id), audience_sk(i));
            it.insert("m".into(), s(serde_json::to_string(c)?));
            it.insert("ca".into(), n_i64(computed_at.as_millis()));
            items.push(it);
        }
        self.put_items_batch(items).await?;
        let mut stale: Vec<Item> = (chunks.len()..old_chunks)
            .map(|i| key(audience_pk(ad_id), audience_sk(i)))
            .collect();
        if let Some(old) = old {
            for m in &old.members {
                if !new_users.contains(&m.user) {
                    stale.push(key(user_pk(&m.user), audience_member_sk(ad_id)));
                }
            }
        }
        self.delete_keys(stale).await
    }

    pub(super) async fn stored_audience(
        &self,
        ad_id: &str,
        limit: usize,
    ) -> Result<Option<StoredAudience>> {
        Ok(self.read_audience(ad_id).await?.map(|mut a| {
            a.members.truncate(limit);
            a
        }))
    }

    pub(super) async fn scan_audience_items(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<StoredAudience>> {
        let first = audience_sk(0);
        let (items, next) = self
            .scan_filtered(
                "begins_with(pk, :p) AND sk = :s",
                &[(":p", "AU#"), (":s", first.as_str())],
                cursor,
                limit,
            )
            .await?;
        let mut out = Vec::new();
        for it in &items {
            let pk = get_s(it, PK)?;
            out.extend(self.read_audience(&pk["AU#".len()..]).await?);
        }
        Ok(Page { items: out, next })
    }

    /// Removes `user` from the audiences of `ads` (the user's `AM#` markers); returns the
    /// entries removed. The markers themselves go with the user's partition.
    pub(super) async fn forget_audience_member(
        &self,
        user: &UserId,
        ads: &[String],
    ) -> Result<u64> {
        let mut removed = 0;
        for ad in ads {
            let Some(a) = self.read_audience(ad).await? else {
                continue;
            };
            let before = a.members.len();
            let kept: Vec<AudienceEntry> =
                a.members.into_iter().filter(|m| &m.user != user).collect();
            removed += (before - kept.len()) as u64;
            if kept.len() != before {
                self.write_audience(ad, &kept, a.computed_at).await?;
            }
        }
        Ok(removed)
    }
}
