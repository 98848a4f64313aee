//! Keys and item shapes of the single table (docs/dynamodb.md describes them), and the
//! conversions between items and sociallens records.

use crate::domain::{Event, EventKind, TermDelta};
use crate::error::{Error, Result};
use crate::ids::{EventId, PostId, UserId};
use crate::profile::{InterestRecord, WeightPart};
use crate::store::{CachedCaption, CatalogRecord, ItemKind, PostRecord};
use crate::time::Timestamp;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Shards of every sharded key: the term -> users index, the users listing and the
/// click/impression time index.
pub(crate) const SHARDS: u32 = 16;
/// One day, the time bucket of the click/impression index.
pub(crate) const DAY_MS: i64 = 86_400_000;

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
/// The term -> users index (`T#<term>#<shard(user)>`, user).
pub(crate) const GSI_TERMS: &str = "terms";
/// Every user with interests, sharded (`UI#<shard(user)>`, user).
pub(crate) const GSI_USERS: &str = "users";
/// Clicks and impressions by time (`X#<day>#<shard(event)>`, `<time>#<event>`).
pub(crate) const GSI_CLICKS: &str = "clicks";
/// The attribute DynamoDB's TTL deletes cached answers by (epoch seconds).
pub(crate) const TTL_ATTR: &str = "ttl";

/// A stable 64-bit FNV-1a hash: shard numbers must agree between processes and releases.
pub(crate) fn shard_of(s: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(SHARDS)) as u32
}

/// A time as 20 digits that sort as the times do (negative times included).
pub(crate) fn ts_key(t: Timestamp) -> String {
    format!("{:020}", (t.as_millis() as u64) ^ (1u64 << 63))
}

pub(crate) fn day_of(t: Timestamp) -> i64 {
    t.as_millis().div_euclid(DAY_MS)
}

pub(crate) fn user_pk(user: &UserId) -> String {
    format!("U#{user}")
}
pub(crate) fn interest_sk(term: &str) -> String {
    format!("I#{term}")
}
pub(crate) fn active_sk(kind: EventKind, post: &PostId) -> String {
    format!("A#{}#{post}", kind.as_str())
}
pub(crate) fn user_event_sk(at: Timestamp, id: &EventId) -> String {
    format!("E#{}#{id}", ts_key(at))
}
pub(crate) fn event_pk(id: &EventId) -> String {
    format!("EV#{id}")
}
pub(crate) const EVENT_SK: &str = "EV";
pub(crate) fn post_pk(id: &PostId) -> String {
    format!("P#{id}")
}
pub(crate) const POST_SK: &str = "P";
pub(crate) fn authored_sk(post: &PostId) -> String {
    format!("PO#{post}")
}
pub(crate) fn caption_pk(sha: &str) -> String {
    format!("C#{sha}")
}
pub(crate) const CAPTION_SK: &str = "C";
pub(crate) fn image_use_sk(post: &PostId) -> String {
    format!("P#{post}")
}
pub(crate) fn catalog_pk(kind: ItemKind) -> String {
    format!("CAT#{}", kind.as_str())
}
pub(crate) fn opt_out_sk(category: &str) -> String {
    format!("O#{category}")
}
pub(crate) fn category_pk(category: &str) -> String {
    format!("OC#{category}")
}
pub(crate) const NEIGHBOURS_SK: &str = "N";
pub(crate) fn listed_by_sk(owner: &UserId) -> String {
    format!("NB#{owner}")
}
pub(crate) const DAYS_PK: &str = "XD";

/// The partition of a cache key: the user prefix when the key has one (so `forget_user`
/// finds a user's answers with one query), else the key itself.
pub(crate) fn cache_pk(key: &str) -> String {
    let b = key.as_bytes();
    let is_user_prefixed = b.len() >= 35
        && key.starts_with("u:")
        && b[34] == b':'
        && b[2..34].iter().all(|c| c.is_ascii_hexdigit());
    if is_user_prefixed {
        format!("K#{}", &key[..35])
    } else {
        format!("K#{key}")
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(crate) fn n_i64(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
/// An f64 as a DynamoDB number: shortest round-trip digits, exponent form, always with a
/// decimal point in the mantissa (`1.0e0`, not `1e0`: some DynamoDB-compatible servers read
/// a number without a point as an integer).
pub(crate) fn n_f64(v: f64) -> AttributeValue {
    let t = format!("{v:e}");
    let t = match t.split_once('e') {
        Some((m, e)) if !m.contains('.') => format!("{m}.0e{e}"),
        _ => t,
    };
    AttributeValue::N(t)
}
/// Values this small cannot matter to any weight, and DynamoDB refuses magnitudes below 1e-130.
pub(crate) fn negligible(v: f64) -> bool {
    v.abs() < 1e-120
}

pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

fn corrupt(what: &str) -> Error {
    Error::Storage {
        message: format!("DynamoDB item has a missing or malformed {what}"),
        source: None,
    }
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(corrupt(name)),
    }
}
pub(crate) fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}
pub(crate) fn get_i64(item: &Item, name: &str) -> Result<i64> {
    match item.get(name) {
        // Integers come back as written; a decimal form is accepted too.
        Some(AttributeValue::N(v)) => v
            .parse::<i64>()
            .ok()
            .or_else(|| v.parse::<f64>().ok().map(|f| f as i64))
            .ok_or_else(|| corrupt(name)),
        _ => Err(corrupt(name)),
    }
}
pub(crate) fn get_ts(item: &Item, name: &str) -> Result<Timestamp> {
    Ok(Timestamp::from_millis(get_i64(item, name)?))
}

/// The attribute holding the part anchored at `anchor`.
pub(crate) fn part_attr(anchor: Timestamp) -> String {
    format!("p{}", anchor.as_millis())
}

/// An interest item (`U#<user>`, `I#<term>`) as a record; `None` for a row whose count fell
/// to zero (an unlike's leftover, removed after it; never shown).
pub(crate) fn interest_from_item(item: &Item) -> Result<Option<InterestRecord>> {
    let count = get_i64(item, "c")?;
    if count <= 0 {
        return Ok(None);
    }
    let mut parts = Vec::new();
    for (name, v) in item {
        let Some(anchor) = name.strip_prefix('p').and_then(|a| a.parse::<i64>().ok()) else {
            continue;
        };
        let AttributeValue::N(num) = v else {
            return Err(corrupt(name));
        };
        let value: f64 = num.parse().map_err(|_| corrupt(name))?;
        parts.push(WeightPart {
            anchor: Timestamp::from_millis(anchor),
            value,
        });
    }
    parts.sort_by_key(|p| p.anchor);
    Ok(Some(InterestRecord {
        term: get_s(item, "term")?.to_string(),
        parts,
        count,
        last_seen: get_ts(item, "ls")?,
    }))
}

/// The attributes of an event, on both of its items.
pub(crate) fn event_attrs(e: &Event) -> Result<Item> {
    let mut m = HashMap::from([
        ("id".to_string(), s(e.id.as_str())),
        ("u".to_string(), s(e.user.as_str())),
        ("k".to_string(), s(e.kind.as_str())),
        ("at".to_string(), n_i64(e.at.as_millis())),
        ("d".to_string(), s(serde_json::to_string(&e.deltas)?)),
    ]);
    if let Some(p) = &e.post {
        m.insert("po".into(), s(p.as_str()));
    }
    if let Some(i) = &e.item {
        m.insert("it".into(), s(i.as_str()));
    }
    Ok(m)
}

pub(crate) fn event_from_item(item: &Item) -> Result<Event> {
    let kind = EventKind::parse(get_s(item, "k")?).ok_or_else(|| corrupt("event kind"))?;
    let deltas: Vec<TermDelta> = serde_json::from_str(get_s(item, "d")?)?;
    Ok(Event {
        id: EventId::new(get_s(item, "id")?)?,
        user: UserId::new(get_s(item, "u")?)?,
        kind,
        post: opt_s(item, "po").map(PostId::new).transpose()?,
        item: opt_s(item, "it"),
        at: get_ts(item, "at")?,
        deltas,
    })
}

pub(crate) fn post_from_item(item: &Item) -> Result<PostRecord> {
    let pk = get_s(item, PK)?;
    let id = pk.strip_prefix("P#").ok_or_else(|| corrupt("post key"))?;
    Ok(PostRecord {
        id: PostId::new(id)?,
        author: opt_s(item, "au").map(UserId::new).transpose()?,
        caption: opt_s(item, "cap"),
        image_sha256: opt_s(item, "img"),
        interests: opt_s(item, "ints")
            .map(|j| serde_json::from_str(&j))
            .transpose()?,
        created_at: get_ts(item, "ca")?,
    })
}

pub(crate) fn caption_item(c: &CachedCaption) -> Item {
    let mut m = key(caption_pk(&c.image_sha256), CAPTION_SK);
    m.insert("cap".into(), s(c.caption.as_str()));
    m.insert("model".into(), s(c.model.as_str()));
    m.insert("ca".into(), n_i64(c.created_at.as_millis()));
    m
}

pub(crate) fn caption_from_item(item: &Item) -> Result<CachedCaption> {
    let pk = get_s(item, PK)?;
    Ok(CachedCaption {
        image_sha256: pk.strip_prefix("C#").unwrap_or(pk).to_string(),
        caption: get_s(item, "cap")?.to_string(),
        model: get_s(item, "model")?.to_string(),
        created_at: get_ts(item, "ca")?,
    })
}

pub(crate) fn catalog_item(r: &CatalogRecord) -> Result<Item> {
    let mut m = key(catalog_pk(r.kind), r.id.as_str());
    if let Some(c) = &r.category {
        m.insert("cat".into(), s(c.as_str()));
    }
    m.insert("body".into(), s(serde_json::to_string(&r.body)?));
    m.insert("ua".into(), n_i64(r.updated_at.as_millis()));
    Ok(m)
}

pub(crate) fn catalog_from_item(kind: ItemKind, item: &Item) -> Result<CatalogRecord> {
    Ok(CatalogRecord {
        kind,
        id: get_s(item, SK)?.to_string(),
        category: opt_s(item, "cat"),
        body: serde_json::from_str(get_s(item, "body")?)?,
        updated_at: get_ts(item, "ua")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_as_times() {
        let ts = [i64::MIN, -5, -1, 0, 1, 1_767_225_600_000, i64::MAX];
        let keys: Vec<String> = ts
            .iter()
            .map(|&t| ts_key(Timestamp::from_millis(t)))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(keys.iter().all(|k| k.len() == 20));
    }

    #[test]
    fn user_cache_keys_share_a_partition() {
        let user = UserId::new("ana").unwrap();
        let prefix = crate::store::user_cache_prefix(&user);
        let a = cache_pk(&format!("{prefix}llm:a"));
        assert_eq!(a, cache_pk(&format!("{prefix}other")));
        assert_eq!(a, format!("K#{prefix}"));
        assert_eq!(cache_pk("plain"), "K#plain");
        assert_eq!(cache_pk("u:short:x"), "K#u:short:x");
    }

    #[test]
    fn numbers_round_trip_and_shards_are_stable() {
        for v in [1.0, 0.1, 1e-100, 12_345.678_9, f64::MAX / 3.0, -2.0, 1e19] {
            let AttributeValue::N(t) = n_f64(v) else {
                panic!()
            };
            assert!(t.contains('.'), "{t}");
            assert_eq!(t.parse::<f64>().unwrap(), v);
        }
        assert_eq!(shard_of("crowd"), shard_of("crowd"));
        assert!((0..200).map(|i| shard_of(&format!("u{i}"))).max().unwrap() < SHARDS);
    }
}
